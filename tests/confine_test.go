package tests

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

// runConfineHelper: started as a plain child of the test (never the test
// process itself). It starts threads, confines the whole process, then
// reports what each thread and an exec'd program can read.
func runConfineHelper(ro, secret string) int {
	type req struct {
		path string
		res  chan error
	}
	var workers []chan req
	for range 4 {
		c := make(chan req)
		workers = append(workers, c)
		go func() {
			runtime.LockOSThread() // each worker is its own OS thread, started before Confine
			for r := range c {
				fd, err := unix.Open(r.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err == nil {
					unix.Close(fd)
				}
				r.res <- err
			}
		}()
	}
	p := sandlock.Policy{}
	p.Filesystem.ReadIfExists = sandlock.SystemPaths
	p.Filesystem.Read = []string{ro}
	p.Filesystem.WriteIfExists = sandlock.SystemDevices
	if err := sandlock.Confine(p); err != nil {
		fmt.Println("confine:", err)
		return 1
	}
	for i, w := range workers {
		for _, path := range []string{ro + "/file", secret} {
			r := req{path, make(chan error)}
			w <- r
			fmt.Printf("thread%d %s: %s\n", i, path, errName(<-r.res))
		}
	}
	out, err := exec.Command("cat", secret).CombinedOutput()
	fmt.Printf("exec cat: %v %s", err != nil, strings.TrimSpace(string(out)))
	fmt.Println()
	return 0
}

func TestConfine(t *testing.T) {
	if cgoEnabled {
		t.Skip("Confine needs a CGO_ENABLED=0 build (syscall.AllThreadsSyscall); the README's test command builds that way")
	}
	tr := newTree(t)
	secret := tr.out + "/file"
	cmd := exec.Command(os.Args[0], "-test.run=^$", tr.ro, secret)
	cmd.Env = append(os.Environ(), helperEnv+"=confine")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	s := string(out)
	for i := range 4 {
		for _, want := range []string{
			fmt.Sprintf("thread%d %s/file: OK", i, tr.ro),
			fmt.Sprintf("thread%d %s: EACCES", i, secret),
		} {
			if !strings.Contains(s, want) {
				t.Errorf("missing %q in:\n%s", want, s)
			}
		}
	}
	if !strings.Contains(s, "exec cat: true") || !strings.Contains(s, "Permission denied") {
		t.Errorf("exec'd program not confined:\n%s", s)
	}
	// The test process itself was never confined.
	if _, err := os.ReadFile(secret); err != nil {
		t.Fatalf("test process lost access: %v", err)
	}
}

func TestConfineRejectsOtherFields(t *testing.T) {
	p := sandlock.Policy{}
	p.Limits.Timeout = 1
	p.Process.CleanEnv = true
	err := sandlock.Confine(p)
	if err == nil || !strings.Contains(err.Error(), "limits.timeout") || !strings.Contains(err.Error(), "process.clean_env") {
		t.Fatalf("Confine with other fields: %v", err)
	}
}
