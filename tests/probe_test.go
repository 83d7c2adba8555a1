package tests

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// runProbe is the program the Landlock tests run inside sandboxes: the test
// binary itself with SANDLOCK_TEST_HELPER=probe. Each argument is one
// operation "name:arg:arg"; it prints one line per operation, "OK" or the
// errno's name (EACCES, EXDEV, ...), so that the test asserts exactly what
// the program observed.
func runProbe(args []string) int {
	for i, op := range args {
		if op == "reexec" {
			// Re-exec ourselves with the remaining operations: the new
			// program must be just as confined.
			self, _ := os.Executable()
			err := syscall.Exec(self, append([]string{self}, args[i+1:]...), os.Environ())
			fmt.Printf("reexec: %s\n", errName(err))
			return 1
		}
		fmt.Printf("%s: %s\n", op, errName(probeOp(op)))
	}
	return 0
}

func errName(err error) string {
	if err == nil {
		return "OK"
	}
	var errno syscall.Errno
	if e, ok := err.(syscall.Errno); ok {
		errno = e
	} else if pe, ok := err.(*os.PathError); ok {
		errno, _ = pe.Err.(syscall.Errno)
	} else if se, ok := err.(*os.SyscallError); ok {
		errno, _ = se.Err.(syscall.Errno)
	}
	if errno != 0 {
		return unix.ErrnoName(errno)
	}
	return "error " + err.Error()
}

func retry(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}

func probeOp(op string) error {
	f := strings.Split(op, ":")
	switch f[0] {
	case "read":
		fd, err := unix.Open(f[1], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	case "write":
		fd, err := unix.Open(f[1], unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	case "otrunc":
		fd, err := unix.Open(f[1], unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	case "create":
		fd, err := unix.Open(f[1], unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
		if err == nil {
			unix.Close(fd)
		}
		return err
	case "openat": // openat:DIR:REL, read-only
		dfd, err := unix.Open(f[1], unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(dfd)
		fd, err := unix.Openat(dfd, f[2], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	case "truncate":
		return unix.Truncate(f[1], 0)
	case "rename":
		return unix.Rename(f[1], f[2])
	case "link":
		return unix.Link(f[1], f[2])
	case "mknodc": // a character device: /dev/null's numbers
		return unix.Mknod(f[1], unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3)))
	case "mkfifo":
		return unix.Mkfifo(f[1], 0o600)
	case "ioctl": // TCGETS on a device opened read-only
		fd, err := unix.Open(f[1], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		_, err = unix.IoctlGetTermios(fd, unix.TCGETS)
		return err
	case "reopen": // open read-only, then reopen through /proc/self/fd for writing
		fd, err := unix.Open(f[1], unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("first open: %w", err)
		}
		defer unix.Close(fd)
		fd2, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd2)
		}
		return err
	case "connect-abstract":
		s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(s)
		return unix.Connect(s, &unix.SockaddrUnix{Name: "@" + f[1]})
	case "self-abstract": // listen on an abstract name and connect to it
		l, err := net.Listen("unix", "@"+f[1])
		if err != nil {
			return err
		}
		defer l.Close()
		s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(s)
		return unix.Connect(s, &unix.SockaddrUnix{Name: "@" + f[1]})
	case "kill-parent":
		return unix.Kill(unix.Getppid(), 0)
	case "kill-self":
		return unix.Kill(unix.Getpid(), 0)
	case "bind":
		port, _ := strconv.Atoi(f[1])
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(s)
		return unix.Bind(s, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
	case "connect":
		port, _ := strconv.Atoi(f[1])
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(s)
		return retry(func() error { return unix.Connect(s, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}) })
	case "threads": // threads:PATH: open PATH from 8 OS threads
		results := make(chan error, 8)
		for range 8 {
			go func() {
				runtime.LockOSThread() // a thread of its own, never reused
				fd, err := unix.Open(f[1], unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err == nil {
					unix.Close(fd)
				}
				results <- err
			}()
		}
		var first error
		for i := range 8 {
			err := <-results
			if i == 0 {
				first = err
			} else if (err == nil) != (first == nil) {
				return fmt.Errorf("threads disagree: %v vs %v", first, err)
			}
		}
		return first
	}
	if fn, ok := extraProbeOps[f[0]]; ok {
		return fn(f[1:])
	}
	return fmt.Errorf("unknown probe op %q", op)
}

// extraProbeOps are probe operations registered by other test files (in
// their init functions), keyed by operation name; they get the ":"-split
// arguments after the name.
var extraProbeOps = map[string]func(args []string) error{}
