package landlockabi

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// These tests call the real kernel. Anything that restricts a process does
// so in a helper child (see main_test.go), never in the test process.

// kernelMinABI returns the Landlock ABI that a mainline kernel of release
// (uname -r) has at least, when it is built with Landlock enabled.
func kernelMinABI(release string) int {
	var major, minor int
	fmt.Sscanf(release, "%d.%d", &major, &minor)
	v := major*1000 + minor
	for _, r := range []struct{ kernel, abi int }{
		{6015, 7}, {6012, 6}, {6010, 5}, {6007, 4}, {6002, 3}, {5019, 2}, {5013, 1},
	} {
		if v >= r.kernel {
			return r.abi
		}
	}
	return 0
}

func TestABIVersion(t *testing.T) {
	abi, err := ABIVersion()
	if errors.Is(err, ErrNotSupported) {
		if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP) {
			t.Errorf("ErrNotSupported without ENOSYS/EOPNOTSUPP: %v", err)
		}
		t.Skipf("needs Landlock, kernel has none: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(uts.Release[:])
	t.Logf("kernel %s: Landlock ABI %d", release, abi)
	if want := kernelMinABI(release); abi < want {
		t.Errorf("ABIVersion() = %d, but Linux %s has at least ABI %d", abi, release, want)
	}
	if want := os.Getenv("LANDLOCKABI_TEST_ABI"); want != "" && want != strconv.Itoa(abi) {
		t.Errorf("ABIVersion() = %d, LANDLOCKABI_TEST_ABI says %s", abi, want)
	}
}

// TestABIVersionWithoutLandlock plays a kernel without Landlock and one
// with Landlock disabled at boot: a seccomp filter in a helper child fails
// landlock_create_ruleset with ENOSYS or EOPNOTSUPP.
func TestABIVersionWithoutLandlock(t *testing.T) {
	expectSteps(t, -1,
		[2]string{"abiversion", "ok"},
		[2]string{"nnp", "ok"},
		[2]string{"seccomp-errno:ENOSYS", "ok"},
		[2]string{"abiversion", "ENOSYS notsupported"},
	)
	expectSteps(t, -1,
		[2]string{"nnp", "ok"},
		[2]string{"seccomp-errno:EOPNOTSUPP", "ok"},
		[2]string{"abiversion", "ENOTSUP notsupported"}, // ENOTSUP == EOPNOTSUPP on Linux
	)
}

func TestErrata(t *testing.T) {
	requireABI(t, 1, "the errata query")
	errata, err := Errata()
	if errors.Is(err, ErrNotSupported) {
		if !errors.Is(err, unix.EINVAL) {
			t.Errorf("errata ErrNotSupported without EINVAL: %v", err)
		}
		t.Skipf("needs the Landlock errata query (Linux 6.15 or a backport): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Landlock errata bitmask %#x", errata)
}

// newRuleset creates a ruleset for the test and closes it at cleanup.
func newRuleset(t *testing.T, attr RulesetAttr, size uintptr) int {
	t.Helper()
	fd, err := CreateRuleset(&attr, size, 0)
	if err != nil {
		t.Fatalf("CreateRuleset(%+v, %d): %v", attr, size, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func requireCloexec(t *testing.T, fd int) {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("fd %d is not O_CLOEXEC", fd)
	}
}

// TestTableMatchesKernel checks the ABI table against the running kernel:
// every feature the table gives its ABI is accepted, one at a time and all
// together, with the ABI's attr size; bits beyond it are refused with
// EINVAL.
func TestTableMatchesKernel(t *testing.T) {
	abi := requireABI(t, 1, "a ruleset")
	v := min(abi, MaxKnownABI)
	all := ABIFeatures(v)
	fd := newRuleset(t, all.Attr(), AttrSize(v))
	requireCloexec(t, fd)
	// Over-sized but zero-tailed attrs are accepted on every ABI.
	newRuleset(t, RulesetAttr{HandledAccessFS: LANDLOCK_ACCESS_FS_READ_FILE}, SizeofRulesetAttr)

	// Each older ABI's features with its own attr size.
	for old := 1; old < v; old++ {
		newRuleset(t, ABIFeatures(old).Attr(), AttrSize(old))
	}
	for _, f := range all.List() {
		if f.Kind == KindRestrictFlag {
			continue // Checked in TestRestrictSelfFlags.
		}
		t.Run(f.String(), func(t *testing.T) {
			newRuleset(t, Features{}.with(f).Attr(), AttrSize(v))
		})
	}
	if abi > MaxKnownABI {
		t.Logf("kernel ABI %d is newer than this package's table (%d): not checking unknown bits", abi, MaxKnownABI)
		return
	}
	for _, tc := range []struct {
		kind Kind
		mask uint64
	}{
		{KindAccessFS, all.HandledAccessFS},
		{KindAccessNet, all.HandledAccessNet},
		{KindScope, all.Scoped},
	} {
		if tc.kind == KindAccessNet && v < 4 || tc.kind == KindScope && v < 6 {
			continue // The size cannot carry the field.
		}
		for bit := range 64 {
			x := Feature{tc.kind, uint64(1) << bit}
			if tc.mask&x.Bit != 0 {
				continue
			}
			attr := Features{}.with(x).Attr()
			attr.HandledAccessFS |= LANDLOCK_ACCESS_FS_READ_FILE // Not empty without x.
			fd, err := CreateRuleset(&attr, AttrSize(v), 0)
			if err == nil {
				unix.Close(fd)
				t.Errorf("ABI %d: kernel accepts %v, which the table does not give it", abi, x)
				continue
			}
			var se *SyscallError
			if !errors.Is(err, unix.EINVAL) || errors.Is(err, ErrNotSupported) || !errors.As(err, &se) || se.Op != "landlock_create_ruleset" {
				t.Errorf("CreateRuleset with unknown %v: %v, want a *SyscallError wrapping EINVAL", x, err)
			}
		}
	}
}

func TestCreateRulesetErrors(t *testing.T) {
	requireABI(t, 1, "a ruleset")
	for _, tc := range []struct {
		name  string
		attr  RulesetAttr
		size  uintptr
		flags uint32
		errno unix.Errno
		msg   string
	}{
		{"unknown fs right", RulesetAttr{HandledAccessFS: 1 << 63}, 8, 0, unix.EINVAL, "landlock_create_ruleset: invalid argument"},
		{"handles nothing", RulesetAttr{}, 8, 0, unix.ENOMSG, "landlock_create_ruleset: no message of desired type (the ruleset handles no access right and no scope)"},
		{"size too small", RulesetAttr{HandledAccessFS: 1}, 4, 0, unix.EINVAL, "landlock_create_ruleset: invalid argument"},
		{"flags with attr", RulesetAttr{HandledAccessFS: 1}, 8, LANDLOCK_CREATE_RULESET_VERSION, unix.EINVAL, "landlock_create_ruleset: invalid argument"},
		// Refused before the system call.
		{"size cuts net", RulesetAttr{HandledAccessFS: 1, HandledAccessNet: 1}, 8, 0, unix.EINVAL,
			"landlock_create_ruleset: attr size 8 leaves out handled_access_net 0x1 (needs size 16): invalid argument"},
		{"size cuts scoped", RulesetAttr{Scoped: 2}, 16, 0, unix.EINVAL,
			"landlock_create_ruleset: attr size 16 leaves out scoped 0x2 (needs size 24): invalid argument"},
		{"size too big", RulesetAttr{HandledAccessFS: 1}, 32, 0, unix.EINVAL,
			"landlock_create_ruleset: attr size 32 is larger than struct landlock_ruleset_attr (24 bytes): invalid argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd, err := CreateRuleset(&tc.attr, tc.size, tc.flags)
			if err == nil {
				unix.Close(fd)
				t.Fatalf("CreateRuleset succeeded, want %v", tc.errno)
			}
			if fd != -1 || !errors.Is(err, tc.errno) || errors.Is(err, ErrNotSupported) || err.Error() != tc.msg {
				t.Errorf("CreateRuleset = %d, %q; want -1, %q wrapping %v", fd, err, tc.msg, tc.errno)
			}
		})
	}
}

func TestAddRuleErrors(t *testing.T) {
	abi := requireABI(t, 4, "TCP port rules")
	v := min(abi, MaxKnownABI)
	fd := newRuleset(t, RulesetAttr{
		HandledAccessFS:  LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR,
		HandledAccessNet: LANDLOCK_ACCESS_NET_BIND_TCP,
	}, AttrSize(v))
	dir, err := unix.Open(t.TempDir(), unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dir)
	file, err := unix.Open("/proc/self/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(file)
	notRuleset, err := unix.Open("/proc/self/exe", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(notRuleset)

	for _, tc := range []struct {
		name  string
		err   error
		errno unix.Errno // 0: success
		op    string
	}{
		{"path ok", AddPathBeneathRule(fd, LANDLOCK_ACCESS_FS_READ_FILE|LANDLOCK_ACCESS_FS_READ_DIR, dir), 0, ""},
		{"file right on file", AddPathBeneathRule(fd, LANDLOCK_ACCESS_FS_READ_FILE, file), 0, ""},
		{"dir right on file", AddPathBeneathRule(fd, LANDLOCK_ACCESS_FS_READ_DIR, file), unix.EINVAL, "landlock_add_rule path-beneath"},
		{"unhandled right", AddPathBeneathRule(fd, LANDLOCK_ACCESS_FS_EXECUTE, dir), unix.EINVAL, "landlock_add_rule path-beneath"},
		{"no right", AddPathBeneathRule(fd, 0, dir), unix.ENOMSG, "landlock_add_rule path-beneath"},
		{"bad parent fd", AddPathBeneathRule(fd, LANDLOCK_ACCESS_FS_READ_FILE, -1), unix.EBADF, "landlock_add_rule path-beneath"},
		{"not a ruleset", AddPathBeneathRule(notRuleset, LANDLOCK_ACCESS_FS_READ_FILE, dir), unix.EBADFD, "landlock_add_rule path-beneath"},
		{"O_PATH ruleset fd", AddPathBeneathRule(dir, LANDLOCK_ACCESS_FS_READ_FILE, dir), unix.EBADF, "landlock_add_rule path-beneath"},
		{"port ok", AddNetPortRule(fd, LANDLOCK_ACCESS_NET_BIND_TCP, 8080), 0, ""},
		{"unhandled net right", AddNetPortRule(fd, LANDLOCK_ACCESS_NET_CONNECT_TCP, 8080), unix.EINVAL, "landlock_add_rule net-port"},
		{"port too big", AddNetPortRule(fd, LANDLOCK_ACCESS_NET_BIND_TCP, 65536), unix.EINVAL, "landlock_add_rule net-port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.errno == 0 {
				if tc.err != nil {
					t.Fatal(tc.err)
				}
				return
			}
			var se *SyscallError
			if !errors.Is(tc.err, tc.errno) || !errors.As(tc.err, &se) || se.Op != tc.op ||
				!strings.HasPrefix(tc.err.Error(), tc.op+": ") {
				t.Errorf("got %v, want %s: %v", tc.err, tc.op, tc.errno)
			}
		})
	}
}

// fsFixture is two directories, each with a file, and a lone file in a
// third directory.
type fsFixture struct {
	in, out, lonely     string // directories
	inFile, outFile     string
	lonelyFile, sibling string
}

func newFSFixture(t *testing.T) fsFixture {
	root := t.TempDir()
	f := fsFixture{
		in: filepath.Join(root, "in"), out: filepath.Join(root, "out"), lonely: filepath.Join(root, "lonely"),
	}
	f.inFile = filepath.Join(f.in, "a.txt")
	f.outFile = filepath.Join(f.out, "b.txt")
	f.lonelyFile = filepath.Join(f.lonely, "granted.txt")
	f.sibling = filepath.Join(f.lonely, "sibling.txt")
	for _, d := range []string{f.in, f.out, f.lonely} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{f.inFile, f.outFile, f.lonelyFile, f.sibling} {
		if err := os.WriteFile(p, []byte("data\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// TestRestrictFilesystem: a ruleset that allows reading one directory and
// one regular file lets the child read them and nothing else.
func TestRestrictFilesystem(t *testing.T) {
	abi := requireABI(t, 1, "filesystem rules")
	v := min(abi, MaxKnownABI)
	f := newFSFixture(t)
	read := uint64(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
	fd, err := BuildRuleset(v, ABIFeatures(v).Attr(), []PathRule{
		{Path: f.in, Access: read},
		// A regular file: BuildRuleset keeps only the file rights.
		{Path: f.lonelyFile, Access: read},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	requireCloexec(t, fd)

	// Control: without the restriction everything is readable and
	// writable, so the denials below come from Landlock.
	expectSteps(t, fd,
		[2]string{"read:" + f.inFile, "ok"},
		[2]string{"read:" + f.outFile, "ok"},
		[2]string{"read:" + f.sibling, "ok"},
		[2]string{"write:" + f.inFile, "ok"},
	)
	expectSteps(t, fd,
		[2]string{"nnp", "ok"},
		[2]string{"restrict:0", "ok"},
		[2]string{"read:" + f.inFile, "ok"},
		[2]string{"read:" + f.in, "ok"}, // READ_DIR
		[2]string{"read:" + f.lonelyFile, "ok"},
		[2]string{"read:" + f.outFile, "EACCES"},
		[2]string{"read:" + f.sibling, "EACCES"},
		[2]string{"read:" + f.out, "EACCES"},
		[2]string{"read:" + filepath.Join(f.in, "..", "out", "b.txt"), "EACCES"},
		[2]string{"write:" + f.inFile, "EACCES"},
	)
}

func TestBuildRulesetErrors(t *testing.T) {
	abi := requireABI(t, 1, "filesystem rules")
	v := min(abi, MaxKnownABI)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	before := openFds()
	defer func() {
		if leaked := leakedFds(before, openFds()); len(leaked) > 0 {
			t.Errorf("leaked fds: %v", leaked)
		}
	}()
	attr := RulesetAttr{HandledAccessFS: LANDLOCK_ACCESS_FS_READ_FILE}

	_, err := BuildRuleset(v, attr, []PathRule{{Path: dir, Access: LANDLOCK_ACCESS_FS_READ_FILE}, {Path: missing, Access: LANDLOCK_ACCESS_FS_READ_FILE}}, nil)
	if !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), fmt.Sprintf("%q", missing)) {
		t.Errorf("missing path: %v, want ENOENT naming %q", err, missing)
	}

	// Rights the ruleset does not handle are cut from the rule, and a rule
	// left with no right is skipped.
	fd, err := BuildRuleset(v, attr, []PathRule{
		{Path: dir, Access: LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR},
		{Path: dir, Access: LANDLOCK_ACCESS_FS_READ_DIR},
	}, []NetRule{{Port: 80, Access: LANDLOCK_ACCESS_NET_BIND_TCP}})
	if err != nil {
		t.Errorf("unhandled rights: %v", err)
	} else {
		unix.Close(fd)
	}

	// attr beyond the ABI: refused before any system call.
	_, err = BuildRuleset(3, RulesetAttr{HandledAccessFS: LANDLOCK_ACCESS_FS_READ_FILE, HandledAccessNet: LANDLOCK_ACCESS_NET_BIND_TCP}, nil, nil)
	var ufe *UnsupportedFeatureError
	if !errors.As(err, &ufe) || !errors.Is(err, ErrNotSupported) || err.Error() != "landlockabi: Landlock ABI 3 cannot enforce bind_tcp (needs ABI 4)" {
		t.Errorf("net on ABI 3: %v", err)
	}
	_, err = BuildRuleset(0, attr, nil, nil)
	if !errors.Is(err, ErrNotSupported) {
		t.Errorf("ABI 0: %v, want ErrNotSupported", err)
	}

	if v >= 4 {
		fd, err := BuildRuleset(v, RulesetAttr{HandledAccessNet: LANDLOCK_ACCESS_NET_BIND_TCP}, nil,
			[]NetRule{{Port: 0, Access: LANDLOCK_ACCESS_NET_BIND_TCP}, {Port: 443, Access: LANDLOCK_ACCESS_NET_BIND_TCP}})
		if err != nil {
			t.Errorf("net rules: %v", err)
		} else {
			unix.Close(fd)
		}
	}
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	fd := tcpListener(t, 0)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	return sa.(*unix.SockaddrInet4).Port
}

// tcpListener listens on 127.0.0.1:port (0: any) until the test ends.
func tcpListener(t *testing.T, port int) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 8); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	if port != 0 {
		t.Cleanup(func() { unix.Close(fd) })
	}
	return fd
}

func listenerPort(t *testing.T) int {
	t.Helper()
	fd := tcpListener(t, 0)
	t.Cleanup(func() { unix.Close(fd) })
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*unix.SockaddrInet4).Port
}

// TestRestrictNetwork: TCP bind and connect are allowed on the ports of
// the rules and denied on others.
func TestRestrictNetwork(t *testing.T) {
	abi := requireABI(t, 4, "TCP rules")
	v := min(abi, MaxKnownABI)
	bindOK, bindDenied := freePort(t), freePort(t)
	connOK, connDenied := listenerPort(t), listenerPort(t)
	fd, err := BuildRuleset(v, RulesetAttr{HandledAccessNet: HandledNet(v)}, nil, []NetRule{
		{Port: uint16(bindOK), Access: LANDLOCK_ACCESS_NET_BIND_TCP},
		{Port: uint16(connOK), Access: LANDLOCK_ACCESS_NET_CONNECT_TCP},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	p := strconv.Itoa
	expectSteps(t, fd, // control
		[2]string{"bind:" + p(bindDenied), "ok"},
		[2]string{"connect:" + p(connDenied), "ok"},
	)
	expectSteps(t, fd,
		[2]string{"nnp", "ok"},
		[2]string{"restrict:0", "ok"},
		[2]string{"bind:" + p(bindOK), "ok"},
		[2]string{"bind:" + p(bindDenied), "EACCES"},
		[2]string{"connect:" + p(connOK), "ok"},
		[2]string{"connect:" + p(connDenied), "EACCES"},
	)
}

// TestScopeSignal: with LANDLOCK_SCOPE_SIGNAL the child cannot signal its
// parent but can still signal itself.
func TestScopeSignal(t *testing.T) {
	requireABI(t, 6, "signal scoping")
	fd := newRuleset(t, RulesetAttr{Scoped: LANDLOCK_SCOPE_SIGNAL}, AttrSize(6))
	parent := "kill:" + strconv.Itoa(os.Getpid())
	expectSteps(t, fd, // control
		[2]string{parent, "ok"},
		[2]string{"killself", "ok"},
	)
	expectSteps(t, fd,
		[2]string{"nnp", "ok"},
		[2]string{"restrict:0", "ok"},
		[2]string{parent, "EPERM"},
		[2]string{"killself", "ok"},
	)
}

// TestScopeAbstractUnixSocket: with LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET the
// child cannot connect to the parent's abstract socket but can connect to
// one it created itself.
func TestScopeAbstractUnixSocket(t *testing.T) {
	requireABI(t, 6, "abstract unix socket scoping")
	name := fmt.Sprintf("landlockabi-test-%d", os.Getpid())
	lfd, err := listenAbstract(name)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	fd := newRuleset(t, RulesetAttr{Scoped: LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET}, AttrSize(6))
	expectSteps(t, fd, // control
		[2]string{"connect-abstract:" + name, "ok"},
	)
	expectSteps(t, fd,
		[2]string{"nnp", "ok"},
		[2]string{"restrict:0", "ok"},
		[2]string{"connect-abstract:" + name, "EPERM"},
		[2]string{"listen-abstract:" + name + "-child", "ok"},
		[2]string{"connect-abstract:" + name + "-child", "ok"},
	)
}

// TestRestrictSelfNeedsNoNewPrivs: without no_new_privs and without
// CAP_SYS_ADMIN, landlock_restrict_self fails with EPERM. When the tests
// run as root, the helper first becomes nobody to lose CAP_SYS_ADMIN.
func TestRestrictSelfNeedsNoNewPrivs(t *testing.T) {
	requireABI(t, 1, "landlock_restrict_self")
	fd := newRuleset(t, RulesetAttr{HandledAccessFS: LANDLOCK_ACCESS_FS_MAKE_DIR}, AttrSize(1))
	var drop [][2]string
	if os.Geteuid() == 0 {
		drop = [][2]string{{"setuid:65534", "ok"}}
		// Root has CAP_SYS_ADMIN, which stands in for no_new_privs.
		expectSteps(t, fd, [2]string{"restrict:0", "ok"})
	}
	expectSteps(t, fd, append(drop, [2]string{"restrict:0", "EPERM"})...)
	expectSteps(t, fd, append(drop, [2]string{"nnp", "ok"}, [2]string{"restrict:0", "ok"})...)
}

// TestRestrictSelfFlags: the flags the table gives the kernel's ABI are
// accepted, an unknown flag is refused with EINVAL.
func TestRestrictSelfFlags(t *testing.T) {
	abi := requireABI(t, 7, "landlock_restrict_self logging flags")
	fd := newRuleset(t, RulesetAttr{HandledAccessFS: LANDLOCK_ACCESS_FS_MAKE_DIR}, AttrSize(1))
	all := strconv.FormatUint(uint64(RestrictFlags(abi)), 10)
	expectSteps(t, fd,
		[2]string{"nnp", "ok"},
		[2]string{"restrict:" + strconv.FormatUint(1<<31, 10), "EINVAL"},
		[2]string{"restrict:" + all, "ok"},
	)
	for _, f := range ABIFeatures(abi).List() {
		if f.Kind == KindRestrictFlag {
			expectSteps(t, fd, [2]string{"nnp", "ok"}, [2]string{"restrict:" + strconv.FormatUint(f.Bit, 10), "ok"})
		}
	}
	if abi == MaxKnownABI {
		// The next flag (TSYNC) belongs to a later ABI.
		expectSteps(t, fd, [2]string{"nnp", "ok"}, [2]string{"restrict:8", "EINVAL"})
	}
}

// TestReferEXDEV: a ruleset that cannot handle REFER (an ABI 1 ruleset)
// denies every rename across directories with EXDEV even where every other
// right is granted; an ABI 2 ruleset that grants REFER allows it.
func TestReferEXDEV(t *testing.T) {
	abi := requireABI(t, 2, "LANDLOCK_ACCESS_FS_REFER")
	v := min(abi, MaxKnownABI)
	for _, tc := range []struct {
		name    string
		ruleABI int
		want    string
	}{
		{"ABI1", 1, "EXDEV"},
		{"ABI2", 2, "ok"},
		{"current", v, "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFSFixture(t)
			root := filepath.Dir(f.in)
			handled := HandledFS(tc.ruleABI)
			fd, err := BuildRuleset(tc.ruleABI, RulesetAttr{HandledAccessFS: handled},
				[]PathRule{{Path: root, Access: handled}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			expectSteps(t, fd,
				[2]string{"nnp", "ok"},
				[2]string{"restrict:0", "ok"},
				[2]string{"rename:" + f.inFile + "|" + filepath.Join(f.in, "renamed.txt"), "ok"},
				[2]string{"rename:" + filepath.Join(f.in, "renamed.txt") + "|" + filepath.Join(f.out, "moved.txt"), tc.want},
			)
		})
	}
}
