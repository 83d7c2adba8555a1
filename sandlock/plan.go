//go:build linux

package sandlock

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/clone3"
)

// plan is everything Create derived from the Sandbox before forking.
type plan struct {
	attr       *clone3.Attr
	landlock   *landlockPlan
	timeout    time.Duration
	maxCPU     int // Limits.MaxCPU: the throttle's percentage (cputhrottle.go)
	foreground bool
	ttyFd      int
	// notify are the system calls the supervisor handles; empty means no
	// supervisor (and no listener).
	notify       []string
	noSyncWakeUp bool
	handlers     []SyscallHandler
	// policy is the validated policy the supervisor's features read.
	policy Policy
	// events is the policy callback's hub, once the supervisor set it up.
	events *eventHub
}

// holdsSetpcap reports whether this process may set securebits
// (CAP_SETPCAP in its permitted set). Without it, it has no capability to
// pass on in the first place.
func holdsSetpcap() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[0].Permitted&(1<<unix.CAP_SETPCAP) != 0
}

// cleanEnvKeep are the variables CleanEnv keeps from the base environment.
var cleanEnvKeep = []string{"PATH", "HOME", "USER", "TERM", "LANG"}

// plan validates the Sandbox and builds the child's attributes. It touches
// nothing but the file system (stat of the program).
func (sb *Sandbox) plan() (*plan, error) {
	if err := sb.Policy.Validate(); err != nil {
		return nil, err
	}
	if sb.Path == "" {
		return nil, errors.New("sandlock: empty command")
	}
	argv := sb.Args
	if len(argv) == 0 {
		argv = []string{sb.Path}
	}
	for i, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, fmt.Errorf("sandlock: argument %d contains a NUL byte: %q", i, a)
		}
	}
	if strings.IndexByte(sb.Path, 0) >= 0 {
		return nil, fmt.Errorf("sandlock: program path contains a NUL byte: %q", sb.Path)
	}
	env, err := sb.environ()
	if err != nil {
		return nil, err
	}
	dir := sb.Dir
	if dir == "" {
		dir = sb.Policy.Process.Cwd
	}
	if strings.IndexByte(dir, 0) >= 0 {
		return nil, fmt.Errorf("sandlock: working directory contains a NUL byte: %q", dir)
	}
	path, err := lookPath(sb.Path, dir, env)
	if err != nil {
		return nil, err
	}

	var nofile unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &nofile); err != nil {
		return nil, os.NewSyscallError("getrlimit", err)
	}
	limit := clone3.Rlimit{Resource: unix.RLIMIT_NOFILE, Cur: min(1024, nofile.Max), Max: nofile.Max}
	if n := uint64(sb.Policy.Limits.MaxOpenFiles); n > 0 {
		limit.Cur, limit.Max = min(n, nofile.Max), min(n, nofile.Max)
	}
	rlimits := []clone3.Rlimit{limit}
	if sb.Policy.Process.NoCoreDump {
		rlimits = append(rlimits, clone3.Rlimit{Resource: unix.RLIMIT_CORE})
	}

	if n := sb.Policy.Limits.memoryLimit(); n > 0 {
		// The per-process backstop of the memory limit (memlimit.go).
		rlimits = append(rlimits, clone3.Rlimit{Resource: unix.RLIMIT_DATA, Cur: n, Max: n})
	}
	if err := checkCPUsExist(sb.Policy.Limits.CPUCores); err != nil {
		return nil, err
	}

	// The network policy's host names are resolved once, here, on the
	// copy of the policy every later step reads.
	policy := sb.Policy
	if err := policy.pinNetwork(); err != nil {
		return nil, err
	}
	policy.seccomp.reach = policy.reachOf()
	net, err := policy.landlockNetSupervised()
	if err != nil {
		return nil, err
	}
	ll, err := policy.buildLandlock(net)
	if err != nil {
		return nil, err
	}

	pl := &plan{
		landlock: ll,
		attr: &clone3.Attr{
			Path: path,
			Argv: argv,
			Env:  env,
			Dir:  dir,
			// Its own session, or (Foreground, below) its own group in
			// the caller's session: see escapes.
			Setsid:      !sb.Foreground,
			Setpgid:     sb.Foreground,
			Rlimits:     rlimits,
			CPUAffinity: sb.Policy.Limits.CPUCores,
			NoNewPrivs:  true,
			// No capabilities survive into the sandbox, even for root.
			DropCapabilities: true,
			LockRoot:         holdsSetpcap(),
		},
		timeout: time.Duration(sb.Policy.Limits.Timeout),
		maxCPU:  sb.Policy.Limits.MaxCPU,
		ttyFd:   -1,
	}
	if ll.fd >= 0 {
		pl.attr.Landlock = &clone3.Landlock{RulesetFD: ll.fd}
	}
	userNames, err := policy.userHandlerNames(sb.Handlers)
	if err != nil {
		ll.close()
		return nil, err
	}
	policy.seccomp.userNotify = userNames
	policy.cacheNotified()
	pl.policy = policy
	filter, err := policy.seccompProgram()
	if err != nil {
		ll.close()
		return nil, err
	}
	if filter != nil {
		pl.attr.Seccomp = &clone3.Seccomp{Filter: filter}
		if pl.notify = policy.notified(); len(pl.notify) > 0 && !policy.seccomp.disabled && !policy.seccomp.allowAll {
			pl.attr.Seccomp.Flags = listenerFlags()
			// A notified sendmsg (the network policy) needs a child that
			// makes none after its filter.
			pl.attr.Seccomp.ListenerByPidfd = slices.Contains(pl.notify, "sendmsg")
			pl.handlers = sb.Handlers
			pl.noSyncWakeUp = sb.Policy.seccomp.noSyncWakeUp
		} else {
			pl.notify = nil
		}
	}
	if sb.Foreground {
		f, ok := sb.Stdin.(*os.File)
		if !ok {
			ll.close()
			return nil, errors.New("sandlock: Foreground needs Stdin to be the terminal (*os.File)")
		}
		pl.foreground, pl.ttyFd = true, int(f.Fd())
		pl.attr.Foreground = true
	}
	return pl, nil
}

