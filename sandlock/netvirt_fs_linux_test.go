//go:build linux && netvirt_fs

// These tests need the open interception that serves virtual files
// (branch fs); enable them with -tags netvirt_fs once it is merged.

package sandlock

import (
	"bytes"
	"net/netip"
	"os"
	"testing"
)

// runCat runs /bin/cat path in a sandbox that may read /etc and the
// system paths, and returns what it printed.
func runCat(t *testing.T, path string) string {
	t.Helper()
	var p Policy
	p.Filesystem.ReadIfExists = append(append([]string{}, SystemPaths...), "/etc")
	sb := Command(p, "/bin/cat", path)
	var out, errb bytes.Buffer
	sb.Stdout, sb.Stderr = &out, &errb
	if err := sb.Run(); err != nil {
		t.Fatalf("cat %s: %v\n%s", path, err, errb.String())
	}
	return out.String()
}

// TestEtcHostsPinned: when the network layer pinned host names, every
// spelling of /etc/hosts holds exactly those names and the loopback lines;
// without pinned names (the twin) the real file shows.
func TestEtcHostsPinned(t *testing.T) {
	old := pinnedHostsFor
	defer func() { pinnedHostsFor = old }()
	pinnedHostsFor = func(*Policy) map[string][]netip.Addr {
		return map[string][]netip.Addr{"pinned.test": {netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")}}
	}
	const want = "127.0.0.1 localhost\n::1 localhost\n192.0.2.10 pinned.test\n2001:db8::10 pinned.test\n"
	for _, path := range []string{"/etc/hosts", "/etc/./hosts", "//etc/hosts", "/etc/../etc/hosts"} {
		if got := runCat(t, path); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	pinnedHostsFor = func(*Policy) map[string][]netip.Addr { return nil }
	real, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	if got := runCat(t, "/etc/hosts"); got != string(real) {
		t.Errorf("IP-only policy: %q, want the real file %q", got, real)
	}
}
