package sandlock

import (
	"encoding/binary"
	"net/netip"
)

// The rtnetlink protocol spoken by the virtual NETLINK_ROUTE socket
// (netvirt_linux.go): requests in, replies out, as byte slices in the
// kernel's layout (include/uapi/linux/netlink.h, rtnetlink.h, if_link.h,
// if_addr.h; little-endian on every architecture sandlock supports). The
// view is a host with one interface, lo (index 1, loopback, up, MTU 65536)
// carrying 127.0.0.1/8 and ::1/128, and nothing else: no routes, no
// neighbours, no rules. Nothing here touches the kernel.

// Netlink and rtnetlink constants (uapi; spelled out so that this file
// builds on any GOOS).
const (
	nlmsgHdrLen = 16 // sizeof(struct nlmsghdr)

	nlmsgError = 2 // NLMSG_ERROR
	nlmsgDone  = 3 // NLMSG_DONE
	nlmsgMin   = 16

	nlmFRequest = 0x1   // NLM_F_REQUEST
	nlmFMulti   = 0x2   // NLM_F_MULTI
	nlmFAck     = 0x4   // NLM_F_ACK
	nlmFDump    = 0x300 // NLM_F_ROOT | NLM_F_MATCH

	rtmNewLink = 16 // RTM_NEWLINK
	rtmGetLink = 18 // RTM_GETLINK
	rtmNewAddr = 20 // RTM_NEWADDR
	rtmGetAddr = 22 // RTM_GETADDR

	iflaAddress    = 1  // IFLA_ADDRESS
	iflaBroadcast  = 2  // IFLA_BROADCAST
	iflaIfname     = 3  // IFLA_IFNAME
	iflaMTU        = 4  // IFLA_MTU
	iflaQdisc      = 6  // IFLA_QDISC
	iflaStats      = 7  // IFLA_STATS
	iflaTxqlen     = 13 // IFLA_TXQLEN
	iflaOperstate  = 16 // IFLA_OPERSTATE
	iflaLinkmode   = 17 // IFLA_LINKMODE
	iflaStats64    = 23 // IFLA_STATS64
	iflaGroup      = 27 // IFLA_GROUP
	iflaPromisc    = 30 // IFLA_PROMISCUITY
	iflaNumTxQ     = 31 // IFLA_NUM_TX_QUEUES
	iflaNumRxQ     = 32 // IFLA_NUM_RX_QUEUES
	iflaCarrier    = 33 // IFLA_CARRIER
	ifaAddress     = 1  // IFA_ADDRESS
	ifaLocal       = 2  // IFA_LOCAL
	ifaLabel       = 3  // IFA_LABEL
	ifaCacheinfo   = 6  // IFA_CACHEINFO
	ifaFlags       = 8  // IFA_FLAGS
	ifaFPermanent  = 0x80
	rtScopeHost    = 254                        // RT_SCOPE_HOST
	arphrdLoopback = 772                        // ARPHRD_LOOPBACK
	loFlags        = 0x1 | 0x8 | 0x40 | 0x10000 // IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_LOWER_UP
	loIndex        = 1
	loMTU          = 65536

	errnoENODEV = 19     // ENODEV
	errnoEINVAL = 22     // EINVAL
	afUNSPEC    = 0      // AF_UNSPEC
	statsLen    = 24 * 4 // struct rtnl_link_stats
	stats64Len  = 25 * 8 // struct rtnl_link_stats64 (Linux 6.x)
)

// nlBuilder appends netlink messages to one datagram.
type nlBuilder struct {
	b     []byte
	start int // offset of the open message's header
}

var nle = binary.LittleEndian

// begin opens a message.
func (w *nlBuilder) begin(typ, flags uint16, seq, pid uint32) {
	w.start = len(w.b)
	w.b = nle.AppendUint32(w.b, 0) // length, set by end
	w.b = nle.AppendUint16(w.b, typ)
	w.b = nle.AppendUint16(w.b, flags)
	w.b = nle.AppendUint32(w.b, seq)
	w.b = nle.AppendUint32(w.b, pid)
}

// end closes the open message: it sets its length and pads it to 4 bytes.
func (w *nlBuilder) end() {
	nle.PutUint32(w.b[w.start:], uint32(len(w.b)-w.start))
	w.pad()
}

