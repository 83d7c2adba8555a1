package sandlock

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/sandlock-go/sandlock-go/bpfasm"
)

// allSyscallNames is the sorted union of the names of every table.
var allSyscallNames = sync.OnceValue(func() []string {
	var out []string
	for _, a := range filterArches() {
		for _, n := range a.names {
			if n != "" {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
})

// fuzzConfig decodes a filter configuration from b: the first byte picks
// the architecture and the switches, then each pair of bytes adds a name
// (from every table) to extra_deny or to the notified set. The rest seeds
// the random inputs.
func fuzzConfig(b []byte) (filterConfig, uint64) {
	var cfg filterConfig
	var flags byte
	if len(b) > 0 {
		flags, b = b[0], b[1:]
	}
	cfg.arch = archFor("amd64")
	if flags&1 != 0 {
		cfg.arch = archFor("arm64")
	}
	cfg.noSupervisor = flags&2 != 0
	cfg.sysvIPC = flags&4 != 0
	cfg.allowDatagram = flags&8 != 0
	cfg.netlinkVirtual = flags&0x10 != 0
	cfg.noSourceRoute = cfg.allowDatagram // one more bit would shorten the name list
	names := allSyscallNames()
	n := int(flags>>4) * 2 // up to 30 bytes of names
	for i := 0; i+1 < len(b) && i < n; i += 2 {
		name := names[(int(b[i]&0x7f)<<8|int(b[i+1]))%len(names)]
		if b[i]&0x80 != 0 {
			if slices.Contains(trampolineSyscalls, name) {
				continue // rejected by compileFilter (TestFilterRejectsNotifyingTrampolineCalls)
			}
			cfg.notify = append(cfg.notify, name)
		} else {
			cfg.extraDeny = append(cfg.extraDeny, name)
		}
	}
	var seed uint64
	for i, c := range b[min(n, len(b)):] {
		seed ^= uint64(c) << (8 * (i % 8))
	}
	return cfg, seed
}

// randomData returns seccomp_data biased towards the values the filter
// tests: numbers in and around the table, the native architecture, and
// interesting arguments, with random high halves.
func randomData(r *rand.Rand, a *filterArch, args []uint64) bpfasm.SeccompData {
	var d bpfasm.SeccompData
	switch r.IntN(8) {
	case 0:
		d.Nr = int32(r.Uint32())
	case 1:
		d.Nr = int32(uint32(r.IntN(a.maxNr()+20)) | x32SyscallBit)
	default:
		d.Nr = int32(r.IntN(a.maxNr() + 20))
	}
	switch r.IntN(10) {
	case 0:
		d.Arch = r.Uint32()
	case 1:
		d.Arch = a.compat
	default:
		d.Arch = a.audit
	}
	for i := range d.Args {
		switch r.IntN(3) {
		case 0:
			d.Args[i] = r.Uint64()
		default:
			d.Args[i] = args[r.IntN(len(args))] ^ uint64(r.Uint32())<<32*uint64(r.IntN(2))
		}
	}
	return d
}

// checkInvariants runs the properties every compiled filter has.
func checkInvariants(t *testing.T, cfg filterConfig, f *compiledFilter, in *bpfasm.Interpreter, seed uint64) {
	t.Helper()
	a := cfg.arch
	if len(f.prog) > maxFilterLen {
		t.Fatalf("%d instructions", len(f.prog))
	}
	checkTrampoline(t, "fuzz", cfg, in)
	r := rand.New(rand.NewPCG(seed, seed>>1|1))
	args := interestingArgs()
	// The deny lists of the mode are denied whatever the arguments.
	groups := defaultDeny
	if cfg.noSupervisor {
		groups = noSupervisorDeny
	}
	if !cfg.sysvIPC {
		groups = append(slices.Clone(groups), denyGroup{names: sysvIPC})
	}
	for _, g := range groups {
		for _, name := range g.names {
			nr, ok := a.nr(name)
			if !ok {
				continue
			}
			d := randomData(r, a, args)
			d.Nr, d.Arch = int32(nr), a.audit
			if got := bpfasm.Action(in.RunData(d)); got != bpfasm.Errno(errnoEPERM) {
				t.Fatalf("%s%#x: %v, want ERRNO(1)", name, d.Args, got)
			}
		}
	}
	// Foreign architectures and x32 are killed.
	for range 32 {
		d := randomData(r, a, args)
		if d.Arch == a.audit {
			d.Arch ^= 1 << r.IntN(32)
		}
		if got := bpfasm.Action(in.RunData(d)); got != bpfasm.ActionKillProcess {
			t.Fatalf("arch %#x nr %#x: %v, want KILL_PROCESS", d.Arch, uint32(d.Nr), got)
		}
		if a.x32 {
			d.Arch = a.audit
			d.Nr = int32(uint32(d.Nr)&^0x80000000 | x32SyscallBit)
			if got := bpfasm.Action(in.RunData(d)); got != bpfasm.ActionKillProcess {
				t.Fatalf("x32 nr %#x: %v, want KILL_PROCESS", uint32(d.Nr), got)
			}
		}
	}
	// Everything agrees with the reference model.
	for range 512 {
		d := randomData(r, a, args)
		if got, want := bpfasm.Action(in.RunData(d)), refVerdict(cfg, d); got != want {
			t.Fatalf("nr %d (%s) arch %#x args %#x: got %v, want %v", d.Nr, a.name(int(d.Nr)), d.Arch, d.Args, got, want)
		}
	}
	// The action cache covers exactly the calls allowed whatever their
	// arguments.
	for nr := 0; nr <= a.maxNr(); nr++ {
		if got, want := bpfasm.ConstantAllow(f.prog, a.audit, int32(nr)), refArgFree(cfg, nr); got != want {
			t.Fatalf("nr %d (%s): ConstantAllow %v, want %v", nr, a.name(nr), got, want)
		}
	}
}

// FuzzFilterPolicy compiles random policies (architecture, mode, SysV,
// datagram switch, extra_deny and notified names) and checks that each
// program validates, fits, allows the trampoline's calls, denies the deny
// lists, kills foreign architectures and x32, keeps argument-free allowed
// calls in the action cache, and agrees with the reference model on random
// seccomp_data.
func FuzzFilterPolicy(f *testing.F) {
	for _, s := range [][]byte{
		{0}, {1}, {2}, {3}, {4 | 8}, {1 | 4 | 8},
		{0x30, 0x00, 0x10, 0x80, 0x20, 0x01, 0x02, 7},
		{0xf3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 99},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, seed := fuzzConfig(b)
		cf, err := compileFilter(cfg)
		if err != nil {
			t.Fatalf("compile: %v", err)
		}
		in, err := bpfasm.NewInterpreter(cf.prog)
		if err != nil {
			t.Fatalf("invalid program: %v", err)
		}
		checkInvariants(t, cfg, cf, in, seed)
	})
}

// FuzzFilterInput runs random seccomp_data through the filters of the
// table-test policies and compares each verdict with the reference model.
func FuzzFilterInput(f *testing.F) {
	tcs := testConfigs(f)
	ins := make([]*bpfasm.Interpreter, len(tcs))
	for i, tc := range tcs {
		_, ins[i] = mustCompile(f, tc.cfg)
	}
	f.Add(uint32(16), uint32(0), uint64(0), uint64(0x5412), uint64(0))
	f.Add(uint32(41), uint32(0), uint64(2), uint64(3), uint64(0))
	f.Add(uint32(198), uint32(0), uint64(17), uint64(1<<32|2), uint64(0))
	f.Add(uint32(0x40000027), uint32(0), uint64(0), uint64(0), uint64(0))
	f.Add(uint32(0xffffffff), uint32(0), uint64(0), uint64(0), uint64(0))
	f.Add(uint32(56), uint32(1), uint64(0x10000011), uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, nr, arch uint32, a0, a1, a2 uint64) {
		for i, tc := range tcs {
			a := tc.cfg.arch
			d := bpfasm.SeccompData{Nr: int32(nr), Args: [6]uint64{a0, a1, a2}}
			// arch: 0 and 1 select the native and compat values, so that
			// the fuzzer does not have to guess them.
			switch arch {
			case 0:
				d.Arch = a.audit
			case 1:
				d.Arch = a.compat
			default:
				d.Arch = arch
			}
			if got, want := bpfasm.Action(ins[i].RunData(d)), refVerdict(tc.cfg, d); got != want {
				t.Fatalf("%s: nr %d (%s) arch %#x args %#x: got %v, want %v", tc.name, d.Nr, a.name(int(d.Nr)), d.Arch, d.Args[:3], got, want)
			}
		}
	})
}
