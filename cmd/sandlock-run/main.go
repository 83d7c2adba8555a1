package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

// Exit statuses of the CLI itself.
const (
	exitMemory     = 122 // the sandbox was killed by its memory limit
	exitTimeout    = 124
	exitSetup      = 125
	exitNotExec    = 126
	exitNotFound   = 127
	exitSignalBase = 128
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

const topUsage = `usage: sandlock-run COMMAND [flags]

Commands:
  run [flags] -- CMD [ARGS...]   run CMD in a sandbox
  check [--json]                 report what this kernel can enforce
                                 (exit 0 when a default sandbox is fully enforceable)
  check --dump-filter [flags]    print the seccomp filter of run's policy flags

Flags:
  --help       show this help
  --version    print the version

Run 'sandlock-run run --help' for the flags of run.
`

func run(ctx context.Context, args []string, stdin *os.File, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return exitSetup
	}
	switch args[0] {
	case "run":
		return runCmd(ctx, args[1:], stdin, stdout, stderr)
	case "check":
		return checkCmd(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, topUsage)
		return 0
	case "-version", "--version", "version":
		fmt.Fprintf(stdout, "sandlock-run %s\n", version())
		return 0
	}
	fmt.Fprintf(stderr, "sandlock-run: unknown command %q\n\n%s", args[0], topUsage)
	return exitSetup
}

// options are the parsed flags of run, before they become a Policy.
type options struct {
	policy        sandlock.Policy
	policyFile    string
	cwd           string
	envs          []string
	statusFd      int
	execShell     string
	noSystemPaths bool
	noSupervisor  bool
}

// flagFor maps a policy field (PolicyError.Field) to the flag that sets it,
// so that errors name what the user typed.
var flagFor = map[string]string{
	"filesystem.read":            "--fs-read",
	"filesystem.write":           "--fs-write",
	"filesystem.deny":            "--fs-deny",
	"filesystem.read_if_exists":  "--fs-read-if-exists",
	"filesystem.write_if_exists": "--fs-write-if-exists",
	"network.allow":              "--net-allow",
	"network.bind":               "--net-allow-bind",
	"network.deny":               "--net-deny",
	"network.deny_bind":          "--net-deny-bind",
	"http.allow":                 "--http-allow",
	"http.deny":                  "--http-deny",
	"syscalls.extra_deny":        "--extra-deny-syscall",
	"syscalls.extra_allow":       "--extra-allow-syscall",
	"limits.max_memory":          "--max-memory",
	"limits.max_processes":       "--max-processes",
	"limits.max_open_files":      "--max-open-files",
	"limits.max_cpu":             "--cpu",
	"limits.cpu_cores":           "--cpu-cores",
	"limits.timeout":             "--timeout",
	"limits.num_cpus":            "--num-cpus",
	"process.name":               "--name",
	"process.env":                "--env",
	"process.cwd":                "--cwd",
}

type stringList struct{ p *[]string }

func (s stringList) String() string     { return "" }
func (s stringList) Set(v string) error { *s.p = append(*s.p, v); return nil }

type secondsValue struct{ d *sandlock.Duration }

func (s secondsValue) String() string { return "" }
func (s secondsValue) Set(v string) error {
	d, err := parseSeconds(v)
	if err != nil {
		return err
	}
	*s.d = sandlock.Duration(d)
	return nil
}

