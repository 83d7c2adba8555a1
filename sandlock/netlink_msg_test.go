package sandlock

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// nlReq builds a request message for the tests.
func nlReq(typ, flags uint16, seq uint32, body []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(nlmsgHdrLen+len(body)))
	b = binary.LittleEndian.AppendUint16(b, typ)
	b = binary.LittleEndian.AppendUint16(b, flags)
	b = binary.LittleEndian.AppendUint32(b, seq)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = append(b, body...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// nlMsg is one reply message, summarised.
type nlMsg struct {
	typ, flags uint16
	seq, pid   uint32
	errno      int32 // NLMSG_ERROR only
}

// nlParse splits a reply datagram, checking that every message is well
// formed (length, padding) as NLMSG_OK/NLMSG_NEXT and RTA_OK demand.
func nlParse(t *testing.T, d []byte) []nlMsg {
	t.Helper()
	var out []nlMsg
	for len(d) > 0 {
		if len(d) < nlmsgHdrLen {
			t.Fatalf("trailing %d bytes", len(d))
		}
		n := binary.LittleEndian.Uint32(d)
		if n < nlmsgHdrLen || int(n) > len(d) {
			t.Fatalf("bad length %d of %d", n, len(d))
		}
		m := nlMsg{typ: binary.LittleEndian.Uint16(d[4:]), flags: binary.LittleEndian.Uint16(d[6:]),
			seq: binary.LittleEndian.Uint32(d[8:]), pid: binary.LittleEndian.Uint32(d[12:])}
		body := d[nlmsgHdrLen:n]
		switch m.typ {
		case nlmsgError:
			m.errno = -int32(binary.LittleEndian.Uint32(body))
		case rtmNewLink, rtmNewAddr:
			fixed := 16
			if m.typ == rtmNewAddr {
				fixed = 8
			}
			attrs := body[fixed:]
			for len(attrs) > 0 {
				l := int(binary.LittleEndian.Uint16(attrs))
				if l < 4 || l > len(attrs) {
					t.Fatalf("bad attribute length %d of %d", l, len(attrs))
				}
				attrs = attrs[min((l+3)&^3, len(attrs)):]
			}
		}
		out = append(out, m)
		next := int(n+3) &^ 3
		if next > len(d) {
			t.Fatalf("message of %d bytes not padded in %d", n, len(d))
		}
		d = d[next:]
	}
	return out
}

func TestNlReplies(t *testing.T) {
	const port = 4242
	linkBody := make([]byte, 16)
	byIndex := func(i uint32) []byte {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint32(b[4:], i)
		return b
	}
	byName := func(name string) []byte {
		b := make([]byte, 16)
		b = binary.LittleEndian.AppendUint16(b, uint16(4+len(name)+1))
		b = binary.LittleEndian.AppendUint16(b, iflaIfname)
		return append(append(b, name...), 0)
	}
	dump := uint16(nlmFRequest | nlmFDump)
	for _, tc := range []struct {
		name string
		req  []byte
		want [][]nlMsg // per datagram
	}{
		{"link dump", nlReq(rtmGetLink, dump, 7, []byte{0}), [][]nlMsg{{
			{typ: rtmNewLink, flags: nlmFMulti, seq: 7, pid: port},
			{typ: nlmsgDone, flags: nlmFMulti, seq: 7, pid: port}}}},
		{"link dump without body", nlReq(rtmGetLink, dump, 7, nil), [][]nlMsg{{
			{typ: rtmNewLink, flags: nlmFMulti, seq: 7, pid: port},
			{typ: nlmsgDone, flags: nlmFMulti, seq: 7, pid: port}}}},
		{"addr dump any", nlReq(rtmGetAddr, dump, 8, []byte{afUNSPEC}), [][]nlMsg{{
			{typ: rtmNewAddr, flags: nlmFMulti, seq: 8, pid: port},
			{typ: rtmNewAddr, flags: nlmFMulti, seq: 8, pid: port},
			{typ: nlmsgDone, flags: nlmFMulti, seq: 8, pid: port}}}},
		{"addr dump v4", nlReq(rtmGetAddr, dump, 9, []byte{afINET, 0, 0, 0}), [][]nlMsg{{
			{typ: rtmNewAddr, flags: nlmFMulti, seq: 9, pid: port},
			{typ: nlmsgDone, flags: nlmFMulti, seq: 9, pid: port}}}},
		{"addr dump v6", nlReq(rtmGetAddr, dump, 9, []byte{afINET6}), [][]nlMsg{{
			{typ: rtmNewAddr, flags: nlmFMulti, seq: 9, pid: port},
			{typ: nlmsgDone, flags: nlmFMulti, seq: 9, pid: port}}}},
		{"addr dump other family", nlReq(rtmGetAddr, dump, 9, []byte{afNETLINK}), [][]nlMsg{{
			{typ: nlmsgDone, flags: nlmFMulti, seq: 9, pid: port}}}},
		{"route dump: empty", nlReq(26, dump, 3, make([]byte, 12)), [][]nlMsg{{
			{typ: nlmsgDone, flags: nlmFMulti, seq: 3, pid: port}}}},
		{"neigh dump: empty", nlReq(30, dump, 3, make([]byte, 12)), [][]nlMsg{{
			{typ: nlmsgDone, flags: nlmFMulti, seq: 3, pid: port}}}},
		{"get lo by index", nlReq(rtmGetLink, nlmFRequest, 4, byIndex(1)), [][]nlMsg{{
			{typ: rtmNewLink, seq: 4, pid: port}}}},
		{"get lo by name", nlReq(rtmGetLink, nlmFRequest, 4, byName("lo")), [][]nlMsg{{
			{typ: rtmNewLink, seq: 4, pid: port}}}},
		{"get lo by name, acked", nlReq(rtmGetLink, nlmFRequest|nlmFAck, 4, byName("lo")), [][]nlMsg{{
			{typ: rtmNewLink, seq: 4, pid: port},
			{typ: nlmsgError, seq: 4, pid: port, errno: 0}}}},
		{"get eth0 by name", nlReq(rtmGetLink, nlmFRequest, 5, byName("eth0")), [][]nlMsg{{
			{typ: nlmsgError, seq: 5, pid: port, errno: errnoENODEV}}}},
		{"get index 2", nlReq(rtmGetLink, nlmFRequest, 5, byIndex(2)), [][]nlMsg{{
			{typ: nlmsgError, seq: 5, pid: port, errno: errnoENODEV}}}},
		{"get without name or index", nlReq(rtmGetLink, nlmFRequest, 5, linkBody), [][]nlMsg{{
			{typ: nlmsgError, seq: 5, pid: port, errno: errnoENODEV}}}},
		{"get short body", nlReq(rtmGetLink, nlmFRequest, 5, []byte{0}), [][]nlMsg{{
			{typ: nlmsgError, seq: 5, pid: port, errno: errnoENODEV}}}},
		{"get route: unsupported", nlReq(26, nlmFRequest, 6, make([]byte, 12)), [][]nlMsg{{
			{typ: nlmsgError, seq: 6, pid: port, errno: errnoEOPNOTSUPP}}}},
		{"new link: EPERM", nlReq(rtmNewLink, nlmFRequest|nlmFAck, 6, linkBody), [][]nlMsg{{
			{typ: nlmsgError, seq: 6, pid: port, errno: errnoEPERM}}}},
		{"del addr: EPERM", nlReq(21, nlmFRequest, 6, make([]byte, 8)), [][]nlMsg{{
			{typ: nlmsgError, seq: 6, pid: port, errno: errnoEPERM}}}},
		{"set link: EPERM", nlReq(19, nlmFRequest, 6, linkBody), [][]nlMsg{{
			{typ: nlmsgError, seq: 6, pid: port, errno: errnoEPERM}}}},
		{"new route dump flags: still EPERM", nlReq(24, dump, 6, make([]byte, 12)), [][]nlMsg{{
			{typ: nlmsgError, seq: 6, pid: port, errno: errnoEPERM}}}},
		{"not a request: ignored", nlReq(rtmGetLink, nlmFDump, 1, nil), nil},
		{"not a request, ack asked", nlReq(rtmGetLink, nlmFDump|nlmFAck, 1, nil), [][]nlMsg{{
			{typ: nlmsgError, seq: 1, pid: port}}}},
		{"control message: ignored", nlReq(nlmsgDone, nlmFRequest, 1, nil), nil},
		{"noop with ack", nlReq(1, nlmFRequest|nlmFAck, 1, nil), [][]nlMsg{{
			{typ: nlmsgError, seq: 1, pid: port}}}},
		{"two requests in one datagram", append(nlReq(rtmGetAddr, dump, 1, []byte{afINET}), nlReq(rtmGetLink, nlmFRequest, 2, byIndex(1))...), [][]nlMsg{
			{{typ: rtmNewAddr, flags: nlmFMulti, seq: 1, pid: port}, {typ: nlmsgDone, flags: nlmFMulti, seq: 1, pid: port}},
			{{typ: rtmNewLink, seq: 2, pid: port}}}},
		{"empty", nil, nil},
		{"short header", []byte{20, 0, 0, 0, 18, 0}, nil},
		{"length below header", []byte{8, 0, 0, 0, 18, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0}, nil},
		{"length beyond datagram", append(nlReq(rtmGetLink, dump, 1, nil)[:4:4], make([]byte, 12)...), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := nlReplies(tc.req, port)
			if len(got) != len(tc.want) {
				t.Fatalf("%d datagrams, want %d", len(got), len(tc.want))
			}
			for i, d := range got {
				msgs := nlParse(t, d)
				if len(msgs) != len(tc.want[i]) {
					t.Fatalf("datagram %d: %+v, want %+v", i, msgs, tc.want[i])
				}
				for j := range msgs {
					if msgs[j] != tc.want[i][j] {
						t.Errorf("datagram %d message %d: %+v, want %+v", i, j, msgs[j], tc.want[i][j])
					}
				}
			}
		})
	}
}

