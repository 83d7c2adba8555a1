package tests

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

// withoutProc drops the /proc grant of base(): such a sandbox needs no
// supervisor for /proc.
func withoutProc(p sandlock.Policy) sandlock.Policy {
	p.Filesystem.ReadIfExists = slices.DeleteFunc(slices.Clone(p.Filesystem.ReadIfExists), func(s string) bool { return s == "/proc" })
	return p
}

// shell runs /bin/sh -c script under policy and returns its output.
func shell(t *testing.T, policy sandlock.Policy, script string) (string, string, error) {
	t.Helper()
	sb := sandlock.Command(policy, "/bin/sh", "-c", script)
	return run(t, sb)
}

const secretText = "TOP_SECRET_4711"

// secretTree makes dir/secret.txt (the secret), dir/ok.txt, a hard link
// dir/hard to the secret and a chain dir/link2 -> dir/link1 -> secret.txt.
func secretTree(t *testing.T) (dir, secret string) {
	t.Helper()
	dir = t.TempDir()
	secret = filepath.Join(dir, "secret.txt")
	must(t, os.WriteFile(secret, []byte(secretText+"\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "ok.txt"), []byte("ok\n"), 0o644))
	must(t, os.Link(secret, filepath.Join(dir, "hard")))
	must(t, os.Symlink(secret, filepath.Join(dir, "link1")))
	must(t, os.Symlink(filepath.Join(dir, "link1"), filepath.Join(dir, "link2")))
	return dir, secret
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestFSDenyFile: with the secret denied inside a writable tree, no tool
// reveals it (cat by name, hard link, symlink chain, cp, ln, ln -s, mv,
// relative name), each failing with "Permission denied"; reads and writes
// of the file next to it work (twin), and the host keeps the secret.
func TestFSDenyFile(t *testing.T) {
	dir, secret := secretTree(t)
	p := withoutProc(base())
	p.Filesystem.Write = []string{dir}
	p.Filesystem.Deny = []string{secret}
	steps := []struct{ name, cmd string }{
		{"cat", "cat " + secret},
		{"cat-hardlink", "cat " + dir + "/hard"},
		{"cat-chain", "cat " + dir + "/link2"},
		{"cat-relative", "cd " + dir + " && cat ./secret.txt"},
		{"cp", "cp " + secret + " " + dir + "/copy && cat " + dir + "/copy"},
		{"ln", "ln " + secret + " " + dir + "/ln && cat " + dir + "/ln"},
		{"ln-s", "ln -s " + secret + " " + dir + "/sym; cat " + dir + "/sym"},
		{"mv", "mv " + secret + " " + dir + "/moved && cat " + dir + "/moved"},
		{"mv-over", "mv " + dir + "/ok.txt " + secret},
		{"truncate", "truncate -s 0 " + secret},
		{"redirect", "echo x > " + secret},
		// Positive twins in the same tree.
		{"twin-read", "cat " + dir + "/ok.txt"},
		{"twin-write", "echo new > " + dir + "/new.txt && cat " + dir + "/new.txt"},
		{"twin-link", "ln " + dir + "/new.txt " + dir + "/new2 && cat " + dir + "/new2"},
		{"twin-mv", "mv " + dir + "/new2 " + dir + "/new3 && cat " + dir + "/new3"},
	}
	var script strings.Builder
	for _, s := range steps {
		fmt.Fprintf(&script, "o=$( ( %s ) 2>&1 ) && echo %s: ok || echo %s: fail\n", s.cmd, s.name, s.name)
		fmt.Fprintf(&script, "echo \"$o\" | sed 's/^/%s> /'\n", s.name)
	}
	out, errs, err := shell(t, p, script.String())
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errs)
	}
	if strings.Contains(out, secretText) || strings.Contains(errs, secretText) {
		t.Errorf("the secret leaked:\n%s", out)
	}
	for _, s := range steps {
		want := "fail"
		if strings.HasPrefix(s.name, "twin") {
			want = "ok"
		}
		if !strings.Contains(out, s.name+": "+want+"\n") {
			t.Errorf("%s: want %s\n%s", s.name, want, out)
		}
	}
	for _, name := range []string{"cat", "cat-hardlink", "cat-chain", "cp", "ln", "mv"} {
		if !strings.Contains(out, name+"> ") || !strings.Contains(out, "Permission denied") {
			t.Errorf("%s: no 'Permission denied' in\n%s", name, out)
		}
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != secretText+"\n" {
		t.Errorf("host secret changed: %q %v", b, err)
	}
}

// TestFSDenyDirectory: a denied directory denies everything beneath it
// (reading, listing, creating, moving out), by any spelling; its sibling
// works.
func TestFSDenyDirectory(t *testing.T) {
	root := t.TempDir()
	secretDir := filepath.Join(root, "vault")
	must(t, os.MkdirAll(filepath.Join(secretDir, "deep"), 0o755))
	must(t, os.WriteFile(filepath.Join(secretDir, "deep", "key"), []byte(secretText), 0o644))
	must(t, os.Mkdir(filepath.Join(root, "open"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "open", "f"), []byte("fine"), 0o644))
	must(t, os.Symlink(filepath.Join(secretDir, "deep"), filepath.Join(root, "open", "door")))
	p := withoutProc(base())
	p.Filesystem.Write = []string{root}
	p.Filesystem.Deny = []string{secretDir}
	out, _, err := shell(t, p, strings.Join([]string{
		"cat " + secretDir + "/deep/key || echo read-denied",
		"cat " + root + "/open/door/key || echo link-denied",
		"cd " + root + "/open && cat ../vault/./deep/key || echo rel-denied",
		"ls " + secretDir + " || echo ls-denied",
		"echo x > " + secretDir + "/new || echo create-denied",
		"mv " + secretDir + "/deep " + root + "/open/stolen || echo mv-denied",
		"cat " + root + "/open/f",
		"echo y > " + root + "/open/g && cat " + root + "/open/g",
	}, "\n"))
	if err != nil {
		t.Fatal(err, out)
	}
	for _, w := range []string{"read-denied", "link-denied", "rel-denied", "ls-denied", "create-denied", "mv-denied", "fine", "y\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("missing %q in\n%s", w, out)
		}
	}
	if strings.Contains(out, secretText) {
		t.Errorf("leaked:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(secretDir, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("created inside the denied directory: %v", err)
	}
}

// TestFSDenyExec: a denied program cannot be run, by name or by a symbolic
// link; an identical copy that is not denied runs (twin).
func TestFSDenyExec(t *testing.T) {
	dir := t.TempDir()
	src, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) on this machine")
	}
	b, err := os.ReadFile(src)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "denied"), b, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "allowed"), b, 0o755))
	must(t, os.Symlink(filepath.Join(dir, "denied"), filepath.Join(dir, "alias")))
	p := withoutProc(base())
	p.Filesystem.Read = []string{dir}
	p.Filesystem.Deny = []string{filepath.Join(dir, "denied")}
	out, _, err := shell(t, p, dir+"/denied; echo denied=$?; "+dir+"/alias; echo alias=$?; "+dir+"/allowed; echo allowed=$?")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"denied=126", "alias=126", "allowed=0"} {
		if !strings.Contains(out, w) {
			t.Errorf("missing %s in %q", w, out)
		}
	}
	// The program itself denied: Start reports the exec failure.
	sb := sandlock.Command(p, filepath.Join(dir, "denied"))
	if err := sb.Run(); err == nil {
		t.Error("a denied program was started")
	}
}