// parseSeconds reads "30", "2.5" (seconds) or a Go duration ("1m30s").
func parseSeconds(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || f > 1e9 {
			return 0, errors.New("must be between 0 and 1e9 seconds")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("must be a number of seconds or a duration like 1m30s")
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	return d, nil
}

func newRunFlags(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sandlock-run run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	p := &o.policy
	both := func(short, long string, v flag.Value, usage string) {
		if short != "" {
			fs.Var(v, short, "short for --"+long)
		}
		fs.Var(v, long, usage)
	}
	fs.StringVar(&o.policyFile, "policy-file", "", "read the policy from this JSON `FILE`; flags add to it")
	fs.StringVar(&o.cwd, "cwd", "", "working `DIR` of the program")
	both("", "env", stringList{&o.envs}, "set `KEY=VALUE` in the program's environment (repeatable)")
	fs.BoolVar(&p.Process.CleanEnv, "clean-env", false, "start from a minimal environment (PATH, HOME, USER, TERM, LANG)")
	both("t", "timeout", secondsValue{&p.Limits.Timeout}, "kill the sandbox after `SECS` seconds (exit status 124)")
	fs.IntVar(&p.Limits.MaxOpenFiles, "max-open-files", 0, "RLIMIT_NOFILE for the program (`N`)")
	fs.BoolVar(&p.Process.NoCoreDump, "no-coredump", false, "disable core dumps (RLIMIT_CORE 0)")
	fs.IntVar(&o.statusFd, "status-fd", -1, "write one JSON line with the exit status to `FD`")
	both("e", "exec-shell", stringFlag{&o.execShell}, "run `CMD` with /bin/sh -c")
	both("r", "fs-read", stringList{&p.Filesystem.Read}, "allow reading and executing beneath `PATH` (repeatable)")
	both("w", "fs-write", stringList{&p.Filesystem.Write}, "allow reading, writing and creating beneath `PATH` (repeatable)")
	both("", "fs-read-if-exists", stringList{&p.Filesystem.ReadIfExists}, "like --fs-read, skipped if `PATH` is missing")
	both("", "fs-write-if-exists", stringList{&p.Filesystem.WriteIfExists}, "like --fs-write, skipped if `PATH` is missing")
	fs.BoolVar(&o.noSystemPaths, "no-system-paths", false, "do not grant the system paths (read: /usr /bin /lib* ..., write: /dev/null /dev/zero /dev/full)")
	fs.BoolVar(&p.BestEffort, "best-effort", false, "run with the protections the kernel has instead of failing")
	both("", "net-allow-bind", stringList{&p.Network.Bind}, "allow binding TCP `PORTS` (8080, 8000-8100, *; repeatable; UDP too under address rules)")
	both("", "net-deny-bind", stringList{&p.Network.DenyBind}, "deny binding `PORTS` (TCP and UDP), allow the rest (repeatable; not with --net-allow-bind)")
	both("", "net-allow", stringList{&p.Network.Allow}, "allow outbound `SPEC`: [tcp://|udp://|icmp://]TARGET[:PORTS], TARGET a host, IP, [IPv6], CIDR or * (repeatable)")
	both("", "net-deny", stringList{&p.Network.Deny}, "deny outbound `SPEC` (IP/CIDR targets), allow the rest (repeatable; not with --net-allow)")
	fs.BoolVar(&p.Network.DenyPrivate, "net-deny-private", false, "deny loopback, private, link-local (cloud metadata) and unique-local destinations")
	both("", "fs-deny", stringList{&p.Filesystem.Deny}, "deny `PATH` (a file, its links, or a directory and everything beneath) inside allowed trees (repeatable)")
	fs.IntVar(&p.Limits.NumCPUs, "num-cpus", 0, "show the program `N` CPUs (sched_getaffinity, /proc/cpuinfo); no pinning")
	fs.StringVar(&p.Process.Name, "name", "", "sandbox `NAME`, also its host name (uname, /etc/hostname)")
	fs.BoolVar(&o.noSupervisor, "no-supervisor", false, "confine this process and exec CMD directly: Landlock and a deny-only seccomp filter, no fork (for nesting)")
	// Later layers: accepted so that the error names the flag.
	both("", "net-bind", stringList{&p.Network.Bind}, "same as --net-allow-bind (upstream's older name)")
	both("", "extra-deny-syscall", stringList{&p.Syscalls.ExtraDeny}, "deny system call `NAME` (repeatable)")
	both("", "extra-allow-syscall", stringList{&p.Syscalls.ExtraAllow}, "re-allow system call group `NAME` (repeatable)")
	fs.StringVar(&p.Limits.MaxMemory, "max-memory", "", "kill the sandbox when its memory would exceed `SIZE` (512M, 2G; exit status 122)")
	fs.StringVar(&p.Limits.MaxMemory, "m", "", "short for --max-memory")
	fs.IntVar(&p.Limits.MaxProcesses, "max-processes", 0, "process limit `N`")
	fs.IntVar(&p.Limits.MaxProcesses, "P", 0, "short for --max-processes")
	fs.IntVar(&p.Limits.MaxCPU, "cpu", 0, "limit the sandbox's CPU time to `PERCENT` of one core (1-100)")
	fs.IntVar(&p.Limits.MaxCPU, "c", 0, "short for --cpu")
	fs.Var(cpuListValue{&p.Limits.CPUCores}, "cpu-cores", "pin the sandbox to `CPUS` (0,1 or ranges 0-3,6)")
	fs.Usage = func() { printRunUsage(fs.Output(), fs) }
	return fs
}

// printRunUsage lists the flags as "-s, --long ARG", long names first.
func printRunUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, "usage: sandlock-run run [flags] -- CMD [ARGS...]\n\nFlags:\n")
	shorts := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if long, ok := strings.CutPrefix(f.Usage, "short for --"); ok {
			shorts[long] = f.Name
		}
	})
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Usage, "short for --") {
			return
		}
		arg, usage := flag.UnquoteUsage(f)
		if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool {
			arg = ""
		}
		name := "    --" + f.Name
		if s, ok := shorts[f.Name]; ok {
			name = "-" + s + ", --" + f.Name
		}
		fmt.Fprintf(w, "  %-32s %s\n", strings.TrimSpace(name+" "+arg), usage)
	})
	fmt.Fprint(w, `
Policy fields of layers not built yet (http in a --policy-file) are
rejected with "not supported yet".

Exit status: the program's; 128+N if killed by signal N; 122 if the memory
limit killed it; 124 on timeout; 125 if the sandbox could not be set up;
126 if CMD is not executable; 127 if CMD was not found.
`)
}

