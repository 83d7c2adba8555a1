package sandlock

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// This file is the network policy's grammar: Network.Allow and
// Network.Deny entries (CLI --net-allow, --net-deny), parsed into netRule
// values without touching the network. Hostnames are resolved later, once,
// by Create (netplan.go).
//
//	SPEC    = [SCHEME "://"] TARGET [":" PORTS]
//	SCHEME  = "tcp" | "udp" | "icmp"          (none: TCP and UDP; ICMP never implied)
//	TARGET  = "" | "*" | HOST | IPV4 | IPV4 "/" BITS | IPV6 | IPV6 "/" BITS
//	        | "[" IPV6 ["/" BITS] "]"           (brackets needed when PORTS follow)
//	PORTS   = "*" | PORT-ITEM {"," PORT-ITEM}
//	PORT-ITEM = PORT | PORT "-" PORT            (1-65535, lo <= hi)
//
// A missing port list means every port. icmp rules take no port. Deny
// targets must be literal addresses or CIDRs (no host names).

// netProto is a set of transport protocols a rule covers.
type netProto uint8

const (
	protoTCP netProto = 1 << iota
	protoUDP
	protoICMP
)

func (p netProto) String() string {
	var s []string
	for _, x := range []struct {
		b    netProto
		name string
	}{{protoTCP, "tcp"}, {protoUDP, "udp"}, {protoICMP, "icmp"}} {
		if p&x.b != 0 {
			s = append(s, x.name)
		}
	}
	return strings.Join(s, "+")
}

// portRange is an inclusive range of ports.
type portRange struct{ lo, hi uint16 }

// netRule is one parsed SPEC.
type netRule struct {
	spec   string
	protos netProto
	// Exactly one of: anyAddr (target "", "*"), prefix (an address is a
	// full-length prefix; IPv4-mapped IPv6 is stored as IPv4), host (a
	// name resolved at Create into addrs).
	anyAddr bool
	prefix  netip.Prefix
	host    string
	// ports is nil for every port, else sorted, merged ranges.
	ports []portRange
}

// allPorts reports whether the rule covers every port.
func (r *netRule) allPorts() bool { return r.ports == nil }

func (r *netRule) hasPort(port uint16) bool {
	if r.ports == nil {
		return true
	}
	for _, pr := range r.ports {
		if port >= pr.lo && port <= pr.hi {
			return true
		}
	}
	return false
}

// netSpecError is why a SPEC is malformed. It is wrapped in a
// *PolicyError whose Value is the quoted spec.
type netSpecError struct{ reason string }

func (e *netSpecError) Error() string { return e.reason }

func specErr(format string, args ...any) error {
	return &netSpecError{reason: fmt.Sprintf(format, args...)}
}

var errDenyHost = errors.New("deny targets must be IP addresses or CIDRs, not host names (hosts can change address; deny the addresses)")

// parseNetSpec parses one SPEC. deny selects the deny grammar (no host
// names).
func parseNetSpec(spec string, deny bool) (netRule, error) {
	r := netRule{spec: spec, protos: protoTCP | protoUDP}
	if strings.TrimSpace(spec) == "" {
		return r, specErr("empty spec (want [tcp://|udp://|icmp://]TARGET[:PORTS], * for everything)")
	}
	if spec != strings.TrimSpace(spec) {
		return r, specErr("leading or trailing space")
	}
	body := spec
	if scheme, rest, ok := strings.Cut(spec, "://"); ok {
		switch strings.ToLower(scheme) {
		case "tcp":
			r.protos = protoTCP
		case "udp":
			r.protos = protoUDP
		case "icmp":
			r.protos = protoICMP
		default:
			return r, specErr("unknown scheme %q (want tcp://, udp:// or icmp://)", scheme+"://")
		}
		body = rest
		if body == "" {
			return r, specErr("nothing after %q (want a target, * for any)", scheme+"://")
		}
	}
	target, ports, hasPorts, err := splitTarget(body)
	if err != nil {
		return r, err
	}
	if r.protos == protoICMP && hasPorts {
		return r, specErr("icmp rules take no port")
	}
	if r.protos == protoICMP && target == "" {
		return r, specErr("icmp rule needs a target (* for any)")
	}
	if err := r.setTarget(target, deny); err != nil {
		return r, err
	}
	if hasPorts {
		if r.ports, err = parsePortList(ports); err != nil {
			return r, err
		}
	}
	return r, nil
}