func (w *nlBuilder) pad() {
	for len(w.b)%4 != 0 {
		w.b = append(w.b, 0)
	}
}

// attr appends one attribute (struct rtattr) holding data.
func (w *nlBuilder) attr(typ uint16, data []byte) {
	w.b = nle.AppendUint16(w.b, uint16(4+len(data)))
	w.b = nle.AppendUint16(w.b, typ)
	w.b = append(w.b, data...)
	w.pad()
}

func (w *nlBuilder) attrU32(typ uint16, v uint32) { w.attr(typ, nle.AppendUint32(nil, v)) }
func (w *nlBuilder) attrU8(typ uint16, v uint8)   { w.attr(typ, []byte{v}) }

// nlHeader is a parsed struct nlmsghdr.
type nlHeader struct {
	len        uint32
	typ, flags uint16
	seq, pid   uint32
}

// nlReplies answers one datagram the program sent on its virtual
// NETLINK_ROUTE socket, whose port id (getsockname's nl_pid) is portID.
// Each request gets its reply datagrams in order: a dump its messages and
// NLMSG_DONE in one datagram, a failed request an NLMSG_ERROR carrying
// the request, a request with NLM_F_ACK its acknowledgement. Like the
// kernel, it ignores control messages and messages without NLM_F_REQUEST
// (acknowledging them when asked), refuses changes with EPERM (the sandbox
// has no CAP_NET_ADMIN), answers other dumps with nothing but NLMSG_DONE
// and other queries with EOPNOTSUPP. A truncated or malformed message ends
// the datagram, as it does in the kernel (netlink_rcv_skb).
func nlReplies(req []byte, portID uint32) [][]byte {
	var out [][]byte
	for len(req) >= nlmsgHdrLen {
		h := nlHeader{
			len: nle.Uint32(req), typ: nle.Uint16(req[4:]), flags: nle.Uint16(req[6:]),
			seq: nle.Uint32(req[8:]), pid: nle.Uint32(req[12:]),
		}
		if h.len < nlmsgHdrLen || int64(h.len) > int64(len(req)) {
			break
		}
		msg := req[:h.len]
		if reply := nlAnswer(h, msg, portID); reply != nil {
			out = append(out, reply)
		}
		next := (int(h.len) + 3) &^ 3
		if next >= len(req) {
			break
		}
		req = req[next:]
	}
	return out
}

// nlAnswer answers one request message msg with header h, or returns nil.
func nlAnswer(h nlHeader, msg []byte, portID uint32) []byte {
	var w nlBuilder
	if h.flags&nlmFRequest == 0 || h.typ < nlmsgMin {
		if h.flags&nlmFAck != 0 {
			nlError(&w, h, msg, 0, portID)
			return w.b
		}
		return nil
	}
	body := msg[nlmsgHdrLen:]
	dump := h.flags&nlmFDump == nlmFDump
	switch {
	case (h.typ-nlmsgMin)%4 != 2: // RTM_NEW*, RTM_DEL*, RTM_SET*: changes
		nlError(&w, h, msg, errnoEPERM, portID)
		return w.b
	case h.typ == rtmGetLink && dump:
		appendLo(&w, nlmFMulti, h.seq, portID)
	case h.typ == rtmGetLink:
		if !nlAsksForLo(body) {
			nlError(&w, h, msg, errnoENODEV, portID)
			return w.b
		}
		appendLo(&w, 0, h.seq, portID)
	case h.typ == rtmGetAddr && dump:
		family := byte(afUNSPEC)
		if len(body) > 0 {
			family = body[0]
		}
		if family == afUNSPEC || family == afINET {
			appendLoAddr(&w, netip.AddrFrom4([4]byte{127, 0, 0, 1}), 8, h.seq, portID)
		}
		if family == afUNSPEC || family == afINET6 {
			appendLoAddr(&w, netip.IPv6Loopback(), 128, h.seq, portID)
		}
	case dump: // any other table: empty
	default:
		nlError(&w, h, msg, errnoEOPNOTSUPP, portID)
		return w.b
	}
	if dump {
		w.begin(nlmsgDone, nlmFMulti, h.seq, portID)
		w.b = nle.AppendUint32(w.b, 0)
		w.end()
	} else if h.flags&nlmFAck != 0 {
		nlError(&w, h, msg, 0, portID)
	}
	return w.b
}

