package sandlock

import (
	"errors"
	"net/netip"
)

// This file turns Policy.Network into the decision the supervisor makes for
// each destination (netModel.allows), without touching the network.

var (
	errAllowDeny    = errors.New("network.allow and network.deny are mutually exclusive (deny is allow-all minus the listed destinations)")
	errBindDenyBind = errors.New("network.bind and network.deny_bind are mutually exclusive")
)

// validateNetwork checks the network section: every spec parses, and the
// exclusive pairs are not both set.
func (p *Policy) validateNetwork() error {
	n := &p.Network
	if len(n.Allow) > 0 && len(n.Deny) > 0 {
		return &PolicyError{Field: "network.deny", Value: n.Deny, Err: errAllowDeny}
	}
	if len(n.Bind) > 0 && len(n.DenyBind) > 0 {
		return &PolicyError{Field: "network.deny_bind", Value: n.DenyBind, Err: errBindDenyBind}
	}
	if _, err := parseNetSpecs("network.allow", n.Allow, false); err != nil {
		return err
	}
	if _, err := parseNetSpecs("network.deny", n.Deny, true); err != nil {
		return err
	}
	if _, _, err := parsePorts("network.bind", n.Bind); err != nil {
		return err
	}
	if _, _, err := parsePorts("network.deny_bind", n.DenyBind); err != nil {
		return err
	}
	return nil
}

