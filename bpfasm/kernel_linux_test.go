//go:build linux && (amd64 || arm64)

package bpfasm

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The kernel cross-check installs programs with prctl(PR_SET_SECCOMP) in a
// helper child process, never in the test process, and compares
//
//   - whether the kernel accepts each program with whether Validate does,
//   - for accepted programs, what a getpid(2) call under the filter does
//     with what the interpreter says the filter returns.
//
// The helper installs the filter on one locked OS thread only (no TSYNC),
// so the rest of the Go runtime keeps working. That thread makes no system
// call after the probe: it publishes the result in memory and spins, and
// another thread prints the result and exits the process. Asynchronous
// preemption and the garbage collector are off in the helper so that the
// runtime never needs the filtered thread, and SIGSYS is ignored so that a
// SECCOMP_RET_TRAP kills the process instead of entering Go's handler on
// the filtered thread.

const (
	kernelHelperEnv   = "BPFASM_KERNEL_HELPER"
	kernelStartEnv    = "BPFASM_KERNEL_START"
	kernelLinePrefix  = "bpfasm-kernel:"
	prSetNoNewPrivs   = 38
	prSetSeccomp      = 22
	seccompModeFilter = 2
	maxErrno          = 4095
)

func kernelArch() uint32 {
	if runtime.GOARCH == "arm64" {
		return 0xc00000b7 // AUDIT_ARCH_AARCH64
	}
	return auditArchX86_64
}

type kernelCase struct {
	prog []Instruction
	args [6]uint64
}

// TestKernelHelper is the helper process of TestKernelCrossCheck; it does
// nothing in a normal test run.
func TestKernelHelper(t *testing.T) {
	path := os.Getenv(kernelHelperEnv)
	if path == "" {
		return
	}
	start, _ := strconv.Atoi(os.Getenv(kernelStartEnv))
	kernelHelper(path, start)
}

// Probe state shared between the filtered thread and the reporter.
var (
	probeState atomic.Int32 // 0 idle, 1 installed, 2 probed
	probeTID   atomic.Int32
	probeRet   atomic.Uint64
	probeErrno atomic.Uint64
	probeSpin  atomic.Uint64
)

func kernelHelper(path string, start int) {
	fail := func(format string, args ...any) {
		fmt.Printf(kernelLinePrefix+" fatal "+format+"\n", args...)
		os.Exit(3)
	}
	signal.Ignore(syscall.SIGSYS)
	if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{}); err != nil {
		fail("setrlimit: %v", err)
	}
	cases, err := readKernelCases(path)
	if err != nil {
		fail("%v", err)
	}
	go kernelReporter()
	runtime.LockOSThread() // never unlocked: this thread gets the filter
	probeTID.Store(int32(syscall.Gettid()))
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0); e != 0 {
		fail("PR_SET_NO_NEW_PRIVS: %v", e)
	}
	for i := start; i < len(cases); i++ {
		c := cases[i]
		filters := make([]syscall.SockFilter, len(c.prog)+1) // +1: never a nil pointer
		for j, ins := range c.prog {
			filters[j] = syscall.SockFilter{Code: ins.Code, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
		}
		fprog := &syscall.SockFprog{Len: uint16(len(c.prog)), Filter: &filters[0]}
		fmt.Printf("%s %d try\n", kernelLinePrefix, i)
		// reflect gives the address without importing unsafe; fprog and
		// filters are heap objects kept alive below.
		addr := reflect.ValueOf(fprog).Pointer()
		_, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetSeccomp, seccompModeFilter, addr)
		runtime.KeepAlive(fprog)
		runtime.KeepAlive(filters)
		if e == syscall.EINVAL {
			fmt.Printf("%s %d reject\n", kernelLinePrefix, i)
			continue
		}
		if e != 0 {
			fail("%d: PR_SET_SECCOMP: %v", i, e)
		}
		// The filter is installed: no more system calls on this thread
		// except the probe.
		probeState.Store(1)
		a := c.args
		r, _, e := syscall.RawSyscall6(syscall.SYS_GETPID, uintptr(a[0]), uintptr(a[1]), uintptr(a[2]),
			uintptr(a[3]), uintptr(a[4]), uintptr(a[5]))
		probeRet.Store(uint64(r))
		probeErrno.Store(uint64(e))
		probeState.Store(2)
		for {
			probeSpin.Add(1)
		}
	}
	fmt.Printf("%s end\n", kernelLinePrefix)
	os.Exit(0)
}