// nlAsksForLo reports whether an RTM_GETLINK query (struct ifinfomsg, then
// attributes) names lo: by index 1, or by index 0 and IFLA_IFNAME "lo".
func nlAsksForLo(body []byte) bool {
	if len(body) < 16 {
		return false
	}
	switch int32(nle.Uint32(body[4:])) {
	case loIndex:
		return true
	case 0:
	default:
		return false
	}
	attrs := body[16:]
	for len(attrs) >= 4 {
		n, typ := int(nle.Uint16(attrs)), nle.Uint16(attrs[2:])
		if n < 4 || n > len(attrs) {
			return false
		}
		if typ == iflaIfname {
			name := attrs[4:n]
			for len(name) > 0 && name[len(name)-1] == 0 {
				name = name[:len(name)-1]
			}
			return string(name) == "lo"
		}
		attrs = attrs[min((n+3)&^3, len(attrs)):]
	}
	return false
}

// nlError appends an NLMSG_ERROR for request msg: errno 0 is an
// acknowledgement (header only), others carry the whole request, as the
// kernel does without NETLINK_CAP_ACK.
func nlError(w *nlBuilder, h nlHeader, msg []byte, errno int32, portID uint32) {
	w.begin(nlmsgError, 0, h.seq, portID)
	w.b = nle.AppendUint32(w.b, uint32(-errno))
	if errno == 0 {
		msg = msg[:nlmsgHdrLen]
	}
	w.b = append(w.b, msg...)
	w.end()
}

// appendLo appends the RTM_NEWLINK message describing lo. Its counters
// are zero: the host's loopback traffic is not the sandbox's business.
func appendLo(w *nlBuilder, flags uint16, seq, portID uint32) {
	w.begin(rtmNewLink, flags, seq, portID)
	// struct ifinfomsg
	w.b = append(w.b, afUNSPEC, 0)
	w.b = nle.AppendUint16(w.b, arphrdLoopback)
	w.b = nle.AppendUint32(w.b, loIndex)
	w.b = nle.AppendUint32(w.b, loFlags)
	w.b = nle.AppendUint32(w.b, 0)
	w.attr(iflaIfname, []byte("lo\x00"))
	w.attrU32(iflaTxqlen, 1000)
	w.attrU8(iflaOperstate, 0) // IF_OPER_UNKNOWN, as lo reports
	w.attrU8(iflaLinkmode, 0)
	w.attrU32(iflaMTU, loMTU)
	w.attrU32(iflaGroup, 0)
	w.attrU32(iflaPromisc, 0)
	w.attrU32(iflaNumTxQ, 1)
	w.attrU32(iflaNumRxQ, 1)
	w.attrU8(iflaCarrier, 1)
	w.attr(iflaQdisc, []byte("noqueue\x00"))
	w.attr(iflaAddress, make([]byte, 6))
	w.attr(iflaBroadcast, make([]byte, 6))
	w.attr(iflaStats, make([]byte, statsLen))
	w.attr(iflaStats64, make([]byte, stats64Len))
	w.end()
}

// appendLoAddr appends the RTM_NEWADDR message for addr/prefix on lo.
func appendLoAddr(w *nlBuilder, addr netip.Addr, prefix uint8, seq, portID uint32) {
	w.begin(rtmNewAddr, nlmFMulti, seq, portID)
	family := byte(afINET6)
	if addr.Is4() {
		family = afINET
	}
	// struct ifaddrmsg
	w.b = append(w.b, family, prefix, ifaFPermanent, rtScopeHost)
	w.b = nle.AppendUint32(w.b, loIndex)
	raw := addr.AsSlice()
	w.attr(ifaAddress, raw)
	if addr.Is4() {
		w.attr(ifaLocal, raw)
		w.attr(ifaLabel, []byte("lo\x00"))
	}
	w.attrU32(ifaFlags, ifaFPermanent)
	ci := nle.AppendUint32(nil, 0xffffffff) // ifa_prefered: forever
	ci = nle.AppendUint32(ci, 0xffffffff)   // ifa_valid: forever
	ci = nle.AppendUint32(ci, 0)            // cstamp
	ci = nle.AppendUint32(ci, 0)            // tstamp
	w.attr(ifaCacheinfo, ci)
	w.end()
}
