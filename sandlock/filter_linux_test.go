//go:build linux

package sandlock

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/bpfasm"
)

// TestFilterConstants checks the constants the compiler spells out against
// x/sys/unix on the running architecture.
func TestFilterConstants(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uint64
	}{
		{"EPERM", errnoEPERM, uint64(unix.EPERM)},
		{"ENOSYS", errnoENOSYS, uint64(unix.ENOSYS)},
		{"EAFNOSUPPORT", errnoEAFNOSUPPORT, uint64(unix.EAFNOSUPPORT)},
		{"AF_UNIX", afUNIX, unix.AF_UNIX},
		{"AF_INET", afINET, unix.AF_INET},
		{"AF_INET6", afINET6, unix.AF_INET6},
		{"AF_NETLINK", afNETLINK, unix.AF_NETLINK},
		{"SOCK_STREAM", sockStream, unix.SOCK_STREAM},
		{"SOCK_DGRAM", sockDgram, unix.SOCK_DGRAM},
		{"CLONE_NEW*", cloneNamespaces, unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
			unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET},
		{"CLONE_THREAD", cloneThreadFlag, unix.CLONE_THREAD},
		{"CLONE_PARENT", cloneParentFlag, unix.CLONE_PARENT},
		{"PR_SET_DUMPABLE", prSetDumpable, unix.PR_SET_DUMPABLE},
		{"PR_SET_SECUREBITS", prSetSecurebits, unix.PR_SET_SECUREBITS},
		{"PR_SET_PTRACER", prSetPtracer, unix.PR_SET_PTRACER},
		{"AUDIT_ARCH_X86_64", auditArchX86_64, unix.AUDIT_ARCH_X86_64},
		{"AUDIT_ARCH_I386", auditArchI386, unix.AUDIT_ARCH_I386},
		{"AUDIT_ARCH_AARCH64", auditArchAArch64, unix.AUDIT_ARCH_AARCH64},
		{"AUDIT_ARCH_ARM", auditArchARM, unix.AUDIT_ARCH_ARM},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %#x, x/sys/unix has %#x", tc.name, tc.got, tc.want)
		}
	}
	ioctls := []uint64{unix.TIOCSTI, unix.TIOCLINUX, unix.SIOCGIFNAME, unix.SIOCGIFCONF, unix.SIOCGIFFLAGS,
		unix.SIOCGIFADDR, unix.SIOCGIFDSTADDR, unix.SIOCGIFBRDADDR, unix.SIOCGIFNETMASK, unix.SIOCGIFMETRIC,
		unix.SIOCGIFMEM, unix.SIOCGIFMTU, unix.SIOCGIFENCAP, unix.SIOCGIFHWADDR, unix.SIOCGIFSLAVE,
		unix.SIOCGIFINDEX, unix.SIOCGIFPFLAGS, unix.SIOCGIFCOUNT, unix.SIOCGIFBR, unix.SIOCGIFTXQLEN,
		unix.SIOCETHTOOL, unix.SIOCGIFMAP, 0xaa00, /* USERFAULTFD_IOC_NEW = _IO(0xAA, 0x00) */
		0x40046602 /* FS_IOC32_SETFLAGS = _IOW('f', 2, int) */, 0x40047602, /* FS_IOC32_SETVERSION = _IOW('v', 2, int) */
		unix.FS_IOC_SETFLAGS, 0x40087602 /* FS_IOC_SETVERSION = _IOW('v', 2, long) */, 0x401c5820 /* FS_IOC_FSSETXATTR = _IOW('X', 32, struct fsxattr) */}
	if len(ioctls) != len(deniedIoctls) {
		t.Fatalf("%d ioctls, x/sys list has %d", len(deniedIoctls), len(ioctls))
	}
	for i, v := range ioctls {
		if uint64(deniedIoctls[i]) != v {
			t.Errorf("deniedIoctls[%d] = %#x, x/sys/unix has %#x", i, deniedIoctls[i], v)
		}
	}
	// The native table is x/sys/unix's.
	a := archFor("")
	if a == nil {
		t.Skipf("no system call table for %s", runtime.GOARCH)
	}
	for name, nr := range map[string]int{"read": unix.SYS_READ, "execve": unix.SYS_EXECVE, "clone3": unix.SYS_CLONE3,
		"mount_setattr": unix.SYS_MOUNT_SETATTR, "landlock_restrict_self": unix.SYS_LANDLOCK_RESTRICT_SELF} {
		if got, _ := a.nr(name); got != nr {
			t.Errorf("%s: table %d, x/sys/unix %d", name, got, nr)
		}
	}
	if a.audit != nativeAudit() {
		t.Errorf("native audit arch %#x", a.audit)
	}
}

func nativeAudit() uint32 {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64
	}
	return 0
}

// TestSeccompProgramPolicy: the program plan.go installs is the compiled
// default, and the test hook turns it off.
func TestSeccompProgramPolicy(t *testing.T) {
	var p Policy
	sf, err := p.seccompProgram()
	if err != nil || len(sf) == 0 {
		t.Fatalf("seccompProgram: %d instructions, %v", len(sf), err)
	}
	f, err := CompileSeccomp(p, SeccompOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sf) != len(f.Program) {
		t.Fatalf("%d vs %d instructions", len(sf), len(f.Program))
	}
	for i, ins := range f.Program {
		if (bpfasm.Instruction{Code: sf[i].Code, Jt: sf[i].Jt, Jf: sf[i].Jf, K: sf[i].K}) != ins {
			t.Fatalf("instruction %d differs", i)
		}
	}
	p.seccomp.disabled = true
	if sf, err := p.seccompProgram(); sf != nil || err != nil {
		t.Fatalf("disabled: %d instructions, %v", len(sf), err)
	}
}
