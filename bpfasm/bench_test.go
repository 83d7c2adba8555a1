package bpfasm

import "testing"

// benchFilter is a sample filter of about 300 instructions.
func benchFilter(b *testing.B) (sampleFilter, []Instruction) {
	f := newSampleFilter(72)
	prog := f.assemble(b)
	if len(prog) < 280 || len(prog) > 330 {
		b.Fatalf("benchmark filter has %d instructions, want about 300", len(prog))
	}
	b.ReportMetric(float64(len(prog)), "insns")
	return f, prog
}

// BenchmarkRun validates and runs the filter for one system call, as the
// package-level Run does.
func BenchmarkRun(b *testing.B) {
	_, prog := benchFilter(b)
	data := SeccompData{Nr: 500, Arch: auditArchX86_64}.Marshal()
	for b.Loop() {
		if _, err := Run(prog, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInterpreterRun runs an already validated filter.
func BenchmarkInterpreterRun(b *testing.B) {
	f, prog := benchFilter(b)
	in, err := NewInterpreter(prog)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		d    SeccompData
	}{
		{"allowed", SeccompData{Nr: 500, Arch: auditArchX86_64}},
		{"argument-filtered", SeccompData{Nr: int32(f.nrs[len(f.nrs)/2]), Arch: auditArchX86_64, Args: [6]uint64{1, tiocsti}}},
		{"wrong-arch", SeccompData{Nr: 500, Arch: auditArchI386}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			data := tc.d.Marshal()
			for b.Loop() {
				if _, err := in.Run(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOptimize(b *testing.B) {
	_, prog := benchFilter(b)
	for b.Loop() {
		if _, err := Optimize(prog); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAssemble(b *testing.B) {
	f, _ := benchFilter(b)
	for b.Loop() {
		var bl Builder
		f.build(&bl)
		if _, err := bl.Assemble(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	_, prog := benchFilter(b)
	for b.Loop() {
		if err := Validate(prog); err != nil {
			b.Fatal(err)
		}
	}
}