type stringFlag struct{ p *string }

func (s stringFlag) String() string     { return "" }
func (s stringFlag) Set(v string) error { *s.p = v; return nil }

func fail(stderr io.Writer, code int, format string, args ...any) int {
	fmt.Fprintf(stderr, "sandlock-run: "+format+"\n", args...)
	return code
}

func runCmd(ctx context.Context, args []string, stdin *os.File, stdout, stderr io.Writer) int {
	o := &options{}
	fset := newRunFlags(o, stderr)
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			printRunUsage(stdout, fset)
			return 0
		}
	}
	if err := fset.Parse(args); err != nil {
		return exitSetup
	}
	argv := fset.Args()
	if o.execShell != "" {
		argv = append([]string{"/bin/sh", "-c", o.execShell}, argv...)
	}
	if len(argv) == 0 {
		return fail(stderr, exitSetup, "no command given (usage: sandlock-run run [flags] -- CMD [ARGS...])")
	}
	policy := o.policy
	if o.policyFile != "" {
		base, err := loadPolicy(o.policyFile)
		if err != nil {
			return fail(stderr, exitSetup, "--policy-file %s: %v", o.policyFile, err)
		}
		policy = merge(base, o.policy)
	}
	for _, kv := range o.envs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fail(stderr, exitSetup, "--env requires KEY=VALUE, got %q", kv)
		}
		if policy.Process.Env == nil {
			policy.Process.Env = map[string]string{}
		}
		policy.Process.Env[k] = v
	}
	if o.cwd != "" {
		policy.Process.Cwd = o.cwd
	}
	if !o.noSystemPaths {
		policy.Filesystem.ReadIfExists = append(policy.Filesystem.ReadIfExists, sandlock.SystemPaths...)
		policy.Filesystem.WriteIfExists = append(policy.Filesystem.WriteIfExists, sandlock.SystemDevices...)
	}
	if o.noSupervisor {
		return noSupervisorCmd(fset, o, policy, argv, stderr)
	}
	if err := policy.Validate(); err != nil {
		return failPolicy(stderr, err, o)
	}
	var status *os.File
	if o.statusFd >= 0 {
		if _, err := unix.FcntlInt(uintptr(o.statusFd), unix.F_GETFD, 0); err != nil {
			return fail(stderr, exitSetup, "--status-fd %d: %v", o.statusFd, err)
		}
		status = os.NewFile(uintptr(o.statusFd), "status-fd")
		unix.CloseOnExec(o.statusFd)
	}

	sb := sandlock.Command(policy, argv[0], argv[1:]...)
	sb.Stdin, sb.Stdout, sb.Stderr = stdin, stdout, stderr
	sb.Foreground = isForeground(stdin)
	defer sb.Close()

	if err := sb.CreateContext(ctx); err != nil {
		if errors.As(err, new(*sandlock.PolicyError)) {
			return failPolicy(stderr, err, o)
		}
		return fail(stderr, setupCode(err), "%v", err)
	}
	// Termination signals are forwarded to the sandbox (a second one kills
	// it) from here on. Not before Create: signal handling set up earlier
	// would cost a thread before the child exists, for nothing.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if isTerminal(stdin) {
		// From Create on: a ^Z between Create and the exec stops the child
		// before it execs, and Start would wait for it for ever.
		go relayStops(sb, stdin, sb.Foreground)
	}
	if err := sb.StartContext(ctx); err != nil {
		code := setupCode(err)
		_ = sb.Kill()
		_ = sb.Wait()
		writeStatus(status, code, 0, false)
		return fail(stderr, code, "%v", err)
	}
	go func() {
		n := 0
		for sig := range sigs {
			if n++; n > 1 {
				sig = syscall.SIGKILL
			}
			_ = sb.Signal(sig)
		}
	}()
	err := sb.Wait()
	var ee *sandlock.ExitError
	switch {
	case err == nil:
		writeStatus(status, 0, 0, false)
		return 0
	case errors.As(err, &ee) && errors.Is(err, sandlock.ErrMemoryLimit):
		fmt.Fprintf(stderr, "sandlock-run: memory limit exceeded (--max-memory %s)\n", policy.Limits.MaxMemory)
		writeStatus(status, -1, int(syscall.SIGKILL), false)
		return exitMemory
	case errors.As(err, &ee) && ee.TimedOut:
		fmt.Fprintf(stderr, "sandlock-run: timed out after %v\n", ee.Timeout)
		writeStatus(status, -1, 0, true)
		return exitTimeout
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			writeStatus(status, -1, int(ws.Signal()), false)
			return exitSignalBase + int(ws.Signal())
		}
		writeStatus(status, ws.ExitStatus(), 0, false)
		return ws.ExitStatus()
	}
	return fail(stderr, exitSetup, "%v", err)
}

