//go:build linux

package sandlock

import (
	"fmt"
	"net/netip"
)

// resolveHost is the resolver Create uses (resolve.go: /etc/hosts, then
// DNS to the servers of /etc/resolv.conf). A variable for tests.
var resolveHost = func(host string) ([]netip.Addr, error) {
	addrs, err := stubResolve(host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	return addrs, nil
}

// pinNetwork resolves the policy's host names once and keeps the result:
// the sandbox reaches each name only at the addresses it had at Create,
// for its whole life (no DNS rebinding, no TTL). Create calls it on its
// copy of the policy before anything is derived from the network section.
//
// Preconditions: p.Validate() is nil.
func (p *Policy) pinNetwork() error {
	m, err := p.buildNetModel(resolveHost)
	if err != nil {
		return err
	}
	p.net = m
	return nil
}

// pinnedHosts returns the host names of the network policy and the
// addresses they were pinned to at Create, sorted by name; nil when the
// policy names no host or before Create. This is what the synthetic
// /etc/hosts serves (one "ADDR NAME" line per address), so that the
// program's resolver finds exactly the pinned addresses without DNS.
func (p *Policy) pinnedHosts() []pinnedHost {
	if p.net == nil || len(p.net.hosts) == 0 {
		return nil
	}
	out := make([]pinnedHost, len(p.net.hosts))
	copy(out, p.net.hosts)
	sortHosts(out)
	return out
}

// The synthetic /etc/hosts (netvirt.go) shows the names pinned here.
func init() {
	pinnedHostsFor = func(p *Policy) map[string][]netip.Addr {
		hs := p.pinnedHosts()
		if len(hs) == 0 {
			return nil
		}
		m := make(map[string][]netip.Addr, len(hs))
		for _, h := range hs {
			m[h.Name] = h.Addrs
		}
		return m
	}
}
