//go:build linux

package sandlock

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/sandlock-go/sandlock-go/bpfasm"
)

// TestFSNotifiedCalls: default sandboxes notify nothing; Deny, a /proc
// grant, NumCPUs and a name turn on exactly their calls.
func TestFSNotifiedCalls(t *testing.T) {
	sys := Policy{Filesystem: Filesystem{ReadIfExists: SystemPaths, WriteIfExists: SystemDevices, Write: []string{"/tmp"}}}
	withDeny := sys
	withDeny.Filesystem.Deny = []string{"/tmp/x"}
	withProc := sys
	withProc.Filesystem.Read = []string{"/proc"}
	withRoot := sys
	withRoot.Filesystem.Read = []string{"/"}
	withCPUs := sys
	withCPUs.Limits.NumCPUs = 2
	withName := sys
	withName.Process.Name = "n"
	for _, tc := range []struct {
		name      string
		p         Policy
		has, lack []string
	}{
		{"default", sys, nil, []string{"openat", "getdents64", "execve", "uname", "sched_getaffinity"}},
		{"deny", withDeny, []string{"openat", "openat2", "execve", "linkat", "renameat2", "symlinkat", "truncate"}, []string{"getdents64", "uname"}},
		{"proc", withProc, []string{"openat", "getdents64"}, []string{"execve", "uname"}},
		{"root grant reaches proc", withRoot, []string{"openat", "getdents64"}, []string{"execve"}},
		{"num cpus", withCPUs, []string{"sched_getaffinity"}, []string{"openat", "getdents64"}},
		{"name", withName, []string{"uname", "openat"}, []string{"getdents64", "execve"}},
	} {
		got := tc.p.notified()
		for _, c := range tc.has {
			if !slices.Contains(got, c) {
				t.Errorf("%s: %s not notified (%v)", tc.name, c, got)
			}
		}
		for _, c := range tc.lack {
			if slices.Contains(got, c) {
				t.Errorf("%s: %s notified (%v)", tc.name, c, got)
			}
		}
	}
}

// TestFilterNotifiesExec: execve and execveat may be notified (the child
// makes them after Start, with its supervisor running); the filter then
// answers USER_NOTIF for them and still ALLOW for the other trampoline
// calls.
func TestFilterNotifiesExec(t *testing.T) {
	cfg := filterConfig{arch: archFor("amd64"), notify: []string{"openat", "execve", "execveat"}}
	f, err := compileFilter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	in, err := bpfasm.NewInterpreter(f.prog)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range trampolineSyscalls {
		nr, _ := cfg.arch.nr(name)
		want := bpfasm.ActionAllow
		if slices.Contains(notifiableTrampoline, name) {
			want = bpfasm.ActionUserNotif
		}
		if got := bpfasm.Action(in.RunData(bpfasm.SeccompData{Nr: int32(nr), Arch: cfg.arch.audit})); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
}

func TestFSValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(p *Policy)
		field string
	}{
		{"empty deny", func(p *Policy) { p.Filesystem.Deny = []string{""} }, "filesystem.deny"},
		{"nul deny", func(p *Policy) { p.Filesystem.Deny = []string{"a\x00"} }, "filesystem.deny"},
		{"negative cpus", func(p *Policy) { p.Limits.NumCPUs = -1 }, "limits.num_cpus"},
		{"too many cpus", func(p *Policy) { p.Limits.NumCPUs = 1025 }, "limits.num_cpus"},
		{"long name", func(p *Policy) { p.Process.Name = strings.Repeat("x", 65) }, "process.name"},
		{"slash name", func(p *Policy) { p.Process.Name = "a/b" }, "process.name"},
		{"ok", func(p *Policy) {
			p.Process.Name = strings.Repeat("x", 64)
			p.Limits.NumCPUs = 4
			p.Filesystem.Deny = []string{"/x"}
		}, ""},
	} {
		var p Policy
		tc.edit(&p)
		err := p.Validate()
		var pe *PolicyError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.field != "" && (err == nil || !asPolicyError(err, &pe) || pe.Field != tc.field):
			t.Errorf("%s: %v, want a PolicyError on %s", tc.name, err, tc.field)
		}
	}
}