// TestFSDenyKeepsLandlock: with Deny set (every open made on behalf), what
// Landlock denies stays denied, in every spelling, and what it grants
// stays granted: the interception never widens access.
func TestFSDenyKeepsLandlock(t *testing.T) {
	requireLandlockABI(t, 3)
	tr := newTree(t)
	p := tr.policy()
	must(t, os.WriteFile(filepath.Join(tr.ro, "secret"), []byte("s"), 0o644))
	p.Filesystem.Deny = []string{filepath.Join(tr.ro, "secret")}
	outFile := filepath.Join(tr.out, "file")
	must(t, os.Symlink(outFile, filepath.Join(tr.rw, "toout")))
	checkOps(t, p, []opCase{
		{"read:" + filepath.Join(tr.ro, "file"), "OK"},
		{"read:" + filepath.Join(tr.rw, "file"), "OK"},
		{"write:" + filepath.Join(tr.rw, "file"), "OK"},
		{"read:" + filepath.Join(tr.ro, "secret"), "EACCES"},
		{"read:" + outFile, "EACCES"},
		{"read:" + filepath.Join(tr.rw, "toout"), "EACCES"},
		{"read:/proc/self/root" + outFile, "EACCES"},
		{"openat:" + tr.ro + ":../out/file", "EACCES"},
		{"write:" + filepath.Join(tr.ro, "file"), "EACCES"},
		{"otrunc:" + filepath.Join(tr.ro, "file"), "EACCES"},
		{"read:/etc/hostname", "EACCES"},
	})
	if b, _ := os.ReadFile(filepath.Join(tr.ro, "file")); string(b) != "content" {
		t.Errorf("read-only file changed: %q", b)
	}
}

