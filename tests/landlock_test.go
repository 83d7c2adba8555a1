package tests

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandlock-go/sandlock-go/landlockabi"
	"github.com/sandlock-go/sandlock-go/sandlock"
)

func requireLandlockABI(t *testing.T, want int) {
	t.Helper()
	abi, err := landlockabi.ABIVersion()
	if err != nil || abi < want {
		t.Skipf("needs Landlock ABI %d, kernel has %d (%v)", want, abi, err)
	}
}

// probe runs the test binary as the probe program under policy and returns
// each operation's result ("OK", "EACCES", ...).
func probe(t *testing.T, policy sandlock.Policy, ops ...string) map[string]string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	policy.Filesystem.Read = append(policy.Filesystem.Read, self)
	sb := sandlock.Command(policy, self, ops...)
	sb.Env = append(os.Environ(), helperEnv+"=probe")
	out, errs, err := run(t, sb)
	if err != nil {
		t.Fatalf("probe: %v\nstdout: %s\nstderr: %s", err, out, errs)
	}
	res := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if op, r, ok := strings.Cut(sc.Text(), ": "); ok {
			res[op] = r
		}
	}
	return res
}

// fsTree makes root/ro (granted read), root/rw (granted write) and root/out
// (granted nothing), each holding a file.
type fsTree struct{ root, ro, rw, out string }

