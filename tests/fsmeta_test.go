package tests

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// metaState is what the host keeps of a file's metadata.
type metaState struct {
	mode         uint32
	uid, gid     uint32
	mtime, ctime unix.Timespec
	xattr        string
}

func metaOf(t *testing.T, path string) metaState {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Lstat(path, &st))
	buf := make([]byte, 64)
	x := "<none>"
	if n, err := unix.Lgetxattr(path, "user.sandlock", buf); err == nil {
		x = string(buf[:n])
	}
	return metaState{st.Mode, st.Uid, st.Gid, st.Mtim, st.Ctim, x}
}

// metaFile makes a 0644 file holding user.sandlock="orig".
func metaFile(t *testing.T, path string) {
	t.Helper()
	must(t, os.WriteFile(path, []byte("content"), 0o644))
	must(t, unix.Setxattr(path, "user.sandlock", []byte("orig"), 0))
}

// metaCalls are the probe's metadata calls (fsmeta_probe_test.go).
func metaCalls() []string {
	calls := []string{
		"fchmod", "fchmodat", "fchmodat2", "fchmodat2-empty",
		"fchown", "fchownat", "fchownat-empty",
		"utimensat", "utimensat-null", "utimensat-empty",
		"setxattr", "lsetxattr", "fsetxattr", "setxattrat", "setxattrat-empty",
		"removexattr", "lremovexattr", "fremovexattr", "removexattrat",
	}
	return append(calls, slices.Sorted(maps.Keys(metaLegacyNr))...)
}

// checkMetaChanged checks that call changed what it sets on the host.
func checkMetaChanged(t *testing.T, label, call string, before, after metaState) {
	t.Helper()
	if after.ctime == before.ctime {
		t.Errorf("%s: the host's ctime did not change", label)
	}
	switch {
	case strings.Contains(call, "chmod"):
		if after.mode&0o7777 != 0o600 {
			t.Errorf("%s: mode %o, want 0600", label, after.mode&0o7777)
		}
	case strings.Contains(call, "utime"):
		if after.mtime.Sec != metaTime {
			t.Errorf("%s: mtime %d, want %d", label, after.mtime.Sec, metaTime)
		}
	case strings.Contains(call, "removexattr"):
		if after.xattr != "<none>" {
			t.Errorf("%s: xattr %q still there", label, after.xattr)
		}
	case strings.Contains(call, "setxattr"):
		if after.xattr != "v" {
			t.Errorf("%s: xattr %q, want \"v\"", label, after.xattr)
		}
	}
}

// TestMetaCalls: every metadata call (path, AT_EMPTY_PATH and fd forms)
// on a file outside every grant, on a read-granted file and on a file
// beneath a Filesystem.Deny directory inside the write grant fails with
// EACCES and the host keeps the file's mode, owner, times and xattrs;
// the same call on a write-granted file succeeds and the host sees it.
func TestMetaCalls(t *testing.T) {
	tr := newTree(t)
	deny := filepath.Join(tr.rw, "deny")
	must(t, os.Mkdir(deny, 0o755))
	kinds := map[string]string{"out": tr.out, "ro": tr.ro, "deny": deny, "rw": tr.rw}
	p := withoutProc(tr.policy())
	p.Filesystem.Deny = []string{deny}
	var ops []string
	before := map[string]metaState{}
	for _, call := range metaCalls() {
		for _, dir := range kinds {
			f := filepath.Join(dir, call)
			metaFile(t, f)
			before[f] = metaOf(t, f)
			ops = append(ops, "meta:"+call+":"+f)
		}
	}
	got := probe(t, p, ops...)
	for _, call := range metaCalls() {
		for kind, dir := range kinds {
			f := filepath.Join(dir, call)
			label := kind + "/" + call
			g, after := got["meta:"+call+":"+f], metaOf(t, f)
			if kind == "rw" {
				if g != "OK" {
					t.Errorf("%s: got %q, want OK", label, g)
				}
				checkMetaChanged(t, label, call, before[f], after)
				continue
			}
			if g != "EACCES" {
				t.Errorf("%s: got %q, want EACCES", label, g)
			}
			if after != before[f] {
				t.Errorf("%s: the host's file changed: %+v -> %+v", label, before[f], after)
			}
		}
	}
}