// TestProcOtherPids: /proc/PID of processes outside the sandbox is EACCES
// in every spelling and hidden from listings; the sandbox's own entries
// work (twin).
func TestProcOtherPids(t *testing.T) {
	p := base()
	out, errs, err := shell(t, p, strings.Join([]string{
		"cat /proc/1/environ >/dev/null 2>&1 && echo environ-read || echo environ-denied",
		"cat /proc/./1/status >/dev/null 2>&1 && echo dot-read || echo dot-denied",
		"cd /proc && cat 1/cmdline >/dev/null 2>&1 && echo rel-read || echo rel-denied",
		"cat /proc/" + strconv.Itoa(os.Getpid()) + "/environ >/dev/null 2>&1 && echo parent-read || echo parent-denied",
		"grep -q '^Name' /proc/self/status && echo self-ok",
		"grep -q '^Name' /proc/$$/status && echo pid-ok",
		"grep -q '^Name' /proc/thread-self/status && echo thread-ok",
		"echo LIST; ls /proc | grep -E '^[0-9]+$'; echo END; echo SELF=$$",
	}, "\n"))
	if err != nil {
		t.Fatalf("%v: %s %s", err, out, errs)
	}
	for _, w := range []string{"environ-denied", "dot-denied", "rel-denied", "parent-denied", "self-ok", "pid-ok", "thread-ok"} {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("missing %s in\n%s", w, out)
		}
	}
	_, list, _ := strings.Cut(out, "LIST\n")
	list, rest, _ := strings.Cut(list, "END\n")
	self := strings.TrimSpace(strings.TrimPrefix(rest, "SELF="))
	pids := strings.Fields(list)
	if !slices.Contains(pids, self) {
		t.Errorf("the shell's own pid %s is not listed: %v", self, pids)
	}
	for _, pid := range pids {
		if pid == "1" || pid == strconv.Itoa(os.Getpid()) {
			t.Errorf("outside pid %s listed: %v", pid, pids)
		}
	}
}

// TestProcSensitive: kernel files are denied when /proc is granted; other
// /proc files read (twin).
func TestProcSensitive(t *testing.T) {
	cases := []opCase{
		{"read:/proc/version", "OK"},
		{"read:/proc/self/../uptime", "OK"},
	}
	for _, f := range []string{"kallsyms", "kcore", "sysrq-trigger", "keys", "key-users", "kmsg", "kpageflags"} {
		if _, err := os.Lstat("/proc/" + f); err != nil {
			continue // not in this kernel
		}
		cases = append(cases, opCase{"read:/proc/./" + f, "EACCES"}, opCase{"openat:/proc:" + f, "EACCES"})
	}
	checkOps(t, base(), cases)
}