func newTree(t *testing.T) fsTree {
	t.Helper()
	root := t.TempDir()
	tr := fsTree{root, filepath.Join(root, "ro"), filepath.Join(root, "rw"), filepath.Join(root, "out")}
	for _, d := range []string{tr.ro, tr.rw, tr.out, filepath.Join(tr.ro, "sub")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "file"), []byte("content"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

func (tr fsTree) policy() sandlock.Policy {
	p := base()
	p.Filesystem.Read = append(p.Filesystem.Read, tr.ro)
	p.Filesystem.Write = append(p.Filesystem.Write, tr.rw)
	return p
}

type opCase struct{ op, want string }

func checkOps(t *testing.T, policy sandlock.Policy, cases []opCase) {
	t.Helper()
	var ops []string
	for _, c := range cases {
		ops = append(ops, c.op)
	}
	got := probe(t, policy, ops...)
	for _, c := range cases {
		if g := got[c.op]; !strings.Contains("|"+c.want+"|", "|"+g+"|") {
			t.Errorf("%s: got %q, want %s", c.op, g, c.want)
		}
	}
}

func TestLandlockReadEverySpelling(t *testing.T) {
	requireLandlockABI(t, 1)
	tr := newTree(t)
	secret := filepath.Join(tr.out, "file")
	rel := "../out/file"
	checkOps(t, tr.policy(), []opCase{
		// Positive twins: the granted file in the same spellings.
		{"read:" + filepath.Join(tr.ro, "file"), "OK"},
		{"read:/" + filepath.Join(tr.ro, "file"), "OK"},
		{"read:" + filepath.Join(tr.ro, "sub", "..", "file"), "OK"},
		{"read:/proc/self/root" + filepath.Join(tr.ro, "file"), "OK"},
		{"openat:" + tr.ro + ":file", "OK"},
		{"read:" + filepath.Join(tr.rw, "file"), "OK"},
		// Denials.
		{"read:" + secret, "EACCES"},
		{"read:" + filepath.Join(tr.ro, "..", "out", "file"), "EACCES"},
		{"read:" + tr.ro + "/../out/file", "EACCES"},
		{"read:/" + secret, "EACCES"},
		{"read:" + strings.ReplaceAll(secret, "/", "//"), "EACCES"},
		{"read:/proc/self/root" + secret, "EACCES"},
		{"openat:" + tr.ro + ":" + rel, "EACCES"},
		{"read:/etc/hostname", "EACCES"},
	})
}

func TestLandlockWriteAndTruncate(t *testing.T) {
	requireLandlockABI(t, 3)
	tr := newTree(t)
	checkOps(t, tr.policy(), []opCase{
		{"write:" + filepath.Join(tr.rw, "file"), "OK"},
		{"otrunc:" + filepath.Join(tr.rw, "file"), "OK"},
		{"truncate:" + filepath.Join(tr.rw, "file"), "OK"},
		{"create:" + filepath.Join(tr.rw, "new"), "OK"},
		{"write:" + filepath.Join(tr.ro, "file"), "EACCES"},
		{"otrunc:" + filepath.Join(tr.ro, "file"), "EACCES"},
		{"truncate:" + filepath.Join(tr.ro, "file"), "EACCES"},
		{"create:" + filepath.Join(tr.ro, "new"), "EACCES"},
		{"create:" + filepath.Join(tr.out, "new"), "EACCES"},
	})
	// What the host kept: the read-only file is intact, the new file exists
	// only where writing was granted.
	if b, _ := os.ReadFile(filepath.Join(tr.ro, "file")); string(b) != "content" {
		t.Errorf("read-only file changed: %q", b)
	}
	if _, err := os.Stat(filepath.Join(tr.rw, "new")); err != nil {
		t.Errorf("file created in the writable dir is missing: %v", err)
	}
	for _, d := range []string{tr.ro, tr.out} {
		if _, err := os.Stat(filepath.Join(d, "new")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s/new exists", d)
		}
	}
}

func TestLandlockRenameLinkAcrossRules(t *testing.T) {
	requireLandlockABI(t, 2)
	tr := newTree(t)
	rw2 := filepath.Join(tr.root, "rw2")
	os.Mkdir(rw2, 0o755)
	p := tr.policy()
	p.Filesystem.Write = append(p.Filesystem.Write, rw2)
	checkOps(t, p, []opCase{
		// Positive twins: within and between writable trees (REFER granted).
		{"rename:" + filepath.Join(tr.rw, "file") + ":" + filepath.Join(tr.rw, "moved"), "OK"},
		{"rename:" + filepath.Join(tr.rw, "moved") + ":" + filepath.Join(rw2, "moved"), "OK"},
		{"link:" + filepath.Join(rw2, "moved") + ":" + filepath.Join(tr.rw, "linked"), "OK"},
		// Out of a read-only tree, into it, or pulling a file into more rights.
		{"rename:" + filepath.Join(tr.ro, "file") + ":" + filepath.Join(tr.rw, "stolen"), "EACCES|EXDEV"},
		{"rename:" + filepath.Join(tr.rw, "linked") + ":" + filepath.Join(tr.ro, "planted"), "EACCES|EXDEV"},
		{"link:" + filepath.Join(tr.ro, "file") + ":" + filepath.Join(tr.rw, "hard"), "EXDEV|EACCES"},
		{"link:" + filepath.Join(tr.out, "file") + ":" + filepath.Join(tr.rw, "hard2"), "EXDEV|EACCES"},
	})
	if _, err := os.Stat(filepath.Join(tr.ro, "file")); err != nil {
		t.Errorf("read-only file moved away: %v", err)
	}
}

func TestLandlockReopenThroughProc(t *testing.T) {
	requireLandlockABI(t, 1)
	tr := newTree(t)
	checkOps(t, tr.policy(), []opCase{
		{"reopen:" + filepath.Join(tr.rw, "file"), "OK"},
		{"reopen:" + filepath.Join(tr.ro, "file"), "EACCES"},
	})
}

func TestLandlockNoDeviceNodes(t *testing.T) {
	requireLandlockABI(t, 1)
	if os.Geteuid() != 0 {
		t.Skip("needs root: mknod of a character device is allowed to root only")
	}
	tr := newTree(t)
	checkOps(t, tr.policy(), []opCase{
		{"mkfifo:" + filepath.Join(tr.rw, "fifo"), "OK"},
		{"mknodc:" + filepath.Join(tr.rw, "null"), "EACCES"},
	})
	if _, err := os.Stat(filepath.Join(tr.rw, "null")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a device node was created")
	}
}

func TestLandlockDeviceIoctl(t *testing.T) {
	requireLandlockABI(t, 5)
	// Read-only /dev/null: the ioctl is denied by Landlock (EACCES). With
	// write (which includes ioctl_dev) it reaches the driver (ENOTTY).
	ro := base()
	ro.Filesystem.WriteIfExists = nil
	ro.Filesystem.Read = []string{"/dev/null"}
	checkOps(t, ro, []opCase{{"ioctl:/dev/null", "EACCES"}})
	checkOps(t, base(), []opCase{{"ioctl:/dev/null", "ENOTTY"}})
}

func TestLandlockScopes(t *testing.T) {
	requireLandlockABI(t, 6)
	name := fmt.Sprintf("sandlock-test-%d", os.Getpid())
	l, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	checkOps(t, base(), []opCase{
		{"connect-abstract:" + name, "EPERM"},
		{"self-abstract:" + name + "-inner", "OK"},
		{"kill-parent", "EPERM"},
		{"kill-self", "OK"},
	})
	// The host's listener still works for the host.
	c, err := net.Dial("unix", "@"+name)
	if err != nil {
		t.Fatalf("host connect: %v", err)
	}
	c.Close()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestLandlockTCPBind(t *testing.T) {
	requireLandlockABI(t, 4)
	allowed, other := freePort(t), freePort(t)
	p := base()
	p.Network.Bind = []string{fmt.Sprint(allowed)}
	checkOps(t, p, []opCase{
		{fmt.Sprintf("bind:%d", allowed), "OK"},
		{fmt.Sprintf("bind:%d", other), "EACCES"},
	})
	p.Network.Bind = []string{"*"}
	checkOps(t, p, []opCase{{fmt.Sprintf("bind:%d", other), "OK"}})
	// TCP connect is denied by default (the network layer grants ports).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	checkOps(t, base(), []opCase{{fmt.Sprintf("connect:%d", l.Addr().(*net.TCPAddr).Port), "EACCES"}})
}

// TestLandlockThreadsAndReexec: every thread of a multi-threaded program,
// and the program it execs, are confined.
func TestLandlockThreadsAndReexec(t *testing.T) {
	requireLandlockABI(t, 1)
	tr := newTree(t)
	good, bad := filepath.Join(tr.ro, "file"), filepath.Join(tr.out, "file")
	got := probe(t, tr.policy(), "threads:"+good, "threads:"+bad, "reexec", "threads:"+good, "read:"+bad)
	// The re-exec'd program prints the same op names again: map keeps the
	// last, so check the full set by counting.
	if got["threads:"+good] != "OK" || got["threads:"+bad] != "EACCES" || got["read:"+bad] != "EACCES" {
		t.Fatalf("got %v", got)
	}
}

func TestLandlockBadPaths(t *testing.T) {
	p := base()
	p.Filesystem.Read = []string{"/nonexistent/dir"}
	err := sandlock.Command(p, "true").Create()
	var pe *sandlock.PolicyError
	if !errors.As(err, &pe) || pe.Field != "filesystem.read" || !strings.Contains(err.Error(), "/nonexistent/dir") {
		t.Fatalf("missing read path: %v", err)
	}
	p = base()
	p.Filesystem.ReadIfExists = append(p.Filesystem.ReadIfExists, "/nonexistent/dir")
	if err := sandlock.Command(p, "true").Run(); err != nil {
		t.Fatalf("read_if_exists with a missing path: %v", err)
	}
	p = base()
	p.Network.Bind = []string{"80-70"}
	if err := sandlock.Command(p, "true").Create(); err == nil || !strings.Contains(err.Error(), "network.bind") {
		t.Fatalf("bad port range: %v", err)
	}
}

func TestLandlockProtections(t *testing.T) {
	requireLandlockABI(t, 7)
	sb := sandlock.Command(base(), "true")
	defer sb.Close()
	if err := sb.Create(); err != nil {
		t.Fatal(err)
	}
	prot := sb.Protections()
	names := map[string]bool{}
	for _, p := range prot {
		names[p.Name] = p.Enforced
	}
	for _, n := range []string{"execute", "write_file", "refer", "truncate", "ioctl_dev", "bind_tcp", "connect_tcp", "scope abstract unix socket", "scope signal"} {
		if !names[n] {
			t.Errorf("protection %q not enforced on ABI 7 (%v)", n, prot)
		}
	}
}

// TestLandlockDefaultDeny: an empty policy grants nothing, not even the
// program: the exec is refused.
func TestLandlockDefaultDeny(t *testing.T) {
	requireLandlockABI(t, 1)
	err := sandlock.Command(sandlock.Policy{}, "/bin/true").Run()
	var ce *sandlock.ChildError
	if !errors.As(err, &ce) || !strings.HasPrefix(ce.Op, "execve ") || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("empty policy: %v", err)
	}
	if err := sandlock.Command(base(), "/bin/true").Run(); err != nil {
		t.Fatalf("base policy: %v", err)
	}
}
