package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	// fliprace:ALLOWED:DENIED:N:SECRET opens the path in one buffer N times while
	// two other threads keep rewriting that buffer between ALLOWED and
	// DENIED (same length). It fails with "opened=A failed=F leaked=L"
	// always, so that the test sees the counts: leaked counts opens that
	// read DENIED's content.
	extraProbeOps["fliprace"] = func(a []string) error {
		allowed, denied := []byte(a[0]+"\x00"), []byte(a[1]+"\x00")
		n, _ := strconv.Atoi(a[2])
		secret := []byte(a[3])
		buf := make([]byte, len(allowed))
		copy(buf, allowed)
		var stop atomic.Bool
		done := make(chan struct{}, 2)
		for range 2 {
			go func() {
				runtime.LockOSThread()
				for i := 0; !stop.Load(); i++ {
					src := allowed
					if i%2 == 1 {
						src = denied
					}
					for j := range src {
						*(*byte)(unsafe.Pointer(&buf[j])) = src[j] // racy on purpose
					}
				}
				done <- struct{}{}
			}()
		}
		opened, failed, leaked := 0, 0, 0
		rd := make([]byte, 256)
		p := uintptr(unsafe.Pointer(&buf[0])) // AT_FDCWD is -100: ^uintptr(99)
		for range n {
			fd, _, e := unix.Syscall6(unix.SYS_OPENAT, ^uintptr(99), p, unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
			if e != 0 {
				failed++
				continue
			}
			opened++
			m, _ := unix.Read(int(fd), rd)
			if m > 0 && len(secret) > 0 && strings.Contains(string(rd[:m]), strings.TrimSpace(string(secret))) {
				leaked++
			}
			unix.Close(int(fd))
		}
		stop.Store(true)
		<-done
		<-done
		runtime.KeepAlive(buf)
		return fmt.Errorf("opened=%d failed=%d leaked=%d", opened, failed, leaked)
	}
}

// TestFSDenyRace: threads rewrite the path buffer between an allowed and
// the denied path while the program opens it 20 000 times; the denied
// file is never opened (its content never read), while the allowed one
// is, many times (the twin, in the same run).
func TestFSDenyRace(t *testing.T) {
	dir := t.TempDir()
	allowed := filepath.Join(dir, "aaaaaa")
	denied := filepath.Join(dir, "secret")
	must(t, os.WriteFile(allowed, []byte("harmless"), 0o644))
	must(t, os.WriteFile(denied, []byte(secretText), 0o644))
	p := withoutProc(base())
	p.Filesystem.Read = []string{dir}
	p.Filesystem.Deny = []string{denied}
	op := "fliprace:" + allowed + ":" + denied + ":20000:" + secretText
	got := probe(t, p, op)[op]
	var opened, failed, leaked int
	if _, err := fmt.Sscanf(got, "error opened=%d failed=%d leaked=%d", &opened, &failed, &leaked); err != nil {
		t.Fatalf("probe said %q", got)
	}
	t.Logf("opened=%d failed=%d leaked=%d", opened, failed, leaked)
	if leaked != 0 {
		t.Errorf("the denied file was read %d times", leaked)
	}
	if opened == 0 || failed == 0 {
		t.Errorf("the race did not exercise both paths: opened=%d failed=%d", opened, failed)
	}
}
