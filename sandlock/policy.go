package sandlock

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Policy is everything a sandbox enforces. It is plain data: the zero value
// is a valid policy (the documented defaults), it marshals to and from JSON
// for profiles, and the sandlock-run flags fill the same fields.
//
// Sections follow upstream sandlock. Fields of layers that are not built yet
// are accepted by the JSON decoder but rejected by Validate with an error
// wrapping ErrNotSupported, so that nothing a user asks for is silently
// dropped.
type Policy struct {
	Filesystem  Filesystem  `json:"filesystem,omitzero"`
	Network     Network     `json:"network,omitzero"`
	HTTP        HTTP        `json:"http,omitzero"`
	Syscalls    Syscalls    `json:"syscalls,omitzero"`
	Limits      Limits      `json:"limits,omitzero"`
	Process     Process     `json:"process,omitzero"`
	Determinism Determinism `json:"determinism,omitzero"`

	// BestEffort runs with whatever protections the kernel can enforce.
	// The default, strict mode, makes Create fail when the kernel lacks a
	// protection the policy asks for, naming it and the kernel feature
	// that adds it. Either way Sandbox.Protections reports what is
	// enforced.
	BestEffort bool `json:"best_effort,omitempty"`

	// OnEvent, if set, is called in the supervisor for the sandbox's
	// process creations (execve, execveat, fork, vfork, clone of a
	// process), opens (open, openat, openat2) and, from the network layer,
	// connect, sendto and bind, while the call waits for its verdict
	// (EventFunc, docs/notes-events.md). It is Go code, not data: JSON and
	// the CLI cannot express it, and copies of a Policy share it.
	OnEvent EventFunc `json:"-"`

	// seccomp holds filter settings that are not policy fields: the
	// network layer's datagram switch and a test hook.
	seccomp seccompHooks
	// net is the network policy with host names pinned, set by Create on
	// its copy of the policy (netplan.go); nil before.
	net *netModel
}

// Filesystem is the Landlock filesystem policy. It is deny by default:
// nothing is readable, writable or executable unless a rule grants it. A rule
// on a directory covers everything beneath it; a rule on a regular file gets
// only the rights that apply to files. Paths are resolved (symbolic links
// followed) when the sandbox is created.
type Filesystem struct {
	// Read lists paths the sandbox may read, list and execute beneath
	// (execute, read_file, read_dir).
	Read []string `json:"read,omitempty"`
	// ReadIfExists is Read for paths that may be missing on some systems
	// (/lib64); missing ones are skipped.
	ReadIfExists []string `json:"read_if_exists,omitempty"`
	// Write lists paths the sandbox may read, execute, write, create,
	// remove, rename and link beneath, truncate, and ioctl devices in. It
	// does not allow creating character or block devices (make_char,
	// make_block): a sandbox running as root must not make device nodes.
	Write []string `json:"write,omitempty"`
	// WriteIfExists is Write for paths that may be missing; missing ones
	// are skipped.
	WriteIfExists []string `json:"write_if_exists,omitempty"`
	// Deny lists paths inside allowed trees that stay denied: a file (and
	// every hard link or symbolic link to it), or a directory and
	// everything beneath it. Opens, exec, link, rename, symlink and
	// truncate of a denied object fail with EACCES. The supervisor
	// enforces it on the inode, not the spelling (docs/notes-fs.md).
	// Each path must exist when the sandbox is created.
	Deny []string `json:"deny,omitempty"`
}

// SystemPaths are the usual locations of programs, shared libraries and the
// dynamic loader's configuration. They are not granted by default; the CLI
// grants them read-only unless --no-system-paths is given, and library users
// can put them in Filesystem.ReadIfExists.
var SystemPaths = []string{
	"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/alternatives", "/etc/localtime",
	"/dev/urandom", "/dev/random",
}

// SystemDevices are the harmless character devices programs write to
// (shell redirections truncate them). The CLI grants them writable unless
// --no-system-paths is given; library users can put them in
// Filesystem.WriteIfExists.
var SystemDevices = []string{"/dev/null", "/dev/zero", "/dev/full"}

// Network is the network policy.
//
// Allow and Deny take the same SPEC grammar (netspec.go, docs/notes-net.md):
// "[tcp://|udp://|icmp://]TARGET[:PORTS]". They are mutually exclusive:
// Allow is deny-by-default egress, Deny is allow-by-default egress with
// the listed destinations blocked. Host names resolve once, at Create.
type Network struct {
	// Allow lists outbound destinations (host, IP, CIDR, port, protocol).
	Allow []string `json:"allow,omitempty"`
	// Deny lists destinations denied (literal IPs and CIDRs only);
	// everything else is allowed.
	Deny []string `json:"deny,omitempty"`
	// DenyPrivate denies loopback, private, link-local (cloud metadata)
	// and unique-local destinations on top of Allow, or of an allow-all
	// base when Allow is empty (see netPrivate).
	DenyPrivate bool `json:"deny_private,omitempty"`
	// DenyBind lists ports that may not be bound (TCP and UDP; same
	// syntax as Bind); every other port may. Mutually exclusive with
	// Bind.
	DenyBind []string `json:"deny_bind,omitempty"`
	// Bind lists TCP ports the sandbox may bind: "8080", ranges "8000-8100",
	// comma lists, or "*" for any port. Port 0 allows binding an ephemeral
	// port. Enforced by Landlock (ABI 4); when the supervisor handles the
	// network (rules other than tcp:// ports on any address), binds are
	// made on its behalf and UDP binds follow the same list.
	Bind []string `json:"bind,omitempty"`
}