// environ builds the program's environment: the base (Env or ours), cut
// down by CleanEnv, then Policy.Process.Env in key order. Later entries
// replace earlier ones with the same key.
func (sb *Sandbox) environ() ([]string, error) {
	base := sb.Env
	if base == nil {
		base = os.Environ()
	}
	for i, kv := range base {
		if strings.IndexByte(kv, 0) >= 0 {
			return nil, fmt.Errorf("sandlock: environment entry %d contains a NUL byte: %q", i, kv)
		}
	}
	if sb.Policy.Process.CleanEnv {
		var kept []string
		for _, kv := range base {
			k, _, _ := strings.Cut(kv, "=")
			if slices.Contains(cleanEnvKeep, k) {
				kept = append(kept, kv)
			}
		}
		base = kept
	}
	keys := make([]string, 0, len(sb.Policy.Process.Env))
	for k := range sb.Policy.Process.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	env := append([]string(nil), base...)
	for _, k := range keys {
		env = append(env, k+"="+sb.Policy.Process.Env[k])
	}
	return dedupEnv(env), nil
}

// dedupEnv keeps the last entry for each key, in first-appearance order.
func dedupEnv(env []string) []string {
	last := make(map[string]int, len(env))
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		last[k] = i
	}
	out := env[:0:0]
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if last[k] == i {
			out = append(out, kv)
		}
	}
	return out
}

// lookPath resolves the program as execve will see it, before the fork: a
// name with a slash is checked as is (relative to dir), a bare name is
// searched in the PATH of env (or ours when env has none). Relative PATH
// entries are skipped, so that a sandbox never runs a program from its
// working directory by accident. The error wraps exec.ErrNotFound,
// fs.ErrNotExist or fs.ErrPermission.
func lookPath(file, dir string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		p := file
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		if err := executable(p); err != nil {
			return "", &exec.Error{Name: file, Err: err}
		}
		return file, nil
	}
	pathEnv, ok := "", false
	for _, kv := range env {
		if v, found := strings.CutPrefix(kv, "PATH="); found {
			pathEnv, ok = v, true
		}
	}
	if !ok {
		pathEnv = os.Getenv("PATH")
	}
	var denied error
	for _, d := range filepath.SplitList(pathEnv) {
		if !filepath.IsAbs(d) {
			continue
		}
		p := filepath.Join(d, file)
		err := executable(p)
		if err == nil {
			return p, nil
		}
		if errors.Is(err, fs.ErrPermission) && denied == nil {
			denied = err
		}
	}
	if denied != nil {
		return "", &exec.Error{Name: file, Err: denied}
	}
	return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%w: is a directory", fs.ErrPermission)
	}
	if fi.Mode()&0o111 == 0 {
		return fs.ErrPermission
	}
	return nil
}
