package sandlock

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
)

// netlinkVirtual reports whether the sandbox gets the virtual NETLINK_ROUTE
// socket (netvirt_linux.go): in every sandbox that has a supervisor. A
// sandbox without one has no netlink at all (EAFNOSUPPORT): the virtual
// view needs a supervisor, and the host's real one describes the host's
// interfaces and addresses (docs/notes-netvirt.md).
func (p *Policy) netlinkVirtual() bool { return p.supervised() }

func init() {
	virtualFileProviders = append(virtualFileProviders, procNetFiles, etcHostsFiles)
}

// procNetDev and procNetIfInet6 are /proc/net/dev and /proc/net/if_inet6
// for a host whose only interface is lo, with zero counters (the host's
// loopback traffic is not the sandbox's business), in the kernel's
// formats (net/core/net-procfs.c, net/ipv6/addrconf.c).
const (
	procNetDev = "Inter-|   Receive                                                |  Transmit\n" +
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n" +
		"    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n"
	procNetIfInet6 = "00000000000000000000000000000001 01 80 10 80       lo\n"
)

// procNetFiles serves /proc/net/dev and /proc/net/if_inet6 showing only lo
// when the policy lets the sandbox read them at all (a grant covering
// /proc/net): elsewhere Landlock already denies them.
func procNetFiles(p *Policy) []virtualFile {
	var out []virtualFile
	for _, f := range []struct{ path, content string }{
		{"/proc/net/dev", procNetDev},
		{"/proc/net/if_inet6", procNetIfInet6},
	} {
		if p.grantsPath(f.path) {
			content := []byte(f.content)
			out = append(out, virtualFile{path: f.path, content: func() ([]byte, error) { return content, nil }})
		}
	}
	return out
}

// grantsPath reports whether a Filesystem grant covers path, as spelled
// in the policy (the grant itself or a directory above it).
func (p *Policy) grantsPath(path string) bool {
	fs := &p.Filesystem
	for _, g := range slices.Concat(fs.Read, fs.ReadIfExists, fs.Write, fs.WriteIfExists) {
		g = filepath.Clean(g)
		if g == "/" || g == path || strings.HasPrefix(path, g+"/") {
			return true
		}
	}
	return false
}

// pinnedHostsFor returns the host names the policy's network rules name,
// each with the addresses it was resolved to when the sandbox was
// created; nil or empty when no rule names a host (IP-only policies keep
// the real /etc/hosts).
//
// Contract for the network layer, which sets it (the grammar and the
// resolution live there):
//   - It must not resolve: it returns what Create pinned, so that the
//     sandbox's /etc/hosts and its connect checks see the same addresses
//     (no DNS rebinding between the two).
//   - It is called once per sandbox, at Create, after Validate; the map is
//     not modified afterwards.
//   - Keys are host names as the rules spell them (case kept); a name that
//     is not a valid host name is left out of /etc/hosts (renderHosts).
var pinnedHostsFor func(p *Policy) map[string][]netip.Addr

// etcHostsFiles serves the synthetic /etc/hosts when a rule names a host.
func etcHostsFiles(p *Policy) []virtualFile {
	if pinnedHostsFor == nil {
		return nil
	}
	hosts := pinnedHostsFor(p)
	if len(hosts) == 0 {
		return nil
	}
	content := renderHosts(hosts)
	return []virtualFile{{path: "/etc/hosts", content: func() ([]byte, error) { return content, nil }}}
}

// renderHosts renders an /etc/hosts holding exactly the pinned names: the
// loopback lines ("127.0.0.1 localhost", "::1 localhost"), then one
// "ADDR NAME" line per address of each name, names sorted, addresses in
// their given order, duplicates dropped. IPv4-mapped IPv6 addresses are
// written as IPv4, zones dropped. A name that is not a valid host name
// (RFC 1123 labels, at most 253 bytes), or an invalid address, is left
// out: nothing from a rule can add a line of its own or a comment.
func renderHosts(hosts map[string][]netip.Addr) []byte {
	var sb strings.Builder
	sb.WriteString("127.0.0.1 localhost\n::1 localhost\n")
	names := make([]string, 0, len(hosts))
	for name := range hosts {
		if validHostName(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		var seen []netip.Addr
		for _, a := range hosts[name] {
			if !a.IsValid() {
				continue
			}
			a = a.Unmap().WithZone("")
			if slices.Contains(seen, a) {
				continue
			}
			seen = append(seen, a)
			fmt.Fprintf(&sb, "%s %s\n", a, name)
		}
	}
	return []byte(sb.String())
}

// validHostName reports whether name is a host name: dot-separated labels
// of letters, digits and inner hyphens (underscores tolerated, as
// resolvers do), 1-63 bytes each, 253 bytes in all; one trailing dot
// allowed. An IP literal is not a host name.
func validHostName(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