func asPolicyError(err error, pe **PolicyError) bool {
	p, ok := err.(*PolicyError)
	*pe = p
	return ok
}

func TestRenderMeminfo(t *testing.T) {
	got := string(renderMeminfo(64<<20, 16<<20))
	for _, w := range []string{"MemTotal:          65536 kB\n", "MemFree:           49152 kB\n", "MemAvailable:      49152 kB\n"} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in\n%s", w, got)
		}
	}
	if got := string(renderMeminfo(1<<20, 2<<20)); !strings.Contains(got, "MemFree:               0 kB") {
		t.Errorf("over-used: %s", got)
	}
}

func TestRenderCpuinfo(t *testing.T) {
	real := "processor\t: 0\ncore id\t\t: 0\ncpu cores\t: 2\nmodel name\t: X\n\nprocessor\t: 1\ncore id\t\t: 1\ncpu cores\t: 2\nmodel name\t: X\n"
	got := string(renderCpuinfo([]byte(real), 3))
	if strings.Count(got, "processor") != 3 || !strings.Contains(got, "processor\t: 2\n") || strings.Count(got, "cpu cores\t: 3") != 3 {
		t.Errorf("got\n%s", got)
	}
}

func TestProcKey(t *testing.T) {
	for in, want := range map[string]string{
		"/proc/123/mounts":          "/proc/self/mounts",
		"/proc/123/task/124/mounts": "/proc/self/mounts",
		"/proc/123/net/dev":         "/proc/self/net/dev",
		"/proc/meminfo":             "/proc/meminfo",
		"/proc/123":                 "/proc/self",
		"/etc/hostname":             "/etc/hostname",
	} {
		if got := procKey(in, 1); got != want {
			t.Errorf("procKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// dirent64 builds one linux_dirent64 record.
func dirent64(name string) []byte {
	reclen := (19 + len(name) + 1 + 7) &^ 7
	b := make([]byte, reclen)
	binary.LittleEndian.PutUint64(b, 1)
	binary.LittleEndian.PutUint16(b[16:], uint16(reclen))
	copy(b[19:], name)
	return b
}

// FuzzDropHidden: the /proc listing filter never grows the listing, keeps
// records whole, and keeps every non-numeric name.
func FuzzDropHidden(f *testing.F) {
	f.Add(slices.Concat(dirent64("."), dirent64("1"), dirent64("self"), dirent64("999999")))
	f.Add([]byte{1, 2, 3})
	fc := &fsCtx{leader: 1 << 30, selfPid: 1<<30 + 1}
	f.Fuzz(func(t *testing.T, b []byte) {
		out := fc.dropHidden(b, 1<<30)
		if len(out) > len(b) {
			t.Fatalf("grew: %d > %d", len(out), len(b))
		}
		for len(out) >= 19 {
			reclen := int(binary.LittleEndian.Uint16(out[16:]))
			if reclen < 19 || reclen > len(out) {
				t.Fatalf("broken record %d of %d", reclen, len(out))
			}
			out = out[reclen:]
		}
		if len(out) != 0 {
			t.Fatalf("trailing %d bytes", len(out))
		}
	})
}

// FuzzProcKey: procKey never panics and maps any /proc/PID name under
// /proc/self.
func FuzzProcKey(f *testing.F) {
	f.Add("/proc/1/task/2/net/tcp")
	f.Add("/proc/x")
	f.Fuzz(func(t *testing.T, s string) {
		k := procKey(s, 1)
		if procPid(s) > 0 && !strings.HasPrefix(k, "/proc/self") {
			t.Fatalf("%q -> %q", s, k)
		}
	})
}
