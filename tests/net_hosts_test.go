package tests

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

// TestNetHostsFile: a rule naming a host gives the sandbox a synthetic
// /etc/hosts with exactly the pinned names, so the program's own resolver
// finds them without DNS and finds nothing else of the host's file; the
// connection to the pinned address goes through. The twin: an IP-only
// policy leaves the real /etc/hosts.
func TestNetHostsFile(t *testing.T) {
	py := requirePython(t)
	l := listenTCPOn(t, "127.0.0.1:0", false)
	P := strconv.Itoa(l.port)
	real, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	// Names of the host's file that are not localhost must not show.
	var others []string
	for _, line := range strings.Split(string(real), "\n") {
		f := strings.Fields(strings.SplitN(line, "#", 2)[0])
		for _, name := range f[min(1, len(f)):] {
			if name != "localhost" {
				others = append(others, name)
			}
		}
	}
	script := `
import socket, sys
print(open("/etc/hosts").read())
s = socket.create_connection(("localhost", int(sys.argv[1])), timeout=5)
print("connected")
`
	p := base()
	p.Filesystem.ReadIfExists = append(p.Filesystem.ReadIfExists, "/etc/hosts")
	p.Network.Allow = []string{"localhost:" + P}
	out, errs, err := run(t, sandlock.Command(p, py, "-c", script, P))
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out, errs)
	}
	// The synthetic file: the two loopback lines, then one line per
	// pinned address (127.0.0.1 is one of localhost's).
	if !strings.HasPrefix(out, "127.0.0.1 localhost\n::1 localhost\n") ||
		!strings.Contains(out, "::1 localhost\n127.0.0.1 localhost\n") || !strings.HasSuffix(out, "connected\n") {
		t.Errorf("pinned: %q", out)
	}
	for _, name := range others {
		if strings.Contains(out, name) {
			t.Errorf("the host's %q shows in the synthetic /etc/hosts:\n%s", name, out)
		}
	}
	if n := l.settled(t); n != 1 {
		t.Errorf("listener accepted %d, want 1", n)
	}
	// Twin: an IP rule keeps the real file.
	p.Network.Allow = []string{"127.0.0.1:" + P}
	out, errs, err = run(t, sandlock.Command(p, py, "-c", script, P))
	if err != nil {
		t.Fatalf("IP rule: %v\n%s%s", err, out, errs)
	}
	if !strings.HasPrefix(out, string(real)) {
		t.Errorf("IP rule: /etc/hosts is not the host's:\n%s", out)
	}
}
