//go:build linux

package sandlock

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

// firstMapping returns the start of the first mapping of our executable
// (its ELF header) from /proc/self/maps.
func firstMapping(t *testing.T) uint64 {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		t.Fatal("empty /proc/self/maps")
	}
	lo, _, _ := strings.Cut(sc.Text(), "-")
	addr, err := strconv.ParseUint(lo, 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestReadChildMem reads our own memory as the supervisor reads a child's:
// the ELF header of the executable is readable; unmapped memory, a range
// running off a mapping's end into nothing, and a process that does not
// exist are errors wrapping errChildMemory (handlers answer EFAULT).
func TestReadChildMem(t *testing.T) {
	elf := firstMapping(t)
	for _, tc := range []struct {
		name string
		pid  int
		addr uint64
		n    int
		want string // "" for an error
	}{
		{"elf header", os.Getpid(), elf, 4, "\x7fELF"},
		{"empty", os.Getpid(), 0, 0, ""},
		{"null page", os.Getpid(), 0, 8, ""},
		{"kernel half", os.Getpid(), 1 << 63, 8, ""},
		{"no such process", 0x7fffffff, elf, 4, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf := make([]byte, tc.n)
			err := readChildMem(tc.pid, tc.addr, buf)
			switch {
			case tc.n == 0:
				if err != nil {
					t.Errorf("empty read: %v", err)
				}
			case tc.want != "":
				if err != nil || string(buf) != tc.want {
					t.Errorf("got %q, %v; want %q", buf, err, tc.want)
				}
			case !errors.Is(err, errChildMemory):
				t.Errorf("err = %v, want errChildMemory", err)
			}
		})
	}
}