// failPolicy reports an invalid policy, naming the flag that set the
// field when it came from a flag.
func failPolicy(stderr io.Writer, err error, o *options) int {
	var pe *sandlock.PolicyError
	if errors.As(err, &pe) && flagFor[pe.Field] != "" && o.policyFile == "" {
		return fail(stderr, setupCode(err), "%s %v: %v", flagFor[pe.Field], pe.Value, pe.Err)
	}
	return fail(stderr, setupCode(err), "%v", err)
}

// cpuListValue is the --cpu-cores flag: a CPU list (sandlock.ParseCPUList).
type cpuListValue struct{ p *[]int }

func (c cpuListValue) String() string { return "" }
func (c cpuListValue) Set(v string) error {
	cpus, err := sandlock.ParseCPUList(v)
	if err != nil {
		return err
	}
	*c.p = cpus
	return nil
}

// setupCode maps an error that kept the program from starting to an exit
// status: 127 not found, 126 not executable, 125 anything else.
func setupCode(err error) int {
	var ce *sandlock.ChildError
	if errors.As(err, &ce) && strings.HasPrefix(ce.Op, "execve ") {
		if ce.Errno == syscall.ENOENT {
			return exitNotFound
		}
		return exitNotExec
	}
	var xe *exec.Error
	if errors.As(err, &xe) {
		switch {
		case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
			return exitNotFound
		case errors.Is(err, fs.ErrPermission):
			return exitNotExec
		}
	}
	return exitSetup
}

func writeStatus(f *os.File, code, sig int, timedOut bool) {
	if f == nil {
		return
	}
	st := struct {
		ExitCode int  `json:"exit_code"`
		Signal   int  `json:"signal,omitempty"`
		TimedOut bool `json:"timed_out,omitempty"`
	}{code, sig, timedOut}
	b, _ := json.Marshal(st)
	_, _ = f.Write(append(b, '\n'))
}

func loadPolicy(path string) (sandlock.Policy, error) {
	var p sandlock.Policy
	b, err := os.ReadFile(path)
	if err != nil {
		return p, err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, err
	}
	return p, nil
}

