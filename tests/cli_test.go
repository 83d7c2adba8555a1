package tests

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(cliPath, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// cliCase is one sandlock-run invocation and what it must print and return.
type cliCase struct {
	name   string
	args   []string
	code   int
	stdout string // exact, when not empty
	stderr string // substring, when not empty
}

func (tc cliCase) check(t *testing.T) {
	t.Helper()
	t.Run(tc.name, func(t *testing.T) {
		out, errs, code := cli(t, tc.args...)
		if code != tc.code {
			t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errs)
		}
		if tc.stdout != "" && out != tc.stdout {
			t.Errorf("stdout %q, want %q", out, tc.stdout)
		}
		if tc.stderr != "" && !strings.Contains(errs, tc.stderr) {
			t.Errorf("stderr %q lacks %q", errs, tc.stderr)
		}
	})
}

// unsupportedPolicyFile writes a policy file with a field of a layer not
// built yet (the HTTP proxy).
func unsupportedPolicyFile(t *testing.T) string {
	f := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(f, []byte(`{"http": {"allow": ["GET example.com/*"]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCLIExitCodes(t *testing.T) {
	for _, tc := range []cliCase{
		{"ok", []string{"run", "--", "echo", "hello"}, 0, "hello\n", ""},
		{"child status", []string{"run", "--", "sh", "-c", "exit 42"}, 42, "", ""},
		{"killed by signal", []string{"run", "--", "sh", "-c", "kill -9 $$"}, 128 + 9, "", ""},
		{"timeout", []string{"run", "-t", "0.3", "--", "sleep", "100"}, 124, "", "timed out after 300ms"},
		{"timeout long flag", []string{"run", "--timeout", "0.3", "--", "sleep", "100"}, 124, "", "timed out"},
		{"setup: bad dir", []string{"run", "--cwd", "/nonexistent", "--", "true"}, 125, "", "chdir /nonexistent: no such file or directory"},
		{"setup: bad flag value", []string{"run", "--max-open-files", "lots", "--", "true"}, 125, "", "max-open-files"},
		{"setup: unknown flag", []string{"run", "--frobnicate", "--", "true"}, 125, "", "frobnicate"},
		{"setup: not supported yet", []string{"run", "--policy-file", unsupportedPolicyFile(t), "--", "true"}, 125, "", "policy http.allow = [GET example.com/*]: not supported yet"},
		{"setup: bad env", []string{"run", "--env", "NOEQUALS", "--", "true"}, 125, "", `--env requires KEY=VALUE, got "NOEQUALS"`},
		{"setup: no command", []string{"run"}, 125, "", "no command given"},
		{"setup: bad status fd", []string{"run", "--status-fd", "99", "--", "true"}, 125, "", "--status-fd 99: bad file descriptor"},
		{"not executable", []string{"run", "--", "/etc/passwd"}, 126, "", "permission denied"},
		{"not found", []string{"run", "--", "no-such-command-xyz"}, 127, "", "executable file not found"},
		{"not found by path", []string{"run", "--", "/no/such/file"}, 127, "", "no such file"},
		{"env and cwd", []string{"run", "--env", "A=1", "--clean-env", "--cwd", "/usr", "--", "sh", "-c", `echo "$A $(pwd) ${HOME+home}"`}, 0, "1 /usr home\n", ""},
		{"exec shell", []string{"run", "-e", "echo via shell"}, 0, "via shell\n", ""},
		{"limits", []string{"run", "--max-open-files", "55", "--no-coredump", "--", "sh", "-c", "ulimit -n; ulimit -c"}, 0, "55\n0\n", ""},
	} {
		tc.check(t)
	}
}

func TestCLIHelpVersion(t *testing.T) {
	out, _, code := cli(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "sandlock-run ") {
		t.Errorf("--version: %q %d", out, code)
	}
	out, errs, code := cli(t, "run", "--help")
	if code != 0 || !strings.Contains(out, "--status-fd FD") || !strings.Contains(out, "-t, --timeout SECS") {
		t.Errorf("run --help: %d %q %q", code, out, errs)
	}
}

func TestCLIStatusFd(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sh", "-c", "exit 3"}, `{"exit_code":3}`},
		{[]string{"sh", "-c", "kill -15 $$"}, `{"exit_code":-1,"signal":15}`},
		{[]string{"true"}, `{"exit_code":0}`},
	} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(cliPath, append([]string{"run", "--status-fd", "3", "--"}, tc.args...)...)
		cmd.ExtraFiles = []*os.File{w}
		cmd.Run()
		w.Close()
		line, _ := bufio.NewReader(r).ReadString('\n')
		r.Close()
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil || strings.TrimSpace(line) != tc.want {
			t.Errorf("%v: status line %q, want %s", tc.args, line, tc.want)
		}
	}
}

// TestCLISignalTeardown: SIGTERM to the CLI reaches the program, and
// nothing the program started survives.
func TestCLISignalTeardown(t *testing.T) {
	cmd := exec.Command(cliPath, "run", "--", "sh", "-c", "sleep 1000 & echo $!; sleep 1000")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	grandchild := readPid(t, out)
	cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 128+int(syscall.SIGTERM) {
		t.Fatalf("CLI exit: %v", err)
	}
	waitDead(t, grandchild, 5*time.Second)
}

// TestCLIStatic: sandlock-run is a static binary with no cgo.
func TestCLIStatic(t *testing.T) {
	f, err := elf.Open(cliPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("sandlock-run has a PT_INTERP: it is dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("sandlock-run imports %v", libs)
	}
	// Only the standard library, x/sys and this module may be linked in.
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "../cmd/sandlock-run").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if !strings.HasPrefix(dep, "github.com/sandlock-go/sandlock-go") && dep != "golang.org/x/sys/unix" {
			t.Errorf("unexpected dependency %s", dep)
		}
	}
	out, err = exec.Command("go", "list", "-deps", "../cmd/sandlock-run").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "runtime/cgo" || dep == "C" {
			t.Errorf("sandlock-run depends on %s", dep)
		}
	}
	_ = strconv.Itoa
}

func TestCLICheck(t *testing.T) {
	out, errs, code := cli(t, "check")
	if code != 0 || !strings.Contains(out, "Landlock:") || !strings.Contains(out, "scope signal") || !strings.Contains(out, "fully enforceable") {
		t.Errorf("check: exit %d\n%s%s", code, out, errs)
	}
	out, _, code = cli(t, "check", "--json")
	var r struct {
		LandlockABI int  `json:"landlock_abi"`
		Clone3      bool `json:"clone3"`
		UserNotif   bool `json:"seccomp_user_notif"`
		Default     bool `json:"default_enforceable"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 || r.LandlockABI < 1 || !r.Clone3 || !r.UserNotif || !r.Default {
		t.Errorf("check --json: %v exit %d\n%s", err, code, out)
	}
}

func TestCLIFilesystemFlags(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/secret", []byte("s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []cliCase{
		{"read denied", []string{"run", "--", "cat", dir + "/secret"}, 1, "", "Permission denied"},
		{"read granted", []string{"run", "-r", dir, "--", "cat", dir + "/secret"}, 0, "s3cret\n", ""},
		{"read granted on the file", []string{"run", "--fs-read", dir + "/secret", "--", "cat", dir + "/secret"}, 0, "s3cret\n", ""},
		{"write denied", []string{"run", "-r", dir, "--", "sh", "-c", "echo x > " + dir + "/new"}, 2, "", "Permission denied"},
		{"write granted", []string{"run", "-w", dir, "--", "sh", "-c", "echo x > " + dir + "/new2; cat " + dir + "/new2"}, 0, "x\n", ""},
		{"missing path", []string{"run", "-r", "/no/such/dir", "--", "true"}, 125, "", "/no/such/dir"},
		{"if-exists", []string{"run", "--fs-read-if-exists", "/no/such/dir", "--", "true"}, 0, "", ""},
		{"no system paths", []string{"run", "--no-system-paths", "--", "/bin/true"}, 126, "", "execve /bin/true: permission denied"},
		{"bad bind ports", []string{"run", "--net-allow-bind", "99999", "--", "true"}, 125, "", "--net-allow-bind 99999"},
	} {
		tc.check(t)
	}
	if _, err := os.Stat(dir + "/new"); !errors.Is(err, os.ErrNotExist) {
		t.Error("the denied write reached the host")
	}
}
