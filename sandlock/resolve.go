package sandlock

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
)

// A small stub resolver for pinning the network policy's host names at
// Create: /etc/hosts first, then DNS A and AAAA queries over UDP to the
// name servers of /etc/resolv.conf. It exists because the standard
// library's resolver lives in package net, which links cgo into every
// program that imports it when cgo is on, and sandlock must stay pure Go.
// Not covered: nsswitch.conf sources other than files and dns, DNS over
// TCP (a truncated answer uses what it holds), EDNS, DNSSEC.

var (
	errNoHost     = errors.New("no such host")
	errDNSMessage = errors.New("malformed DNS answer")
)

// hostsLookup returns the addresses of name in an /etc/hosts file.
func hostsLookup(hosts, name string) []netip.Addr {
	name = strings.TrimSuffix(name, ".")
	var out []netip.Addr
	for _, line := range strings.Split(hosts, "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, h := range f[1:] {
			if strings.EqualFold(strings.TrimSuffix(h, "."), name) {
				out = append(out, a.WithZone(""))
				break
			}
		}
	}
	return out
}

// resolvConf is what the stub resolver reads from /etc/resolv.conf.
type resolvConf struct {
	servers []netip.Addr
	search  []string
	ndots   int
}

func parseResolvConf(s string) resolvConf {
	c := resolvConf{ndots: 1}
	for _, line := range strings.Split(s, "\n") {
		line, _, _ = strings.Cut(line, "#")
		line, _, _ = strings.Cut(line, ";")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if a, err := netip.ParseAddr(f[1]); err == nil && len(c.servers) < 3 {
				c.servers = append(c.servers, a.WithZone(""))
			}
		case "search", "domain":
			c.search = nil
			for _, d := range f[1:] {
				c.search = append(c.search, strings.TrimSuffix(d, "."))
			}
		case "options":
			for _, o := range f[1:] {
				if v, ok := strings.CutPrefix(o, "ndots:"); ok && len(v) == 1 && v[0] >= '0' && v[0] <= '9' {
					c.ndots = int(v[0] - '0')
				}
			}
		}
	}
	if len(c.servers) == 0 {
		c.servers = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}
	}
	return c
}

// candidates are the names to query for name, in order (the search list
// first for names with fewer dots than ndots).
func (c resolvConf) candidates(name string) []string {
	if strings.HasSuffix(name, ".") {
		return []string{strings.TrimSuffix(name, ".")}
	}
	var withSearch []string
	for _, d := range c.search {
		if d != "" {
			withSearch = append(withSearch, name+"."+d)
		}
	}
	if strings.Count(name, ".") >= c.ndots {
		return append([]string{name}, withSearch...)
	}
	return append(withSearch, name)
}

// DNS record types and class.
const (
	dnsTypeA    = 1
	dnsTypeAAAA = 28
	dnsClassIN  = 1
)

// dnsQuery builds a recursive query for name, type qtype, with id.
func dnsQuery(id uint16, name string, qtype uint16) ([]byte, error) {
	b := make([]byte, 12, 512)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], 0x0100) // RD
	binary.BigEndian.PutUint16(b[4:], 1)      // QDCOUNT
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return nil, errNoHost
		}
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, dnsClassIN)
	if len(b) > 512 {
		return nil, errNoHost
	}
	return b, nil
}

// skipName returns the offset after the (possibly compressed) name at off.
func skipName(m []byte, off int) (int, error) {
	for range 128 {
		if off >= len(m) {
			return 0, errDNSMessage
		}
		l := int(m[off])
		switch {
		case l == 0:
			return off + 1, nil
		case l&0xc0 == 0xc0:
			if off+2 > len(m) {
				return 0, errDNSMessage
			}
			return off + 2, nil
		case l&0xc0 != 0:
			return 0, errDNSMessage
		}
		off += 1 + l
	}
	return 0, errDNSMessage
}

// dnsAnswer parses an answer to the query with id: the A and AAAA
// addresses it carries (CNAME chains are followed implicitly: a recursive
// server puts the final records in the same answer). rcode is the answer's
// response code (3: no such name).
func dnsAnswer(m []byte, id uint16) (addrs []netip.Addr, rcode int, err error) {
	if len(m) < 12 || binary.BigEndian.Uint16(m) != id || m[2]&0x80 == 0 {
		return nil, 0, errDNSMessage
	}
	rcode = int(m[3] & 0x0f)
	qd, an := int(binary.BigEndian.Uint16(m[4:])), int(binary.BigEndian.Uint16(m[6:]))
	off := 12
	for range qd {
		if off, err = skipName(m, off); err != nil {
			return nil, rcode, err
		}
		off += 4
	}
	for range an {
		if off, err = skipName(m, off); err != nil {
			return nil, rcode, err
		}
		if off+10 > len(m) {
			return nil, rcode, errDNSMessage
		}
		typ, class := binary.BigEndian.Uint16(m[off:]), binary.BigEndian.Uint16(m[off+2:])
		rdlen := int(binary.BigEndian.Uint16(m[off+8:]))
		off += 10
		if off+rdlen > len(m) {
			return nil, rcode, errDNSMessage
		}
		rd := m[off : off+rdlen]
		off += rdlen
		switch {
		case class != dnsClassIN:
		case typ == dnsTypeA && rdlen == 4:
			addrs = append(addrs, netip.AddrFrom4([4]byte(rd)))
		case typ == dnsTypeAAAA && rdlen == 16:
			addrs = append(addrs, netip.AddrFrom16([16]byte(rd)))
		}
	}
	return addrs, rcode, nil
}