// TestProcNumCPUs: nproc and /proc/cpuinfo (every spelling) show NumCPUs.
func TestProcNumCPUs(t *testing.T) {
	p := base()
	p.Limits.NumCPUs = 3
	out, errs, err := shell(t, p, "nproc; grep -c ^processor /proc/cpuinfo; grep -c ^processor /proc/./cpuinfo; grep -c ^processor /proc/self/../cpuinfo; cd /proc && grep -c ^processor cpuinfo")
	if err != nil {
		t.Fatal(err, errs)
	}
	if out != "3\n3\n3\n3\n3\n" {
		t.Errorf("got %q", out)
	}
	// Twin: without NumCPUs the real count.
	out, _, _ = shell(t, base(), "nproc")
	if strings.TrimSpace(out) == "3" && numCPU() != 3 {
		t.Errorf("nproc without NumCPUs: %q", out)
	}
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "\nprocessor") + map[bool]int{true: 1}[strings.HasPrefix(string(b), "processor")]
}

// TestProcHostname: uname and /etc/hostname show the sandbox's name, even
// without /etc granted; without a name the host's (twin).
func TestProcHostname(t *testing.T) {
	p := withoutProc(base())
	p.Process.Name = "box-7"
	out, errs, err := shell(t, p, "hostname; cat /etc/hostname; uname -n")
	if err != nil {
		t.Fatal(err, errs)
	}
	if out != "box-7\nbox-7\nbox-7\n" {
		t.Errorf("got %q", out)
	}
	host, _ := os.Hostname()
	out, _, _ = shell(t, withoutProc(base()), "uname -n")
	if strings.TrimSpace(out) != host {
		t.Errorf("twin: uname -n %q, host %q", out, host)
	}
}

// TestProcMeminfo: /proc/meminfo shows MaxMemory.
func TestProcMeminfo(t *testing.T) {
	p := base()
	p.Limits.MaxMemory = "64M"
	out, errs, err := shell(t, p, "grep MemTotal /proc/meminfo; grep MemTotal /proc/self/../meminfo")
	if err != nil {
		t.Fatal(err, errs)
	}
	if strings.Count(out, "65536 kB") != 2 {
		t.Errorf("got %q", out)
	}
}

// TestProcMounts: the mount tables are a minimal view.
func TestProcMounts(t *testing.T) {
	out, errs, err := shell(t, base(), "cat /proc/mounts; cat /proc/self/mountinfo")
	if err != nil {
		t.Fatal(err, errs)
	}
	if !strings.HasPrefix(out, "rootfs / rootfs rw 0 0\n") || strings.Count(out, "\n") != 4 {
		t.Errorf("got %q", out)
	}
}

// TestDefaultSandboxNotNotified: without Deny, a /proc grant or a name,
// the sandbox needs no supervisor: it nests inside a supervised one.
func TestFSDefaultNoSupervisor(t *testing.T) {
	checkOps(t, limited(50), []opCase{{"nested:0", "OK"}})
}

// TestCLIFSFlags: the flags reach the policy, bad values name the flag.
func TestCLIFSFlags(t *testing.T) {
	dir, secret := secretTree(t)
	for _, tc := range []cliCase{
		{"fs-deny", []string{"run", "-r", dir, "--fs-deny", secret, "--", "cat", secret}, 1, "", "Permission denied"},
		{"fs-deny twin", []string{"run", "-r", dir, "--fs-deny", secret, "--", "cat", dir + "/ok.txt"}, 0, "ok\n", ""},
		{"fs-deny missing", []string{"run", "--fs-deny", dir + "/nope", "--", "true"}, 125, "", "--fs-deny " + dir + "/nope"},
		{"num-cpus", []string{"run", "--num-cpus", "2", "--", "nproc"}, 0, "2\n", ""},
		{"num-cpus bad", []string{"run", "--num-cpus", "-1", "--", "true"}, 125, "", "--num-cpus -1"},
		{"name", []string{"run", "--name", "cli-box", "--", "cat", "/etc/hostname"}, 0, "cli-box\n", ""},
		{"name bad", []string{"run", "--name", "a/b", "--", "true"}, 125, "", `--name "a/b"`},
	} {
		tc.check(t)
	}
}

