//go:build linux

package clone3

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestMsghdrLayout(t *testing.T) {
	var m unix.Msghdr
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"iov", unsafe.Offsetof(m.Iov), msghdrIov},
		{"iovlen", unsafe.Offsetof(m.Iovlen), msghdrIovlen},
		{"control", unsafe.Offsetof(m.Control), msghdrControl},
		{"controllen", unsafe.Offsetof(m.Controllen), msghdrControllen},
		{"size", unsafe.Sizeof(m), msghdrSize},
		{"clone_args", hCloneArgs + unix.CLONE_ARGS_SIZE_VER2, hMainOnly},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

func spawnEcho(t *testing.T, legacy bool, dir string) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	attr := &Attr{
		Path:    "/bin/sh",
		Argv:    []string{"sh", "-c", "echo hello; cat /proc/self/status; ls /proc/self/fd"},
		Env:     []string{"PATH=/usr/bin:/bin"},
		Files:   []int{0, int(w.Fd()), 2},
		Dir:     dir,
		Setpgid: true,
		Legacy:  legacy,
		Rlimits: []Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: 1024, Max: 4096}},
	}
	c, err := Spawn(context.Background(), attr)
	w.Close()
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Release(context.Background()); err != nil {
		t.Fatalf("release: %v", err)
	}
	out, _ := io.ReadAll(r)
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PIDFD, c.Pidfd, &info, unix.WEXITED, nil); err != nil {
		t.Fatal(err)
	}
	return string(out), nil
}

func TestSpawnEcho(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		out, err := spawnEcho(t, legacy, "/")
		if err != nil {
			t.Fatalf("legacy=%v: %v", legacy, err)
		}
		if !strings.HasPrefix(out, "hello\n") || !strings.Contains(out, "SigBlk:\t0000000000000000") || !strings.Contains(out, "SigCgt:\t0000000000000000") {
			t.Errorf("legacy=%v: output %q", legacy, out)
		}
		t.Logf("legacy=%v: %q", legacy, out)
	}
}

func TestSpawnBadDir(t *testing.T) {
	_, err := spawnEcho(t, false, "/nonexistent")
	var ce *ChildError
	if !errors.As(err, &ce) || ce.Op != "chdir /nonexistent" || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("got %v", err)
	}
	if got := err.Error(); got != "chdir /nonexistent: no such file or directory" {
		t.Errorf("message %q", got)
	}
}

// TestSpawnListenerByPidfd: with Seccomp.ListenerByPidfd the child makes
// no sendmsg after its filter (a filter that kills sendmsg lets it start)
// and the parent still gets a working listener (NOTIF_ID_VALID on a
// made-up id answers ENOENT, which only a seccomp listener does), both
// with clone3 and with the clone(2) fallback.
func TestSpawnListenerByPidfd(t *testing.T) {
	// ld [0]; jeq SYS_SENDMSG ? kill : allow
	filter := []unix.SockFilter{
		{Code: 0x20, K: 0},
		{Code: 0x15, Jt: 0, Jf: 1, K: unix.SYS_SENDMSG},
		{Code: 0x06, K: unix.SECCOMP_RET_KILL_PROCESS},
		{Code: 0x06, K: unix.SECCOMP_RET_ALLOW},
	}
	for _, legacy := range []bool{false, true} {
		attr := &Attr{
			Path:       "/bin/true",
			Argv:       []string{"true"},
			Files:      []int{0, 1, 2},
			Setpgid:    true,
			Legacy:     legacy,
			NoNewPrivs: true,
			Seccomp:    &Seccomp{Filter: filter, Flags: unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, ListenerByPidfd: true},
		}
		c, err := Spawn(context.Background(), attr)
		if err != nil {
			t.Fatalf("legacy=%v: %v", legacy, err)
		}
		if c.Listener == nil {
			t.Fatalf("legacy=%v: no listener", legacy)
		}
		id := uint64(1 << 62)
		_, _, e := unix.Syscall(unix.SYS_IOCTL, c.Listener.Fd(), unix.SECCOMP_IOCTL_NOTIF_ID_VALID, uintptr(unsafe.Pointer(&id)))
		if e != unix.ENOENT {
			t.Errorf("legacy=%v: ID_VALID on the listener: %v, want ENOENT", legacy, e)
		}
		if err := c.Release(context.Background()); err != nil {
			t.Fatalf("legacy=%v: release: %v", legacy, err)
		}
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_PIDFD, c.Pidfd, &info, unix.WEXITED, nil); err != nil {
			t.Fatal(err)
		}
		c.Close()
		// The twin: the SCM_RIGHTS hand-off's sendmsg is killed by the
		// same filter, so the child dies before READY.
		attr.Seccomp.ListenerByPidfd = false
		if c, err := Spawn(context.Background(), attr); err == nil {
			c.Close()
			t.Errorf("legacy=%v: READY by sendmsg got past a filter that kills sendmsg", legacy)
		}
	}
}
