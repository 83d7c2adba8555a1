//go:build linux

package sandlock

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// dnsTimeout bounds each query; each server is tried twice.
const dnsTimeout = 2 * time.Second

// stubResolve resolves host: /etc/hosts, then DNS (resolve.go).
func stubResolve(host string) ([]netip.Addr, error) {
	if b, err := os.ReadFile("/etc/hosts"); err == nil {
		if as := hostsLookup(string(b), host); len(as) > 0 {
			return as, nil
		}
	}
	b, _ := os.ReadFile("/etc/resolv.conf")
	conf := parseResolvConf(string(b))
	var lastErr error = errNoHost
	for _, name := range conf.candidates(host) {
		var all []netip.Addr
		found := false
		for _, qt := range []uint16{dnsTypeA, dnsTypeAAAA} {
			as, err := queryServers(conf.servers, name, qt)
			if err != nil {
				lastErr = err
				continue
			}
			found = true
			all = append(all, as...)
		}
		if found && len(all) > 0 {
			return all, nil
		}
	}
	return nil, lastErr
}

// queryServers asks each server in turn; a name error is final.
func queryServers(servers []netip.Addr, name string, qtype uint16) ([]netip.Addr, error) {
	var lastErr error = errNoHost
	for range 2 {
		for _, s := range servers {
			as, rcode, err := queryOne(s, name, qtype)
			switch {
			case err != nil:
				lastErr = err
			case rcode == 3:
				return nil, errNoHost
			case rcode != 0:
				lastErr = fmt.Errorf("DNS server %s: rcode %d", s, rcode)
			default:
				return as, nil
			}
		}
	}
	return nil, lastErr
}

func queryOne(server netip.Addr, name string, qtype uint16) ([]netip.Addr, int, error) {
	var idb [2]byte
	rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	q, err := dnsQuery(id, name, qtype)
	if err != nil {
		return nil, 0, err
	}
	fam := unix.AF_INET
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: 53, Addr: server.Unmap().As4()}
	if server.Is6() && !server.Is4In6() {
		fam = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: 53, Addr: server.As16()}
	}
	fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, 0, err
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, sa); err != nil {
		return nil, 0, fmt.Errorf("DNS server %s: %w", server, err)
	}
	if _, err := unix.Write(fd, q); err != nil {
		return nil, 0, fmt.Errorf("DNS server %s: %w", server, err)
	}
	deadline := time.Now().Add(dnsTimeout)
	buf := make([]byte, 1500)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, 0, fmt.Errorf("DNS server %s: timeout", server)
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, int(left.Milliseconds())+1); err != nil && err != unix.EINTR {
			return nil, 0, err
		}
		if pfd[0].Revents == 0 {
			continue
		}
		n, err := unix.Read(fd, buf)
		if err != nil {
			return nil, 0, fmt.Errorf("DNS server %s: %w", server, err)
		}
		as, rcode, err := dnsAnswer(buf[:n], id)
		if err != nil {
			continue // not our answer (id mismatch) or garbage: keep waiting
		}
		return as, rcode, nil
	}
}