// merge lays the flags' policy over a profile: lists are appended, set
// scalars replace.
func merge(base, f sandlock.Policy) sandlock.Policy {
	b := base
	b.Filesystem.Read = append(b.Filesystem.Read, f.Filesystem.Read...)
	b.Filesystem.Write = append(b.Filesystem.Write, f.Filesystem.Write...)
	b.Filesystem.ReadIfExists = append(b.Filesystem.ReadIfExists, f.Filesystem.ReadIfExists...)
	b.Filesystem.WriteIfExists = append(b.Filesystem.WriteIfExists, f.Filesystem.WriteIfExists...)
	b.BestEffort = b.BestEffort || f.BestEffort
	b.Filesystem.Deny = append(b.Filesystem.Deny, f.Filesystem.Deny...)
	b.Network.Allow = append(b.Network.Allow, f.Network.Allow...)
	b.Network.Bind = append(b.Network.Bind, f.Network.Bind...)
	b.Network.Deny = append(b.Network.Deny, f.Network.Deny...)
	b.Network.DenyBind = append(b.Network.DenyBind, f.Network.DenyBind...)
	b.Network.DenyPrivate = b.Network.DenyPrivate || f.Network.DenyPrivate
	b.Syscalls.ExtraDeny = append(b.Syscalls.ExtraDeny, f.Syscalls.ExtraDeny...)
	b.Syscalls.ExtraAllow = append(b.Syscalls.ExtraAllow, f.Syscalls.ExtraAllow...)
	if f.Limits.MaxMemory != "" {
		b.Limits.MaxMemory = f.Limits.MaxMemory
	}
	if f.Limits.MaxProcesses != 0 {
		b.Limits.MaxProcesses = f.Limits.MaxProcesses
	}
	if f.Limits.MaxOpenFiles != 0 {
		b.Limits.MaxOpenFiles = f.Limits.MaxOpenFiles
	}
	if f.Limits.MaxCPU != 0 {
		b.Limits.MaxCPU = f.Limits.MaxCPU
	}
	if len(f.Limits.CPUCores) > 0 {
		b.Limits.CPUCores = f.Limits.CPUCores
	}
	if f.Limits.Timeout != 0 {
		b.Limits.Timeout = f.Limits.Timeout
	}
	if f.Limits.NumCPUs != 0 {
		b.Limits.NumCPUs = f.Limits.NumCPUs
	}
	if f.Process.Name != "" {
		b.Process.Name = f.Process.Name
	}
	b.Process.CleanEnv = b.Process.CleanEnv || f.Process.CleanEnv
	b.Process.NoCoreDump = b.Process.NoCoreDump || f.Process.NoCoreDump
	return b
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// relayStops mirrors the sandbox's job-control stops onto sandlock-run, as a
// shell does with its jobs: when the program is stopped (^Z, SIGTTIN), take
// the terminal back and stop ourselves, so that the user's shell sees its
// job stopped; when we are continued (fg, bg), give the terminal back if we
// had it and continue the sandbox. It ends when the program is reaped.
func relayStops(sb *sandlock.Sandbox, tty *os.File, foreground bool) {
	pid := sb.Pid()
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WSTOPPED, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return // ECHILD: reaped
		}
		if sigchldStatus(&info) == syscall.SIGSTOP {
			// Not job control: the CPU limit's duty cycle (or someone's
			// kill -STOP), which continues the sandbox itself.
			continue
		}
		if foreground {
			_ = sandlock.SetForeground(int(tty.Fd()), unix.Getpgrp())
		}
		_ = unix.Kill(unix.Getpid(), unix.SIGSTOP)
		// Continued.
		if foreground && isForeground(tty) { // fg, not bg
			_ = sandlock.SetForeground(int(tty.Fd()), pid)
		}
		_ = sb.Signal(syscall.SIGCONT)
	}
}

// isForeground reports whether f is a terminal whose foreground process
// group is ours: then the sandbox takes the terminal while it runs, so that
// an interactive program can read it and ^C reaches it directly.
func isForeground(f *os.File) bool {
	if f == nil {
		return false
	}
	pgrp, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}
