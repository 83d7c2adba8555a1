package tests

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

// TestInvalidInputBeforeFork: bad input is an error naming it, and no child
// is ever created for it.
func TestInvalidInputBeforeFork(t *testing.T) {
	unsupported := sandlock.Policy{}
	unsupported.HTTP.Allow = []string{"GET example.com/*"}
	badEnv := sandlock.Policy{}
	badEnv.Process.Env = map[string]string{"A=B": "x"}
	negative := sandlock.Policy{}
	negative.Limits.MaxOpenFiles = -1
	for _, tc := range []struct {
		name string
		sb   *sandlock.Sandbox
		want string
		is   error
	}{
		{"empty command", &sandlock.Sandbox{}, "empty command", nil},
		{"NUL in argv", sandlock.Command(base(), "echo", "a\x00b"), "argument 1 contains a NUL byte", nil},
		{"NUL in path", sandlock.Command(base(), "/bin/ec\x00ho"), "NUL byte", nil},
		{"NUL in env", &sandlock.Sandbox{Path: "true", Env: []string{"A=b\x00c"}}, "environment entry 0 contains a NUL byte", nil},
		{"NUL in dir", &sandlock.Sandbox{Path: "true", Dir: "/tm\x00p"}, "working directory contains a NUL byte", nil},
		{"not found", sandlock.Command(base(), "no-such-program-xyz"), `"no-such-program-xyz": executable file not found`, exec.ErrNotFound},
		{"missing path", sandlock.Command(base(), "/no/such/program"), "no such file", fs.ErrNotExist},
		{"not executable", sandlock.Command(base(), "/etc/passwd"), "permission denied", fs.ErrPermission},
		{"directory", sandlock.Command(base(), "/tmp"), "is a directory", fs.ErrPermission},
		{"unsupported field", sandlock.Command(unsupported, "true"), "policy http.allow = [GET example.com/*]: not supported yet", sandlock.ErrNotSupported},
		{"bad env key", sandlock.Command(badEnv, "true"), "process.env", nil},
		{"negative limit", sandlock.Command(negative, "true"), "limits.max_open_files = -1: must not be negative", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(children(os.Getpid()))
			err := tc.sb.Create()
			if err == nil {
				tc.sb.Close()
				t.Fatal("Create succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if tc.sb.Pid() != 0 || tc.sb.State() != sandlock.StateNew || len(children(os.Getpid())) != before {
				t.Errorf("a child was created for invalid input")
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	t.Setenv("SANDLOCK_TEST_SECRET", "s3cret")
	t.Setenv("LANG", "C.UTF-8")
	p := base()
	p.Process.Env = map[string]string{"FOO": "bar", "LANG": "en_US.UTF-8"}
	out, _, err := run(t, sandlock.Command(p, "env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FOO=bar\n", "SANDLOCK_TEST_SECRET=s3cret\n", "LANG=en_US.UTF-8\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("inherited env lacks %q", want)
		}
	}
	if strings.Count(out, "LANG=") != 1 {
		t.Errorf("LANG twice:\n%s", out)
	}
	p.Process.CleanEnv = true
	out, _, err = run(t, sandlock.Command(p, "env"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "SANDLOCK_TEST_SECRET") || !strings.Contains(out, "FOO=bar\n") || !strings.Contains(out, "PATH=") {
		t.Errorf("clean env:\n%s", out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, _, _ := strings.Cut(line, "=")
		switch k {
		case "PATH", "HOME", "USER", "TERM", "LANG", "FOO":
		default:
			t.Errorf("clean env kept %q", line)
		}
	}
}

func TestCwdAndLimits(t *testing.T) {
	p := base()
	p.Process.Cwd = "/usr"
	p.Limits.MaxOpenFiles = 77
	p.Process.NoCoreDump = true
	out, _, err := run(t, sandlock.Command(p, "sh", "-c", "pwd; ulimit -n; ulimit -Hn; ulimit -c"))
	if err != nil {
		t.Fatal(err)
	}
	if out != "/usr\n77\n77\n0\n" {
		t.Errorf("got %q", out)
	}
	// Positive twin: without the limits the program sees the defaults.
	out, _, err = run(t, sandlock.Command(base(), "sh", "-c", "ulimit -n"))
	if err != nil || strings.TrimSpace(out) == "77" {
		t.Errorf("default RLIMIT_NOFILE %q %v", out, err)
	}
}

// TestLargeOutputBothStreams: 256 MiB on stdout and stderr at the same time
// must be drained concurrently.
func TestLargeOutputBothStreams(t *testing.T) {
	const size = 256 << 20
	sb := sandlock.Command(base(), "sh", "-c", "head -c 268435456 /dev/zero & head -c 268435456 /dev/zero >&2; wait")
	var out, errw countWriter
	sb.Stdout, sb.Stderr = &out, &errw
	if err := sb.Run(); err != nil {
		t.Fatal(err)
	}
	if out.n != size || errw.n != size {
		t.Fatalf("stdout %d, stderr %d bytes; want %d each", out.n, errw.n, size)
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func TestStdinAndOutputHelpers(t *testing.T) {
	sb := sandlock.Command(base(), "tr", "a-z", "A-Z")
	sb.Stdin = strings.NewReader("hello stdin")
	out, err := sb.Output()
	if err != nil || string(out) != "HELLO STDIN" {
		t.Fatalf("Output: %q %v", out, err)
	}
	out, err = sandlock.Command(base(), "sh", "-c", "echo out; echo err >&2").CombinedOutput()
	if err != nil || string(out) != "out\nerr\n" {
		t.Fatalf("CombinedOutput: %q %v", out, err)
	}
	_, err = sandlock.Command(base(), "sh", "-c", "echo oops >&2; exit 3").Output()
	var ee *sandlock.ExitError
	if !errors.As(err, &ee) || string(ee.Stderr) != "oops\n" || ee.ExitCode() != 3 {
		t.Fatalf("Output error: %v", err)
	}
}

// TestStdinOpenFileAndPipeReader covers a stdin that never ends: the program
// exits, Wait returns.
func TestStdinNeverEnding(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	sb := sandlock.Command(base(), "head", "-c", "3")
	sb.Stdin = pr
	sb.WaitDelay = 100 * time.Millisecond
	go pw.Write([]byte("abcdef"))
	out, err := sb.Output()
	if string(out) != "abc" {
		t.Fatalf("got %q %v", out, err)
	}
}

func TestPolicyJSON(t *testing.T) {
	const in = `{"limits":{"max_open_files":64,"timeout":"1m30s"},"process":{"env":{"A":"1"},"clean_env":true,"cwd":"/tmp","no_coredump":true}}`
	var p sandlock.Policy
	if err := json.Unmarshal([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	if p.Limits.MaxOpenFiles != 64 || time.Duration(p.Limits.Timeout) != 90*time.Second || p.Process.Env["A"] != "1" || !p.Process.CleanEnv || p.Process.Cwd != "/tmp" || !p.Process.NoCoreDump {
		t.Fatalf("decoded %+v", p)
	}
	if err := json.Unmarshal([]byte(`{"limits":{"timeout":2.5}}`), &p); err != nil || time.Duration(p.Limits.Timeout) != 2500*time.Millisecond {
		t.Fatalf("seconds timeout: %v %v", p.Limits.Timeout, err)
	}
	if err := json.Unmarshal([]byte(`{"limits":{"timeout":"soon"}}`), &p); err == nil {
		t.Fatal("bad duration accepted")
	}
	b, err := json.Marshal(sandlock.Policy{})
	if err != nil || string(b) != "{}" {
		t.Fatalf("zero policy marshals to %s %v", b, err)
	}
	var q sandlock.Policy
	b, _ = json.Marshal(p)
	if err := json.Unmarshal(b, &q); err != nil || q.Limits.Timeout != p.Limits.Timeout {
		t.Fatalf("round trip %s: %v", b, err)
	}
}

func TestSignalForwardedToGroup(t *testing.T) {
	sb := sandlock.Command(base(), "sleep", "1000")
	defer sb.Close()
	if err := sb.Spawn(); err != nil {
		t.Fatal(err)
	}
	if err := sb.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var ee *sandlock.ExitError
	if err := sb.Wait(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("Wait: %v", err)
	}
	if err := sb.Signal(syscall.SIGTERM); !errors.Is(err, sandlock.ErrNotRunning) {
		t.Fatalf("Signal after Wait: %v", err)
	}
}