// HTTP is the HTTP ACL proxy policy.
type HTTP struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
	Ports []int    `json:"ports,omitempty"`
}

// Syscalls adjusts the seccomp filter. Every sandbox gets a filter that
// kills other architectures' entry points (i386 int 0x80, x32), fails
// system calls newer than sandlock's table with ENOSYS, denies the default
// list (mounts, namespaces, modules, kexec, ptrace, bpf, io_uring, keyrings,
// the clock setters, ...) with EPERM, and checks the arguments of clone,
// clone3, ioctl, socket, prctl and personality. See docs/design.md
// ("Seccomp filter") for the list and the reasons.
type Syscalls struct {
	// ExtraDeny lists system calls, by name ("getcwd", "open"), denied
	// with EPERM on top of the default list. A name is accepted if amd64
	// or arm64 has it and denies nothing where the running architecture
	// does not. The calls the sandbox itself makes after installing the
	// filter (execve, read, write, ...) cannot be denied.
	ExtraDeny []string `json:"extra_deny,omitempty"`
	// ExtraAllow lists groups of system calls to re-allow. The only group
	// is "sysv_ipc" (SyscallGroupSysVIPC): shmget, msgget, semget and
	// the rest of SysV IPC, denied by default because without an IPC
	// namespace their keys are shared with the host.
	ExtraAllow []string `json:"extra_allow,omitempty"`
}

// Limits are resource limits.
type Limits struct {
	// MaxMemory limits the memory the sandbox's processes commit, summed
	// over the sandbox: a size like "512M" (ParseSize). What counts is
	// each process's private writable memory (heap, anonymous and private
	// file mappings made writable, stacks) plus shared anonymous memory;
	// a call that would take the sum over the limit kills the sandbox, and
	// Wait reports an *ExitError matching ErrMemoryLimit. Each process
	// also gets RLIMIT_DATA at the limit. The supervisor enforces it
	// (docs/design.md, "Memory limit": what is and is not counted).
	MaxMemory string `json:"max_memory,omitempty"`
	// MaxProcesses limits the live processes in the sandbox, the program
	// included: a fork, vfork or clone (without CLONE_THREAD) beyond it
	// fails with EAGAIN. Zombies count until they are reaped; threads never
	// count. Zero means no limit (and no supervisor for it). The supervisor
	// enforces it (docs/design.md, "Supervisor").
	MaxProcesses int `json:"max_processes,omitempty"`
	// MaxOpenFiles sets RLIMIT_NOFILE (soft and hard) to this value, capped
	// at the current hard limit. Zero keeps the hard limit and sets the soft
	// limit to min(1024, hard): Go raises its own soft limit at start-up
	// and the classic 1024 keeps select(2)-based programs working.
	MaxOpenFiles int `json:"max_open_files,omitempty"`
	// MaxCPU is the CPU time the sandbox's process group may use, in
	// percent of one core (1-100; 0 and 100 mean no limit). The sandbox
	// is stopped (SIGSTOP) whenever it used more than its share, measured
	// from the kernel's CPU time accounting, and continued when its
	// budget is back, so that over a second or more its share stays near
	// the limit.
	MaxCPU int `json:"max_cpu,omitempty"`
	// CPUCores pins the sandbox to these CPUs (sched_setaffinity before the
	// program starts; inherited by every process of the sandbox). CPUs
	// that do not exist on this machine are an error at Create.
	CPUCores []int `json:"cpu_cores,omitempty"`
	// NumCPUs is the number of CPUs the sandbox sees: sched_getaffinity
	// reports the first NumCPUs CPUs (nproc, GOMAXPROCS, os.cpu_count)
	// and /proc/cpuinfo lists NumCPUs processors. It does not pin
	// anything (CPUCores does). Zero shows the real CPUs.
	NumCPUs int `json:"num_cpus,omitempty"`
	// Timeout is a wall-clock limit counted from Start. When it expires the
	// sandbox's whole process group is killed and Wait returns an
	// *ExitError for which errors.Is(err, ErrTimedOut) holds.
	Timeout Duration `json:"timeout,omitzero"`
}