// splitTarget separates TARGET and PORTS. It refuses IPv6 literals whose
// last group could be read as a port.
func splitTarget(body string) (target, ports string, hasPorts bool, err error) {
	if strings.HasPrefix(body, "[") {
		end := strings.IndexByte(body, ']')
		if end < 0 {
			return "", "", false, specErr("missing ] after IPv6 address")
		}
		target, rest := body[1:end], body[end+1:]
		if target == "" {
			return "", "", false, specErr("empty [] (want an IPv6 address or CIDR inside)")
		}
		if _, perr := parseAddrOrPrefix(target); perr != nil {
			return "", "", false, perr
		}
		if !strings.Contains(target, ":") {
			return "", "", false, specErr("[%s] is not an IPv6 address (brackets are for IPv6)", target)
		}
		switch {
		case rest == "":
			return "[" + target + "]", "", false, nil
		case rest[0] == ':':
			return "[" + target + "]", rest[1:], true, nil
		default:
			return "", "", false, specErr("unexpected %q after ] (want :PORTS)", rest)
		}
	}
	if strings.Count(body, ":") <= 1 {
		target, ports, hasPorts = strings.Cut(body, ":")
		return target, ports, hasPorts, nil
	}
	// Two or more colons: an unbracketed IPv6 literal, without a port.
	if strings.Contains(body, "%") {
		_, err := parseAddrOrPrefix(body)
		return "", "", false, err
	}
	i := strings.LastIndexByte(body, ':')
	head, tail := body[:i], body[i+1:]
	_, wholeErr := parseAddrOrPrefix(body)
	_, headErr := parseAddrOrPrefix(head)
	switch {
	case wholeErr == nil && headErr == nil && isDigits(tail):
		return "", "", false, specErr("ambiguous IPv6 address: write [%s]:%s for a port, [%s] for the address", head, tail, body)
	case wholeErr == nil:
		return body, "", false, nil
	case headErr == nil:
		return "", "", false, specErr("an IPv6 address with a port must be bracketed: [%s]:%s", head, tail)
	default:
		return "", "", false, specErr("%q is neither host:port nor an IPv6 address (bracket IPv6 addresses: [::1]:80)", body)
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseAddrOrPrefix reads an address or CIDR into a canonical, masked
// prefix: IPv4-mapped IPv6 becomes IPv4, zones are refused.
func parseAddrOrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "%") {
		return netip.Prefix{}, specErr("address zones (%%) are not supported: %q", s)
	}
	if addr, bits, ok := strings.Cut(s, "/"); ok {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return netip.Prefix{}, specErr("invalid address %q in CIDR", addr)
		}
		if !isDigits(bits) || len(bits) > 3 {
			return netip.Prefix{}, specErr("invalid prefix length %q in CIDR", bits)
		}
		n, _ := strconv.Atoi(bits)
		if n > a.BitLen() {
			fam := "IPv4"
			if a.Is6() {
				fam = "IPv6"
			}
			return netip.Prefix{}, specErr("prefix length /%d is out of range for %s (0-%d)", n, fam, a.BitLen())
		}
		if a.Is4In6() {
			if n < 96 {
				return netip.Prefix{}, specErr("prefix /%d of an IPv4-mapped address covers more than IPv4 (want /96 or longer)", n)
			}
			a, n = a.Unmap(), n-96
		}
		return netip.PrefixFrom(a, n).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, specErr("invalid address %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// setTarget fills the target of r from TARGET (brackets kept).
func (r *netRule) setTarget(t string, deny bool) error {
	switch {
	case t == "" || t == "*":
		r.anyAddr = true
		return nil
	case strings.HasPrefix(t, "["):
		p, err := parseAddrOrPrefix(t[1 : len(t)-1])
		r.prefix = p
		return err
	case strings.ContainsAny(t, "/:") || looksNumeric(t):
		p, err := parseAddrOrPrefix(t)
		r.prefix = p
		return err
	}
	if err := checkHostname(t); err != nil {
		return err
	}
	if deny {
		return errDenyHost
	}
	r.host = strings.ToLower(strings.TrimSuffix(t, "."))
	return nil
}

// looksNumeric reports whether t can only be meant as an IPv4 address
// (digits and dots), so that "10.0.0.256" is an invalid address, not a
// host name.
func looksNumeric(t string) bool {
	for _, c := range t {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

// checkHostname accepts DNS names: labels of letters, digits, '-' and '_'
// of 1-63 bytes, 253 bytes in all, an optional final dot.
func checkHostname(h string) error {
	name := strings.TrimSuffix(h, ".")
	if name == "" || len(name) > 253 {
		return specErr("invalid host name %q", h)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return specErr("invalid host name %q", h)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return specErr("invalid character %q in host name %q", c, h)
			}
		}
	}
	return nil
}

// parsePortList reads PORTS: "*" (nil: every port) or a comma list of ports
// and lo-hi ranges, 1-65535.
func parsePortList(s string) ([]portRange, error) {
	if s == "" {
		return nil, specErr("empty port list after ':' (want PORT, LO-HI, a comma list or *)")
	}
	if s == "*" {
		return nil, nil
	}
	var out []portRange
	for _, item := range strings.Split(s, ",") {
		if item == "" {
			return nil, specErr("empty item in port list %q", s)
		}
		if item == "*" {
			return nil, specErr("cannot mix * with ports in %q", s)
		}
		lo, hi, isRange := strings.Cut(item, "-")
		a, err := parsePort(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = parsePort(hi); err != nil {
				return nil, err
			}
			if a > b {
				return nil, specErr("port range %s is reversed (want LO-HI)", item)
			}
		}
		out = append(out, portRange{a, b})
	}
	return mergeRanges(out), nil
}

func parsePort(s string) (uint16, error) {
	if !isDigits(s) {
		return 0, specErr("invalid port %q (want 1-65535)", s)
	}
	if len(s) > 5 {
		return 0, specErr("port %s is out of range (1-65535)", s)
	}
	n, _ := strconv.Atoi(s)
	switch {
	case n == 0:
		return 0, specErr("port 0 is not a destination (want 1-65535)")
	case n > 65535:
		return 0, specErr("port %d is out of range (1-65535)", n)
	}
	return uint16(n), nil
}

// mergeRanges sorts and merges overlapping or adjacent ranges.
func mergeRanges(rs []portRange) []portRange {
	slices.SortFunc(rs, func(a, b portRange) int { return int(a.lo) - int(b.lo) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && uint32(r.lo) <= uint32(out[n-1].hi)+1 {
			out[n-1].hi = max(out[n-1].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// parseNetSpecs parses a list field; the error is a *PolicyError naming the
// field and quoting the spec.
func parseNetSpecs(field string, specs []string, deny bool) ([]netRule, error) {
	var rules []netRule
	for _, s := range specs {
		r, err := parseNetSpec(s, deny)
		if err != nil {
			return nil, &PolicyError{Field: field, Value: strconv.Quote(s), Err: err}
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func quote(s string) string { return strconv.Quote(s) }

func sortAddrs(as []netip.Addr) {
	slices.SortFunc(as, func(a, b netip.Addr) int { return a.Compare(b) })
}

func sortHosts(hs []pinnedHost) {
	slices.SortFunc(hs, func(a, b pinnedHost) int { return strings.Compare(a.Name, b.Name) })
}