// TestMetaOPathFd: the fd calls refuse an O_PATH fd (EBADF), as the
// kernel does, even on a write-granted file; the path twin works.
func TestMetaOPathFd(t *testing.T) {
	tr := newTree(t)
	f := filepath.Join(tr.rw, "file")
	checkOps(t, withoutProc(tr.policy()), []opCase{
		{"meta:fchmod-opath:" + f, "EBADF"},
		{"meta:fchmodat:" + f, "OK"},
	})
}

// TestMetaSymlinks: a symbolic link inside the write grant pointing
// outside: calls that follow it are refused and the target is kept;
// lchown and utimensat NOFOLLOW act on the link itself and succeed. A link
// outside every grant pointing into the write grant: following it works
// (the object is granted), acting on the link itself does not.
func TestMetaSymlinks(t *testing.T) {
	tr := newTree(t)
	target := filepath.Join(tr.out, "file")
	in := filepath.Join(tr.rw, "link")
	must(t, os.Symlink(target, in))
	intoRW := filepath.Join(tr.rw, "target")
	metaFile(t, intoRW)
	outLink := filepath.Join(tr.out, "link")
	must(t, os.Symlink(intoRW, outLink))
	tBefore, linkBefore, outLinkBefore := metaOf(t, target), metaOf(t, in), metaOf(t, outLink)
	checkOps(t, withoutProc(tr.policy()), []opCase{
		{"meta:fchmodat:" + in, "EACCES"},
		{"meta:fchownat:" + in, "EACCES"},
		{"meta:setxattr:" + in, "EACCES"},
		{"meta:utimensat:" + in, "EACCES"},
		{"meta:lchownat:" + in, "OK"},
		{"meta:lutimensat:" + in, "OK"},
		// Through a link outside the grants to a granted file.
		{"meta:fchmodat:" + outLink, "OK"},
		{"meta:lchownat:" + outLink, "EACCES"},
		{"meta:lutimensat:" + outLink, "EACCES"},
	})
	if a := metaOf(t, target); a != tBefore {
		t.Errorf("the link's target outside the grants changed: %+v -> %+v", tBefore, a)
	}
	if a := metaOf(t, in); a.mtime.Sec != metaTime || a.ctime == linkBefore.ctime {
		t.Errorf("the link itself was not changed: %+v -> %+v", linkBefore, a)
	}
	if a := metaOf(t, intoRW); a.mode&0o777 != 0o600 {
		t.Errorf("the granted file behind the outside link: mode %o, want 0600", a.mode&0o777)
	}
	if a := metaOf(t, outLink); a != outLinkBefore {
		t.Errorf("the link outside the grants changed: %+v -> %+v", outLinkBefore, a)
	}
}

