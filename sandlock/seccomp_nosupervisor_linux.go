//go:build linux

package sandlock

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// noSupervisorConflicts lists the JSON names of the set fields of p that
// need a supervisor or a parent process, which ExecNoSupervisor does not
// have.
func noSupervisorConflicts(p *Policy) []string {
	var out []string
	add := func(field string, set bool) {
		if set {
			out = append(out, field)
		}
	}
	add("filesystem.deny", len(p.Filesystem.Deny) > 0)
	add("network.allow", len(p.Network.Allow) > 0)
	add("network.deny", len(p.Network.Deny) > 0)
	add("network.deny_private", p.Network.DenyPrivate)
	add("network.deny_bind", len(p.Network.DenyBind) > 0)
	add("http.allow", len(p.HTTP.Allow) > 0)
	add("http.deny", len(p.HTTP.Deny) > 0)
	add("http.ports", len(p.HTTP.Ports) > 0)
	add("limits.max_memory", p.Limits.MaxMemory != "")
	add("limits.max_processes", p.Limits.MaxProcesses != 0)
	add("limits.max_cpu", p.Limits.MaxCPU != 0)
	add("limits.cpu_cores", len(p.Limits.CPUCores) > 0)
	add("limits.timeout", p.Limits.Timeout != 0)
	add("limits.num_cpus", p.Limits.NumCPUs != 0)
	add("process.name", p.Process.Name != "")
	add("determinism.random_seed", p.Determinism.RandomSeed != nil)
	add("determinism.time_start", p.Determinism.TimeStart != "")
	add("determinism.deterministic_dirs", p.Determinism.DeterministicDirs)
	add("determinism.no_randomize_memory", p.Determinism.NoRandomizeMemory)
	return out
}

// ExecNoSupervisor replaces the calling process with the program path
// (looked up like Sandbox.Path), confined in place without a supervisor
// and without a fork: upstream sandlock's --no-supervisor mode, meant for
// running a sandbox inside a sandbox. On success it does not return.
//
// argv is the program's argument vector (argv[0] included) and env the
// base environment, to which Policy.Process applies CleanEnv and Env as for
// a Sandbox; Policy.Process.Cwd is the working directory.
//
// The process gets, on every thread: NO_NEW_PRIVS; the Landlock policy of a
// sandbox (filesystem rights, TCP bind ports from Network.Bind, no TCP
// connect, both scopes); and a deny-only seccomp filter (the relaxed list,
// the SysV IPC group unless re-allowed, Syscalls.ExtraDeny, the
// architecture guards; no argument filters), installed with
// SECCOMP_FILTER_FLAG_TSYNC. Limits.MaxOpenFiles and Process.NoCoreDump
// are applied with setrlimit. Fields that need a supervisor or a parent
// process (timeouts, memory and process limits, network and HTTP rules,
// deny paths, determinism) are an error listing them.
//
// ExecNoSupervisor needs a process without cgo (it uses
// syscall.AllThreadsSyscall). If it fails after it started confining the
// process (the error then says so), the process stays partly confined.
//
// Warning: it confines the caller. Never call it in a process that has
// anything else to do.
func ExecNoSupervisor(policy Policy, path string, argv, env []string) error {
	if fields := noSupervisorConflicts(&policy); len(fields) > 0 {
		return fmt.Errorf("sandlock: without a supervisor these policy fields cannot be enforced: %s", strings.Join(fields, ", "))
	}
	if err := policy.Validate(); err != nil {
		return err
	}
	if len(argv) == 0 {
		argv = []string{path}
	}
	sb := &Sandbox{Policy: policy, Path: path, Args: argv, Env: env}
	env, err := sb.environ()
	if err != nil {
		return err
	}
	dir := policy.Process.Cwd
	resolved, err := lookPath(path, dir, env)
	if err != nil {
		return err
	}
	cfg, err := policy.filterConfig("", true)
	if err != nil {
		return err
	}
	f, err := compileFilterCached(cfg)
	if err != nil {
		return err
	}
	filter := sockFilters(f.prog)
	net, err := policy.landlockNet()
	if err != nil {
		return err
	}
	ll, err := policy.buildLandlock(net)
	if err != nil {
		return err
	}
	defer ll.close()

	// Nothing has changed yet. From here on, failures leave the process
	// partly confined.
	var nofile syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err != nil {
		return os.NewSyscallError("getrlimit", err)
	}
	limit := syscall.Rlimit{Cur: min(1024, nofile.Max), Max: nofile.Max}
	if n := uint64(policy.Limits.MaxOpenFiles); n > 0 {
		limit.Cur, limit.Max = min(n, nofile.Max), min(n, nofile.Max)
	}
	// syscall.Setrlimit also stops syscall.Exec from restoring the limit
	// Go had at start-up.
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		return fmt.Errorf("sandlock: no supervisor: setrlimit RLIMIT_NOFILE: %w", err)
	}
	if policy.Process.NoCoreDump {
		if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{}); err != nil {
			return fmt.Errorf("sandlock: no supervisor: setrlimit RLIMIT_CORE: %w", err)
		}
	}
	if dir != "" {
		if err := os.Chdir(dir); err != nil {
			return fmt.Errorf("sandlock: no supervisor: %w", err)
		}
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); e != 0 {
		if e == syscall.ENOTSUP {
			return fmt.Errorf("sandlock: ExecNoSupervisor needs a binary built with CGO_ENABLED=0 (syscall.AllThreadsSyscall): %w: %w", ErrNotSupported, e)
		}
		return fmt.Errorf("sandlock: no supervisor: prctl(PR_SET_NO_NEW_PRIVS) on all threads: %w", e)
	}
	if err := dropCapabilitiesAllThreads(holdsSetpcap()); err != nil {
		return fmt.Errorf("sandlock: no supervisor: drop capabilities (process partly confined): %w", err)
	}
	if ll.fd >= 0 {
		if _, _, e := syscall.AllThreadsSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(ll.fd), 0, 0); e != 0 {
			return fmt.Errorf("sandlock: no supervisor: landlock_restrict_self on all threads (process partly confined): %w", e)
		}
	}
	ll.close()
	if err := seccompInstallAllThreads(filter); err != nil {
		return fmt.Errorf("sandlock: no supervisor: seccomp (process partly confined): %w", err)
	}
	err = syscall.Exec(resolved, argv, env)
	return &os.PathError{Op: "execve", Path: resolved, Err: err}
}