// kernelReporter waits for the probe, prints what happened and exits the
// process. A thread killed by SECCOMP_RET_KILL_THREAD disappears from
// /proc/self/task or becomes a zombie if it led the thread group.
func kernelReporter() {
	deadline := time.Time{}
	for {
		time.Sleep(time.Millisecond)
		switch probeState.Load() {
		case 0:
			continue
		case 2:
			// Go's RawSyscall reports -4095 as a successful return, so
			// decode the raw value as the C library does.
			obs := "ok"
			r := int64(probeRet.Load())
			switch {
			case probeErrno.Load() != 0:
				obs = fmt.Sprintf("errno=%d", probeErrno.Load())
			case r < 0 && r >= -maxErrno:
				obs = fmt.Sprintf("errno=%d", -r)
			case r == 0:
				obs = "ret0"
			}
			fmt.Printf("%s accept %s\n", kernelLinePrefix, obs)
			os.Exit(0)
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(20 * time.Second)
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", probeTID.Load()))
		if err != nil || threadDead(stat) {
			fmt.Printf("%s accept threadkilled\n", kernelLinePrefix)
			os.Exit(0)
		}
		if time.Now().After(deadline) {
			fmt.Printf("%s accept hang\n", kernelLinePrefix)
			os.Exit(0)
		}
	}
}

// threadDead reports whether a /proc/<pid>/task/<tid>/stat line shows a
// zombie or dead thread.
func threadDead(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	return stat[i+2] == 'Z' || stat[i+2] == 'X'
}

func writeKernelCases(path string, cases []kernelCase) error {
	var sb strings.Builder
	for _, c := range cases {
		sb.WriteString("p" + hex.EncodeToString(Encode(c.prog)))
		for _, a := range c.args {
			fmt.Fprintf(&sb, " %d", a)
		}
		sb.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(sb.String()), 0o600)
}

func readKernelCases(path string) ([]kernelCase, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cases []kernelCase
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 7 {
			return nil, fmt.Errorf("bad case line %q", line)
		}
		raw, err := hex.DecodeString(strings.TrimPrefix(f[0], "p"))
		if err != nil {
			return nil, err
		}
		var c kernelCase
		if c.prog, err = Decode(raw); err != nil {
			return nil, err
		}
		for i := range c.args {
			if c.args[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
				return nil, err
			}
		}
		cases = append(cases, c)
	}
	return cases, nil
}