// Process is how the program is started.
type Process struct {
	// Env sets variables on top of the base environment.
	Env map[string]string `json:"env,omitempty"`
	// CleanEnv starts from a minimal environment: only PATH, HOME, USER,
	// TERM and LANG are kept from the base environment.
	CleanEnv bool `json:"clean_env,omitempty"`
	// Cwd is the working directory when Sandbox.Dir is empty.
	Cwd string `json:"cwd,omitempty"`
	// Name is the sandbox's name, also its host name: uname(2)'s
	// nodename and /etc/hostname show it. At most 64 bytes, no NUL and
	// no '/'. Empty leaves the host name alone.
	Name string `json:"name,omitempty"`
	// NoCoreDump sets RLIMIT_CORE to 0 (not PR_SET_DUMPABLE, which would
	// also deny the supervisor access to the process).
	NoCoreDump bool `json:"no_coredump,omitempty"`
}

// Determinism makes runs reproducible.
type Determinism struct {
	RandomSeed        *uint64 `json:"random_seed,omitempty"`
	TimeStart         string  `json:"time_start,omitempty"`
	DeterministicDirs bool    `json:"deterministic_dirs,omitempty"`
	NoRandomizeMemory bool    `json:"no_randomize_memory,omitempty"`
}

// Duration is a time.Duration that reads JSON as a Go duration string
// ("1m30s") or a number of seconds, and writes it as a string.
type Duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("duration must be a string like \"30s\" or a number of seconds: %s", b)
	}
	if f < 0 || f > math.MaxInt64/float64(time.Second) || math.IsNaN(f) {
		return fmt.Errorf("duration out of range: %s", b)
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

var errNegative = errors.New("must not be negative")

// notYet builds the error for a field whose layer is not built yet.
func notYet(field string, value any) error {
	return &PolicyError{Field: field, Value: value, Err: ErrNotSupported}
}

// Validate checks the policy without touching the kernel. The error is a
// *PolicyError naming the field.
func (p *Policy) Validate() error {
	type unsupported struct {
		field string
		set   bool
		value any
	}
	h, l, d := &p.HTTP, &p.Limits, &p.Determinism
	for _, u := range []unsupported{
		{"http.allow", len(h.Allow) > 0, h.Allow},
		{"http.deny", len(h.Deny) > 0, h.Deny},
		{"http.ports", len(h.Ports) > 0, h.Ports},
		{"determinism.random_seed", d.RandomSeed != nil, d.RandomSeed},
		{"determinism.time_start", d.TimeStart != "", d.TimeStart},
		{"determinism.deterministic_dirs", d.DeterministicDirs, d.DeterministicDirs},
		{"determinism.no_randomize_memory", d.NoRandomizeMemory, d.NoRandomizeMemory},
	} {
		if u.set {
			return notYet(u.field, u.value)
		}
	}
	if err := p.validateNetwork(); err != nil {
		return err
	}
	if err := p.validateSyscalls(); err != nil {
		return err
	}
	if err := l.validate(); err != nil {
		return err
	}
	if l.MaxOpenFiles < 0 {
		return &PolicyError{Field: "limits.max_open_files", Value: l.MaxOpenFiles, Err: errNegative}
	}
	if l.MaxProcesses < 0 {
		return &PolicyError{Field: "limits.max_processes", Value: l.MaxProcesses, Err: errNegative}
	}
	if err := p.validateFS(); err != nil {
		return err
	}
	if l.Timeout < 0 {
		return &PolicyError{Field: "limits.timeout", Value: time.Duration(l.Timeout), Err: errNegative}
	}
	for k, v := range p.Process.Env {
		switch {
		case k == "":
			return &PolicyError{Field: "process.env", Value: "=" + v, Err: errors.New("empty variable name")}
		case strings.ContainsAny(k, "=\x00"):
			return &PolicyError{Field: "process.env", Value: fmt.Sprintf("%q", k), Err: errors.New("variable name contains '=' or NUL")}
		case strings.IndexByte(v, 0) >= 0:
			return &PolicyError{Field: "process.env." + k, Value: fmt.Sprintf("%q", v), Err: errors.New("value contains a NUL byte")}
		}
	}
	if strings.IndexByte(p.Process.Cwd, 0) >= 0 {
		return &PolicyError{Field: "process.cwd", Value: fmt.Sprintf("%q", p.Process.Cwd), Err: errors.New("contains a NUL byte")}
	}
	return nil
}

// parsePorts reads "8080", "8000-8100" and "*" (all ports) entries.
func parsePorts(field string, specs []string) (ports []uint16, all bool, err error) {
	for _, s := range specs {
		for _, part := range strings.Split(s, ",") {
			part = strings.TrimSpace(part)
			if part == "*" {
				all = true
				continue
			}
			lo, hi, isRange := strings.Cut(part, "-")
			a, err1 := strconv.ParseUint(lo, 10, 16)
			b := a
			var err2 error
			if isRange {
				b, err2 = strconv.ParseUint(hi, 10, 16)
			}
			if err1 != nil || err2 != nil || a > b {
				return nil, false, &PolicyError{Field: field, Value: s, Err: errors.New("want a port (0-65535), a range LO-HI or *")}
			}
			for p := a; p <= b; p++ {
				ports = append(ports, uint16(p))
			}
		}
	}
	return ports, all, nil
}
