package sandlock

import (
	"net/netip"
	"strings"
	"testing"
)

func TestRenderHosts(t *testing.T) {
	const base = "127.0.0.1 localhost\n::1 localhost\n"
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name  string
		hosts map[string][]netip.Addr
		want  string
	}{
		{"none", nil, base},
		{"one v4", map[string][]netip.Addr{"example.com": {a("93.184.215.14")}}, base + "93.184.215.14 example.com\n"},
		{"v4 and v6 in order", map[string][]netip.Addr{"api.example.com": {a("2001:db8::1"), a("192.0.2.7")}},
			base + "2001:db8::1 api.example.com\n192.0.2.7 api.example.com\n"},
		{"names sorted", map[string][]netip.Addr{"b.test": {a("192.0.2.2")}, "a.test": {a("192.0.2.1")}},
			base + "192.0.2.1 a.test\n192.0.2.2 b.test\n"},
		{"duplicates dropped", map[string][]netip.Addr{"h.test": {a("192.0.2.1"), a("192.0.2.1"), a("::ffff:192.0.2.1")}},
			base + "192.0.2.1 h.test\n"},
		{"mapped written as v4", map[string][]netip.Addr{"h.test": {a("::ffff:10.1.2.3")}}, base + "10.1.2.3 h.test\n"},
		{"zone dropped", map[string][]netip.Addr{"h.test": {a("fe80::1%eth0")}}, base + "fe80::1 h.test\n"},
		{"invalid address skipped", map[string][]netip.Addr{"h.test": {{}, a("192.0.2.9")}}, base + "192.0.2.9 h.test\n"},
		{"no address: no line", map[string][]netip.Addr{"h.test": nil}, base},
		{"trailing dot kept", map[string][]netip.Addr{"h.test.": {a("192.0.2.1")}}, base + "192.0.2.1 h.test.\n"},
		{"case kept", map[string][]netip.Addr{"Host.Test": {a("192.0.2.1")}}, base + "192.0.2.1 Host.Test\n"},
		{"underscore tolerated", map[string][]netip.Addr{"_srv.h.test": {a("192.0.2.1")}}, base + "192.0.2.1 _srv.h.test\n"},
		{"injection: newline", map[string][]netip.Addr{"evil.test\n1.2.3.4 bank.test": {a("192.0.2.1")}}, base},
		{"injection: space", map[string][]netip.Addr{"a.test bank.test": {a("192.0.2.1")}}, base},
		{"injection: comment", map[string][]netip.Addr{"a.test#x": {a("192.0.2.1")}}, base},
		{"ip literal is no name", map[string][]netip.Addr{"192.0.2.1": {a("192.0.2.1")}}, base},
		{"empty name", map[string][]netip.Addr{"": {a("192.0.2.1")}}, base},
		{"empty label", map[string][]netip.Addr{"a..test": {a("192.0.2.1")}}, base},
		{"leading hyphen", map[string][]netip.Addr{"-a.test": {a("192.0.2.1")}}, base},
		{"label of 64", map[string][]netip.Addr{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test": {a("192.0.2.1")}}, base},
		{"non-ascii", map[string][]netip.Addr{"bücher.test": {a("192.0.2.1")}}, base},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(renderHosts(tc.hosts)); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestProcNetFilesFollowTheGrants(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fs    Filesystem
		files int
	}{
		{"nothing granted", Filesystem{}, 0},
		{"/proc", Filesystem{ReadIfExists: []string{"/usr", "/proc"}}, 2},
		{"/proc/", Filesystem{Read: []string{"/proc/"}}, 2},
		{"/", Filesystem{Write: []string{"/"}}, 2},
		{"/proc/net", Filesystem{WriteIfExists: []string{"/proc/net"}}, 2},
		{"/proc/net/dev alone", Filesystem{Read: []string{"/proc/net/dev"}}, 1},
		{"/proc/self", Filesystem{Read: []string{"/proc/self"}}, 0},
		{"/procfs", Filesystem{Read: []string{"/procfs"}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := procNetFiles(&Policy{Filesystem: tc.fs})
			if len(files) != tc.files {
				t.Fatalf("%d files, want %d", len(files), tc.files)
			}
			for _, f := range files {
				b, err := f.content()
				if err != nil || len(b) == 0 {
					t.Errorf("%s: %q %v", f.path, b, err)
				}
			}
		})
	}
}

func TestEtcHostsProvider(t *testing.T) {
	old := pinnedHostsFor
	defer func() { pinnedHostsFor = old }()
	pinnedHostsFor = nil
	if files := etcHostsFiles(&Policy{}); files != nil {
		t.Errorf("no network layer: %v", files)
	}
	pinnedHostsFor = func(*Policy) map[string][]netip.Addr { return nil }
	if files := etcHostsFiles(&Policy{}); files != nil {
		t.Errorf("IP-only policy: %v", files)
	}
	calls := 0
	pinnedHostsFor = func(*Policy) map[string][]netip.Addr {
		calls++
		return map[string][]netip.Addr{"h.test": {netip.MustParseAddr("192.0.2.1")}}
	}
	files := etcHostsFiles(&Policy{})
	if len(files) != 1 || files[0].path != "/etc/hosts" {
		t.Fatalf("files %v", files)
	}
	for range 3 {
		b, err := files[0].content()
		if err != nil || string(b) != "127.0.0.1 localhost\n::1 localhost\n192.0.2.1 h.test\n" {
			t.Errorf("content %q %v", b, err)
		}
	}
	if calls != 1 {
		t.Errorf("pinnedHostsFor called %d times; the addresses are pinned once", calls)
	}
}

// FuzzRenderHosts: whatever the names, every line of the result is
// "ADDR NAME" with a valid address and a name without blanks.
func FuzzRenderHosts(f *testing.F) {
	f.Add("example.com", []byte{192, 0, 2, 1})
	f.Add("a\nb c", []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Fuzz(func(t *testing.T, name string, raw []byte) {
		addr, _ := netip.AddrFromSlice(raw)
		out := string(renderHosts(map[string][]netip.Addr{name: {addr}, "x.test": {addr}}))
		for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			a, n, ok := strings.Cut(line, " ")
			if !ok {
				t.Fatalf("line %q", line)
			}
			if _, err := netip.ParseAddr(a); err != nil || n == "" || !validHostName(n) && n != "localhost" {
				t.Fatalf("line %q", line)
			}
		}
	})
}