// TestNlRepliesErrorCarriesRequest: a failed request comes back inside its
// NLMSG_ERROR (the kernel's default without NETLINK_CAP_ACK); an
// acknowledgement carries the header only.
func TestNlRepliesErrorCarriesRequest(t *testing.T) {
	req := nlReq(rtmNewLink, nlmFRequest|nlmFAck, 3, make([]byte, 16))
	got := nlReplies(req, 1)
	if len(got) != 1 || !bytes.Equal(got[0][nlmsgHdrLen+4:], req) {
		t.Errorf("error reply %x does not carry request %x", got, req)
	}
	ack := nlReplies(nlReq(1, nlmFRequest|nlmFAck, 3, make([]byte, 16)), 1)
	if len(ack) != 1 || len(ack[0]) != nlmsgHdrLen+4+nlmsgHdrLen {
		t.Errorf("ack %x", ack)
	}
}

// FuzzNlReplies: whatever a program sends, the replies are well-formed
// netlink (every length consistent, attributes in bounds), carry the
// port id, and stay small.
func FuzzNlReplies(f *testing.F) {
	f.Add(nlReq(rtmGetLink, nlmFRequest|nlmFDump, 1, []byte{0}))
	f.Add(nlReq(rtmGetAddr, nlmFRequest|nlmFDump, 2, []byte{afINET6}))
	f.Add(append(nlReq(rtmGetLink, nlmFRequest, 2, make([]byte, 16)), nlReq(rtmNewAddr, nlmFRequest|nlmFAck, 3, nil)...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, req []byte) {
		for _, d := range nlReplies(req, 77) {
			if len(d) > 4096 {
				t.Fatalf("reply of %d bytes does not fit a page", len(d))
			}
			for _, m := range nlParse(t, d) {
				if m.pid != 77 {
					t.Fatalf("pid %d", m.pid)
				}
			}
		}
	})
}