// expectedObservation is what a getpid(2) probe under a filter that returns
// ret should observe (kernel/seccomp.c, __seccomp_filter), with no tracer,
// no listener and SIGSYS ignored.
func expectedObservation(ret uint32) string {
	a := Action(ret)
	switch a.Kind() {
	case ActionAllow, ActionLog:
		return "ok"
	case ActionErrno:
		d := min(int(a.Data()), maxErrno)
		if d == 0 {
			return "ret0"
		}
		return fmt.Sprintf("errno=%d", d)
	case ActionTrace, ActionUserNotif:
		return fmt.Sprintf("errno=%d", int(syscall.ENOSYS))
	case ActionKillThread:
		return "threadkilled"
	}
	return "sigsys" // KILL_PROCESS, TRAP and unknown actions
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// readsIP reports whether prog may load seccomp_data.instruction_pointer,
// which the probe cannot control.
func readsIP(prog []Instruction) bool {
	for _, ins := range prog {
		if ins.Code == opLdAbsW && (ins.K == OffsetIPLow || ins.K == OffsetIPHigh) {
			return true
		}
	}
	return false
}

// kernelCases returns the programs to cross-check: hand-written edge cases,
// programs from the fuzz generator, and mutations of them that are often
// invalid.
func kernelCases(t *testing.T, n int) []kernelCase {
	var cases []kernelCase
	arch := kernelArch()
	nr := uint32(syscall.SYS_GETPID)
	for _, text := range []string{
		"ret ALLOW", "ret ERRNO(1)", "ret ERRNO(0)", "ret ERRNO(4095)", "ret ERRNO(65535)",
		"ret TRACE(3)", "ret USER_NOTIF", "ret LOG", "ret KILL_PROCESS", "ret TRAP(1)",
		"ret KILL_THREAD", "ret #0x12340000", "ret ALLOW(7)",
		"ld #len\nadd #0x50000\nret a",
		"ldx #len\ntxa\nadd #0x50000\nret a",
		"ld [4]\njeq #" + strconv.FormatUint(uint64(arch), 10) + " jt +0 jf +1\nret ERRNO(5)\nret KILL_PROCESS",
		"ld [0]\nsub #" + strconv.FormatUint(uint64(nr), 10) + "\nadd #0x50009\nret a",
		"ld [16]\nld [20]\nret a",
		"ld [16]\ntax\nld #0x50000\nadd x\nret a",
		"ld [16]\ntax\nld #0x50064\ndiv x\nret a",
		"ld [16]\ntax\nld #0x50001\nlsh x\nret a",
		"ld [16]\ntax\nld #0x50000\nor #0x80\nrsh x\nret a",
		"ld [16]\nneg\nand #0xff\nor #0x50000\nret a",
		"ld [16]\nxor #0x50005\nret a",
		"ld [16]\nmul #3\nand #0xfff\nor #0x50000\nret a",
		"st M[0]\nld M[0]\nret a",
		"ld M[0]\nret a",
		// The kernel's scratch check: state carried across a return
		// (rejected), unreachable code after a jump (accepted), and the
		// program of TestOptimizeDiscardsInvalidResults with and without
		// its dead code (accepted, rejected).
		"jeq #1 jt +0 jf +2\nst M[0]\nja +1\nret #0\nld M[0]\nret a",
		"ja +1\nld M[0]\nret a",
		"ld [0]\njeq #1 jt 2 jf 6\nadd #1\nst M[0]\nja 8\nret #9\nret #0\nst M[0]\nld M[0]\nret a",
		"ld [0]\njeq #1 jt 2 jf 5\nadd #1\nst M[0]\nja 6\nret #0\nld M[0]\nret a",
		"st M[3]\njeq #1 jt +0 jf +1\nret #0\nld M[3]\nret a",
		"ld [62]\nret a", "ld [64]\nret a", "ldh [0]\nret a", "mod #3\nret a",
		"div #0\nret a", "lsh #32\nret a", "ld M[16]\nret a", "ja +1\nret a",
		".insn 0x0e, 0, 0, 0", "ld [x+0]\nret a", "ldxb 4*([0]&0xf)\nret a",
	} {
		prog, err := ParseText(text)
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range [][6]uint64{{0}, {2, 3}, {33, 1 << 40}} {
			cases = append(cases, kernelCase{prog: prog, args: args})
		}
	}
	cases = append(cases, kernelCase{prog: nil})
	big := make([]Instruction, MaxInstructions+1)
	for i := range big {
		big[i] = Stmt(opRetK, uint32(ActionAllow))
	}
	cases = append(cases, kernelCase{prog: big}, kernelCase{prog: big[:MaxInstructions]})

	rng := rand.New(rand.NewSource(1))
	for len(cases) < n {
		data := make([]byte, rng.Intn(400))
		rng.Read(data)
		b, pool := genProgram(data)
		prog, err := b.Assemble()
		if err != nil {
			continue
		}
		var args [6]uint64
		for i := range args {
			args[i] = uint64(pool[rng.Intn(len(pool))])<<32*uint64(rng.Intn(2)) | uint64(pool[rng.Intn(len(pool))])
		}
		// Make some comparisons of nr and arch true.
		for i := range prog {
			if isCondJump(prog[i].Code) && prog[i].K == pool[5] {
				prog[i].K = nr
			}
		}
		cases = append(cases, kernelCase{prog: prog, args: args})
		if rng.Intn(2) == 0 {
			// A mutation: one random field of one instruction.
			m := append([]Instruction(nil), prog...)
			j := rng.Intn(len(m))
			switch rng.Intn(4) {
			case 0:
				m[j].Code = uint16(rng.Intn(256))
			case 1:
				m[j].Jt = uint8(rng.Intn(256))
			case 2:
				m[j].Jf = uint8(rng.Intn(256))
			default:
				m[j].K = uint32(rng.Intn(80))
			}
			cases = append(cases, kernelCase{prog: m, args: args})
		}
	}
	return cases
}

// TestKernelCrossCheck compares Validate and Run with the running kernel.
func TestKernelCrossCheck(t *testing.T) {
	if os.Getenv(kernelHelperEnv) != "" {
		t.Skip("in the helper process")
	}
	if testing.Short() {
		t.Skip("starts many helper processes; skipped with -short")
	}
	if raceEnabled() {
		// The race runtime runs instrumentation on the filtered thread
		// after the probe, which the helper cannot allow.
		t.Skip("the kernel helper cannot run under the race detector")
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil || !bytes.Contains(status, []byte("\nSeccomp:")) {
		t.Skip("kernel without CONFIG_SECCOMP_FILTER (no Seccomp: line in /proc/self/status)")
	}
	cases := kernelCases(t, 400)
	path := filepath.Join(t.TempDir(), "cases")
	if err := writeKernelCases(path, cases); err != nil {
		t.Fatal(err)
	}
	accepted, rejected, compared, children := 0, 0, 0, 0
	check := func(i int, kernelAccepts bool, obs string) {
		c := cases[i]
		verr := Validate(c.prog)
		if kernelAccepts != (verr == nil) {
			t.Errorf("case %d: kernel accepts = %v, Validate = %v\n%s", i, kernelAccepts, verr, Disassemble(c.prog))
			return
		}
		if !kernelAccepts {
			rejected++
			return
		}
		accepted++
		if readsIP(c.prog) {
			return
		}
		ret, err := Run(c.prog, SeccompData{Nr: int32(syscall.SYS_GETPID), Arch: kernelArch(), Args: c.args}.Marshal())
		if err != nil {
			t.Fatalf("case %d: Run: %v", i, err)
		}
		compared++
		if want := expectedObservation(ret); obs != want {
			t.Errorf("case %d: args %#x: kernel %s, interpreter returns %v (expect %s)\n%s",
				i, c.args, obs, Action(ret), want, Disassemble(c.prog))
		}
	}
	for start := 0; start < len(cases); {
		children++
		cmd := exec.Command(os.Args[0], "-test.run=^TestKernelHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), kernelHelperEnv+"="+path, kernelStartEnv+"="+strconv.Itoa(start),
			"GODEBUG=asyncpreemptoff=1", "GOGC=off", "GOMAXPROCS=4")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		last, pending := -1, false
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			f := strings.Fields(strings.TrimPrefix(sc.Text(), kernelLinePrefix))
			if !strings.HasPrefix(sc.Text(), kernelLinePrefix) || len(f) == 0 {
				continue
			}
			switch {
			case f[0] == "fatal":
				t.Fatalf("helper: %s", sc.Text())
			case f[0] == "end":
				start = len(cases)
			case f[0] == "accept" && pending:
				check(last, true, f[1])
				pending = false
			case len(f) == 2 && f[1] == "try":
				last, _ = strconv.Atoi(f[0])
				pending = true
			case len(f) == 2 && f[1] == "reject":
				check(last, false, "")
				pending = false
			}
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			ws, ok := ee.Sys().(syscall.WaitStatus)
			if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGSYS || !pending {
				t.Fatalf("helper failed at case %d: %v\n%s", last, err, stderr.String())
			}
			check(last, true, "sigsys")
			pending = false
		} else if err != nil {
			t.Fatalf("helper: %v", err)
		}
		if pending {
			t.Fatalf("helper stopped during case %d\n%s", last, stderr.String())
		}
		if start < len(cases) {
			if last < start {
				t.Fatalf("helper made no progress at case %d\n%s", start, stderr.String())
			}
			start = last + 1
		}
	}
	t.Logf("%d cases: kernel accepted %d (%d outcomes compared), rejected %d; %d helper processes",
		len(cases), accepted, compared, rejected, children)
}
