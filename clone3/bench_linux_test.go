//go:build linux

package clone3

import (
	"context"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/tests/testelf"
)

// BenchmarkLockedThreadRoundTrip measures the hand-off to the spawner thread
// alone (no clone).
func BenchmarkLockedThreadRoundTrip(b *testing.B) {
	req := make(chan chan struct{})
	go func() {
		runtime.LockOSThread()
		for r := range req {
			close(r)
		}
	}()
	for b.Loop() {
		r := make(chan struct{})
		req <- r
		<-r
	}
	close(req)
}

// BenchmarkSpawnReleaseWait: the clone3 engine alone, no sandlock layer.
func BenchmarkSpawnReleaseWait(b *testing.B) {
	target, err := testelf.WriteExitProgram(b.TempDir(), 0)
	if err != nil {
		b.Fatal(err)
	}
	null, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	defer null.Close()
	fd := int(null.Fd())
	attr := &Attr{Path: target, Argv: []string{target}, Files: []int{fd, fd, fd}, Setpgid: true, NoNewPrivs: true,
		Rlimits: []Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: 1024, Max: 1024}}}
	for b.Loop() {
		c, err := Spawn(context.Background(), attr)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Release(context.Background()); err != nil {
			b.Fatal(err)
		}
		var info unix.Siginfo
		unix.Waitid(unix.P_PIDFD, c.Pidfd, &info, unix.WEXITED, nil)
		c.Close()
	}
}
