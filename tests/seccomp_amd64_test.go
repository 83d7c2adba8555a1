package tests

import (
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/sandlock"
	"github.com/sandlock-go/sandlock-go/tests/testelf"
)

// archDenyCases are the deny-list calls only amd64 has.
func archDenyCases() []opCase {
	return []opCase{
		{raw(unix.SYS_IOPERM, 0, 0, 0), epermOK}, // EINVAL without the filter
		{raw(unix.SYS_IOPL, 0), epermOK},         // a no-op without the filter
	}
}

// TestSeccompArchGuards: a getpid through the x32 ABI or through int 0x80
// kills the program with SIGSYS; the same getpid through the native entry
// runs.
func TestSeccompArchGuards(t *testing.T) {
	dir := t.TempDir()
	progs := map[testelf.Entry]string{}
	for _, e := range []testelf.Entry{testelf.Native, testelf.X32, testelf.Int80} {
		p, err := testelf.WriteSyscallProgram(dir, e)
		if err != nil {
			t.Fatal(err)
		}
		progs[e] = p
	}
	policy := base()
	policy.Filesystem.Read = append(policy.Filesystem.Read, dir)
	for _, tc := range []struct {
		entry testelf.Entry
		sig   syscall.Signal // 0: exits 0
	}{
		{testelf.Native, 0},
		{testelf.X32, syscall.SIGSYS},
		{testelf.Int80, syscall.SIGSYS},
	} {
		t.Run(string(tc.entry), func(t *testing.T) {
			if tc.entry == testelf.Int80 {
				// Without the sandbox the program must run: otherwise
				// the kernel has no IA32 emulation and int 0x80 never
				// reaches seccomp.
				if err := exec.Command(progs[tc.entry]).Run(); err != nil {
					t.Skipf("int 0x80 does not work outside the sandbox (kernel without IA32 emulation?): %v", err)
				}
			}
			_, _, err := run(t, sandlock.Command(policy, progs[tc.entry]))
			switch got := signalOf(err); {
			case tc.sig == 0 && err != nil:
				t.Fatalf("native getpid: %v", err)
			case got != tc.sig:
				t.Fatalf("got %v (signal %v), want signal %v", err, got, tc.sig)
			}
		})
	}
}

// x32Program writes the x32 getpid program.
func x32Program(t *testing.T) (string, error) {
	return testelf.WriteSyscallProgram(t.TempDir(), testelf.X32)
}

// sysFork is the fork system call; arm64 has none.
const sysFork = unix.SYS_FORK