// TestFSMagicLinks: with every open made on behalf, the caller's own fd
// links keep working (/dev/stdin, bash process substitution through
// /dev/fd, /proc/self/fd/N), and reopening through them is still decided
// on the object: a symbolic link to /proc/self/fd/N of an allowed file
// reads, while the denied file stays denied through /dev/fd.
func TestFSMagicLinks(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("needs bash")
	}
	dir, secret := secretTree(t)
	p := withoutProc(base())
	p.Filesystem.Read = []string{dir}
	p.Filesystem.Deny = []string{secret}
	sb := sandlock.Command(p, bash, "-c", strings.Join([]string{
		"cat /dev/stdin",
		"cat <(echo procsub)",
		"exec 7<" + dir + "/ok.txt; cat /proc/self/fd/7; cat /dev/fd/7",
		"exec 8<" + secret + " || echo secret-denied",
	}, "\n"))
	sb.Stdin = strings.NewReader("from-stdin\n")
	out, errs, err := run(t, sb)
	if err != nil {
		t.Fatal(err, errs)
	}
	if out != "from-stdin\nprocsub\nok\nok\nsecret-denied\n" {
		t.Errorf("got %q (stderr %q)", out, errs)
	}
}

// TestFSOnBehalfNoCapabilities: opens on behalf carry the sandbox's
// credentials, not the supervisor's. Run as root, the sandbox has no
// capabilities, so a 0600 file of another user is unreadable to it; with
// the interception on (a Deny elsewhere) the open on behalf must not
// succeed through the supervisor's CAP_DAC_OVERRIDE, nor the path
// resolution through a directory it may not search through
// CAP_DAC_READ_SEARCH. Twins: that user's 0644 file, and a 0644 file in a
// directory anyone may search, are readable, with and without the
// interception.
func TestFSOnBehalfNoCapabilities(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root (CAP_CHOWN) to make a file of another user")
	}
	dir := t.TempDir()
	private, public := filepath.Join(dir, "private"), filepath.Join(dir, "public")
	must(t, os.WriteFile(private, []byte("private\n"), 0o600))
	must(t, os.WriteFile(public, []byte("public\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "denied"), []byte("x\n"), 0o644))
	// A file anyone may read, in a directory only its owner may search;
	// and the same in a directory anyone may search.
	closed, open := filepath.Join(dir, "closed"), filepath.Join(dir, "open")
	must(t, os.Mkdir(closed, 0o700))
	must(t, os.Mkdir(open, 0o755))
	for _, d := range []string{closed, open} {
		must(t, os.WriteFile(filepath.Join(d, "file"), []byte("file\n"), 0o644))
		must(t, os.Chown(filepath.Join(d, "file"), 65534, 65534))
		must(t, os.Chown(d, 65534, 65534))
	}
	for _, f := range []string{private, public} {
		must(t, os.Chown(f, 65534, 65534))
	}
	off := withoutProc(base())
	off.Filesystem.Read = append(off.Filesystem.Read, dir)
	on := off
	on.Filesystem.Deny = []string{filepath.Join(dir, "denied")}
	for name, p := range map[string]sandlock.Policy{"interception off": off, "interception on": on} {
		out, _, _ := shell(t, p, "cat "+public+"; cat "+private+" 2>/dev/null || echo refused; "+
			"cat "+open+"/file; cat "+closed+"/file 2>/dev/null || echo refused")
		if out != "public\nrefused\nfile\nrefused\n" {
			t.Errorf("%s: %q, want the public files and the private file and closed directory refused", name, out)
		}
	}
}