// netPrivate are the destinations Network.DenyPrivate denies: loopback,
// "this host" (0.0.0.0/8 and :: reach local services), RFC 1918, carrier
// NAT, link-local (169.254.169.254 is the cloud metadata service),
// IPv6 unique-local (fd00:ec2::254 is EC2's IPv6 metadata) and link-local,
// and multicast and broadcast, which reach the local network's hosts.
// Loopback is included on purpose: services listening on the host's
// loopback (databases, container runtimes, metadata proxies) are exactly
// what the preset protects. NAT64 addresses (64:ff9b::/96) are judged by
// the IPv4 address they embed.
var netPrivate = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),        // multicast: the local network's hosts, routers (SSDP)
	netip.MustParsePrefix("255.255.255.255/32"), // limited broadcast: every host of the link
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"), // multicast (ff02::1: every node of the link)
}

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// isPrivate reports whether a (canonical) is in netPrivate.
func isPrivate(a netip.Addr) bool {
	if nat64.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:]))
	}
	for _, p := range netPrivate {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// netModel is the network policy of one sandbox, with host names resolved.
type netModel struct {
	// allow are the allow rules (host rules expanded to one prefix rule
	// per pinned address); deny the deny rules.
	allow, deny []netRule
	// allowAll: no allow list, so everything not denied is allowed
	// (Network.Deny, or DenyPrivate alone).
	allowAll    bool
	denyPrivate bool
	// Bind policy: bind lists the allowed ports (bindAll: any), denyBind
	// the denied ones (then every other port is allowed).
	bindAll  bool
	bind     []uint16
	denyBind []uint16
	// hosts are the names pinned at Create, for the synthetic /etc/hosts.
	hosts []pinnedHost
}

// pinnedHost is one host name of the policy and the addresses it resolved
// to at Create. The sandbox reaches the name only at these addresses, for
// its whole life (no DNS rebinding).
type pinnedHost struct {
	Name  string
	Addrs []netip.Addr // canonical (IPv4-mapped IPv6 as IPv4), sorted, distinct
}

// protos is the union of protocols the policy may allow.
func (m *netModel) protos() netProto {
	if m.allowAll {
		return protoTCP | protoUDP | protoICMP
	}
	var p netProto
	for _, r := range m.allow {
		p |= r.protos
	}
	return p
}

func (r *netRule) matchAddr(a netip.Addr) bool {
	return r.anyAddr || r.prefix.Contains(a)
}

// allows decides a destination: protocol proto, address a (any form: it is
// canonicalised here), port (ignored for ICMP).
func (m *netModel) allows(proto netProto, a netip.Addr, port uint16) bool {
	a = a.Unmap().WithZone("")
	if proto == protoICMP {
		port = 0
	}
	match := func(r *netRule, a netip.Addr) bool {
		return r.protos&proto != 0 && r.matchAddr(a) && (proto == protoICMP || r.hasPort(port))
	}
	// The kernel connects and sends to 0.0.0.0 and :: as to loopback
	// (127.0.0.1; ::1, or 127.0.0.1 from a socket bound to a v4-mapped
	// address): a deny rule on loopback covers them too.
	as := []netip.Addr{a}
	if a.IsUnspecified() {
		as = append(as, netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback())
	}
	for _, d := range as {
		for i := range m.deny {
			if match(&m.deny[i], d) {
				return false
			}
		}
		if m.denyPrivate && isPrivate(d) {
			return false
		}
	}
	if m.allowAll {
		return true
	}
	for i := range m.allow {
		if match(&m.allow[i], a) {
			return true
		}
	}
	return false
}

// allowsBind decides a bind of port (0: an ephemeral port).
func (m *netModel) allowsBind(port uint16) bool {
	switch {
	case len(m.denyBind) > 0:
		for _, p := range m.denyBind {
			if p == port {
				return false
			}
		}
		return true
	case m.bindAll:
		return true
	}
	for _, p := range m.bind {
		if p == port {
			return true
		}
	}
	return false
}

// maxLandlockPorts bounds the Landlock connect rules derived from a policy
// (one add_rule system call each); a policy naming more ports leaves TCP
// connect to the supervisor alone.
const maxLandlockPorts = 1024

// tcpConnectPorts is the Landlock backstop for TCP connect: the union of
// the ports of every rule that allows TCP. all means the right stays
// unhandled (some rule allows every port, a deny-mode policy, or too many
// ports); the supervisor still checks each destination.
func (m *netModel) tcpConnectPorts() (ports []uint16, all bool) {
	if m.allowAll {
		return nil, true
	}
	var rs []portRange
	for _, r := range m.allow {
		if r.protos&protoTCP == 0 {
			continue
		}
		if r.allPorts() {
			return nil, true
		}
		rs = append(rs, r.ports...)
	}
	for _, r := range mergeRanges(rs) {
		for p := uint32(r.lo); p <= uint32(r.hi); p++ {
			ports = append(ports, uint16(p))
			if len(ports) > maxLandlockPorts {
				return nil, true
			}
		}
	}
	return ports, false
}

// buildNetModel parses the network section and resolves its host names
// with resolve (called once per distinct name).
//
// Preconditions: p.Validate() is nil.
func (p *Policy) buildNetModel(resolve func(host string) ([]netip.Addr, error)) (*netModel, error) {
	n := &p.Network
	m := &netModel{denyPrivate: n.DenyPrivate}
	allow, err := parseNetSpecs("network.allow", n.Allow, false)
	if err != nil {
		return nil, err
	}
	if m.deny, err = parseNetSpecs("network.deny", n.Deny, true); err != nil {
		return nil, err
	}
	m.allowAll = len(allow) == 0 && (len(m.deny) > 0 || n.DenyPrivate)
	pinned := map[string]int{}
	for _, r := range allow {
		if r.host == "" || resolve == nil {
			m.allow = append(m.allow, r)
			continue
		}
		i, ok := pinned[r.host]
		if !ok {
			addrs, err := resolve(r.host)
			if err != nil {
				return nil, &PolicyError{Field: "network.allow", Value: quote(r.spec), Err: err}
			}
			i = len(m.hosts)
			pinned[r.host] = i
			m.hosts = append(m.hosts, pinnedHost{Name: r.host, Addrs: canonAddrs(addrs)})
		}
		for _, a := range m.hosts[i].Addrs {
			x := r
			x.host, x.prefix = "", netip.PrefixFrom(a, a.BitLen())
			m.allow = append(m.allow, x)
		}
	}
	if m.bind, m.bindAll, err = parsePorts("network.bind", n.Bind); err != nil {
		return nil, err
	}
	if m.denyBind, _, err = parsePorts("network.deny_bind", n.DenyBind); err != nil {
		return nil, err
	}
	if len(n.DenyBind) > 0 {
		m.bindAll = true // Landlock leaves bind to the supervisor
	}
	return m, nil
}

// netProtos is the union of protocols the network policy may allow,
// without resolving anything.
//
// Preconditions: p.Validate() is nil.
func (p *Policy) netProtos() netProto {
	m, err := p.buildNetModel(nil)
	if err != nil {
		return 0
	}
	return m.protos()
}

// networkSupervised reports whether the supervisor handles the sandbox's
// socket calls: some egress rule Landlock cannot express alone, a deny
// list, the private preset, or a bind deny list. Without them, TCP
// connect is Landlock's (no port, or the ports of tcp:// rules on any
// address), datagram sockets are denied by the filter, TCP Fast Open is
// refused by the filter, and TCP bind is Landlock's (Network.Bind).
func (p *Policy) networkSupervised() bool {
	if p.OnEvent != nil {
		// The callback sees every connect, sendto and bind, decided on a
		// copy and made on behalf.
		return true
	}
	n := &p.Network
	if len(n.Deny) > 0 || n.DenyPrivate || len(n.DenyBind) > 0 {
		return true
	}
	if len(n.Allow) == 0 {
		return false
	}
	m, err := p.buildNetModel(nil)
	return err != nil || !m.landlockOnly() || !landlockNetAvailable()
}

// landlockNetAvailable reports whether Landlock can enforce TCP port
// rules here (ABI 4). Without it (best-effort mode on an older kernel) a
// policy of tcp:// port rules is enforced by the supervisor instead.
// Set by landlock.go on Linux.
var landlockNetAvailable = func() bool { return false }

// landlockOnly reports whether Landlock's TCP connect rules enforce the
// allow list exactly: only tcp:// rules on any address, with at most
// maxLandlockPorts ports unless one rule allows every port.
func (m *netModel) landlockOnly() bool {
	anyPort := false
	for _, r := range m.allow {
		if r.protos != protoTCP || !r.anyAddr {
			return false
		}
		anyPort = anyPort || r.allPorts()
	}
	_, all := m.tcpConnectPorts()
	return !all || anyPort
}

// canonAddrs unmaps, drops zones, sorts and dedups.
func canonAddrs(in []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range in {
		a = a.Unmap().WithZone("")
		dup := false
		for _, b := range out {
			dup = dup || a == b
		}
		if !dup {
			out = append(out, a)
		}
	}
	sortAddrs(out)
	return out
}

// namesHosts reports whether the allow list names a host (so that Create
// pins names and the synthetic /etc/hosts has something to serve),
// without resolving anything.
//
// Preconditions: p.Validate() is nil.
func (p *Policy) namesHosts() bool {
	rules, err := parseNetSpecs("network.allow", p.Network.Allow, false)
	if err != nil {
		return false
	}
	for _, r := range rules {
		if r.host != "" {
			return true
		}
	}
	return false
}
