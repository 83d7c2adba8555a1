package tests

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

const listenProbe = `
import socket, sys
def report(name, f):
    try:
        print(name, f())
    except OSError as e:
        print(name, "errno", e.errno)
def unbound():
    s = socket.socket()
    s.listen()
    return "ok" if s.getsockname()[1] != 0 else "no port"
def bound():
    s = socket.socket()
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen()
    return "ok"
def unix():
    s = socket.socket(socket.AF_UNIX)
    s.bind(sys.argv[2])
    s.listen()
    return "ok"
report("unbound", unbound)
report("bound", bound)
report("unix", unix)
`

// TestNetListenUnbound: listen on a TCP socket that was never bound takes
// an ephemeral port, which Landlock does not govern (it sees bind and
// connect only): without a bind grant for port 0 that is EACCES, so a
// sandbox with no network rights accepts no inbound connections. Twins: a
// socket bound to a granted port listens, a unix socket listens, and with
// port 0 granted the unbound listen gets its ephemeral port.
func TestNetListenUnbound(t *testing.T) {
	py := requirePython(t)
	port := freePort(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		bind []string
		want string
	}{
		{[]string{strconv.Itoa(port)}, "unbound errno 13\nbound ok\nunix ok\n"},
		{[]string{strconv.Itoa(port), "0"}, "unbound ok\nbound ok\nunix ok\n"},
	} {
		p := base()
		p.Filesystem.Write = append(p.Filesystem.Write, dir)
		p.Network.Bind = tc.bind
		sock := filepath.Join(dir, "s"+strconv.Itoa(len(tc.bind)))
		out, errs, err := run(t, sandlock.Command(p, py, "-c", listenProbe, strconv.Itoa(port), sock))
		if err != nil || out != tc.want {
			t.Errorf("bind %v: %q (%v %s), want %q", tc.bind, out, err, errs, tc.want)
		}
	}
}