// TestMetaPrograms: chmod, chown, touch -d and Python's os.setxattr and
// os.fchmod (on a file opened read-only) as real programs: refused with
// "Permission denied" outside every grant, on a read-granted file and on
// a denied file inside the write grant, the host keeping everything;
// the same programs succeed on a write-granted file and the host sees it.
func TestMetaPrograms(t *testing.T) {
	py := requirePython(t)
	for _, tool := range []string{"chmod", "chown", "touch"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	tr := newTree(t)
	denied := filepath.Join(tr.rw, "denied")
	metaFile(t, denied)
	p := tr.policy()
	p.Filesystem.Deny = []string{denied}
	steps := []struct{ name, cmd string }{
		{"chmod", "chmod 600 F"},
		{"chmod-setuid", "chmod 4755 F"},
		{"chown", "chown $(id -u):$(id -g) F"},
		{"touch", "touch -d 2001-09-09T01:46:40Z F"},
		{"setxattr", py + ` -c "import os; os.setxattr('F', 'user.sandlock', b'new')"`},
		{"fchmod", py + ` -c "import os; fd = os.open('F', os.O_RDONLY); os.fchmod(fd, 0o600)"`},
	}
	kinds := []struct {
		name string
		dir  string
		ok   bool
	}{{"out", tr.out, false}, {"ro", tr.ro, false}, {"denied", "", false}, {"rw", tr.rw, true}}
	for _, k := range kinds {
		var script strings.Builder
		files := map[string]string{}
		for _, s := range steps {
			f := denied
			if k.dir != "" {
				f = filepath.Join(k.dir, "prog-"+s.name)
				metaFile(t, f)
			}
			files[s.name] = f
			fmt.Fprintf(&script, "out=$(%s 2>&1); rc=$?; echo \"%s|$rc|$(printf '%%s' \"$out\" | tail -n 1)\"\n", strings.ReplaceAll(s.cmd, "F", f), s.name)
		}
		before := map[string]metaState{}
		for n, f := range files {
			before[n] = metaOf(t, f)
		}
		out, errs, err := shell(t, p, script.String())
		if err != nil {
			t.Fatalf("%s: %v\n%s\n%s", k.name, err, out, errs)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.SplitN(line, "|", 3)
			if len(f) != 3 {
				t.Fatalf("%s: bad line %q", k.name, line)
			}
			name, rc, msg := f[0], f[1], f[2]
			label := k.name + "/" + name
			after := metaOf(t, files[name])
			if k.ok {
				if rc != "0" {
					t.Errorf("%s: exit %s: %s", label, rc, msg)
				}
				if after.ctime == before[name].ctime {
					t.Errorf("%s: the host saw no change", label)
				}
				continue
			}
			if rc == "0" || !(strings.Contains(msg, "Permission denied") || strings.Contains(msg, "Errno 13")) {
				t.Errorf("%s: exit %s, %q; want Permission denied", label, rc, msg)
			}
			if after != before[name] && k.name != "denied" {
				t.Errorf("%s: the host's file changed: %+v -> %+v", label, before[name], after)
			}
		}
		if k.name == "denied" {
			if a := metaOf(t, denied); a.mode&0o7777 != 0o644 || a.xattr != "orig" {
				t.Errorf("the denied file changed: %+v", a)
			}
		}
		if k.ok {
			if a := metaOf(t, files["chmod-setuid"]); a.mode&0o7777 != 0o4755 {
				t.Errorf("rw/chmod-setuid: mode %o", a.mode&0o7777)
			}
			if a := metaOf(t, files["touch"]); a.mtime.Sec != metaTime {
				t.Errorf("rw/touch: mtime %d", a.mtime.Sec)
			}
			if a := metaOf(t, files["setxattr"]); a.xattr != "new" {
				t.Errorf("rw/setxattr: xattr %q", a.xattr)
			}
		}
	}
}

// TestMetaSetuidSystemFile: the escape this closes: a root sandbox
// (capless, but uid 0, the owner of system files) cannot chmod a system
// binary it may only read; the host keeps its mode.
func TestMetaSetuidSystemFile(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs uid 0 (owner of the system files)")
	}
	sh, err := filepath.EvalSymlinks("/bin/sh")
	must(t, err)
	before := metaOf(t, sh)
	out, _, err := shell(t, base(), "chmod 4777 "+sh+" 2>&1; echo rc=$?; chown 0:0 "+sh+" 2>&1; echo rc=$?")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "Permission denied") != 2 || strings.Contains(out, "rc=0") {
		t.Errorf("got %q, want two Permission denied", out)
	}
	if a := metaOf(t, sh); a != before {
		t.Fatalf("%s changed on the host: %+v -> %+v", sh, before, a)
	}
}

// TestMetaRace: threads rewrite the path buffer between a write-granted
// file and a file outside every grant while the program chmods it 20 000
// times; then a thread flips a symbolic link in the write grant between
// the two while the program chmods through it. The outside file never
// changes; the granted one is changed many times (the twin).
func TestMetaRace(t *testing.T) {
	root := t.TempDir()
	wdir, odir := filepath.Join(root, "wdir"), filepath.Join(root, "odir")
	must(t, os.Mkdir(wdir, 0o755))
	must(t, os.Mkdir(odir, 0o755))
	allowed, other := filepath.Join(wdir, "target"), filepath.Join(odir, "target")
	metaFile(t, allowed)
	metaFile(t, other)
	link := filepath.Join(wdir, "flip")
	must(t, os.Symlink(allowed, link))
	p := withoutProc(base())
	p.Filesystem.Write = []string{wdir}
	before := metaOf(t, other)
	ops := []string{"metarace:" + allowed + ":" + other + ":20000", "metaflip:" + link + ":" + allowed + ":" + other + ":20000"}
	got := probe(t, p, ops...)
	for _, op := range ops {
		var ok, failed int
		if _, err := fmt.Sscanf(got[op], "error ok=%d failed=%d", &ok, &failed); err != nil {
			t.Fatalf("%s: probe said %q", op, got[op])
		}
		t.Logf("%s: ok=%d failed=%d", strings.SplitN(op, ":", 2)[0], ok, failed)
		if ok == 0 || failed == 0 {
			t.Errorf("the race did not exercise both paths: ok=%d failed=%d", ok, failed)
		}
	}
	if a := metaOf(t, other); a != before {
		t.Fatalf("the file outside the grants changed: %+v -> %+v", before, a)
	}
}
