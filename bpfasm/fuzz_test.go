package bpfasm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// byteStream hands out fuzz bytes; past the end it returns zeros.
type byteStream struct {
	b []byte
	i int
}

func (s *byteStream) done() bool { return s.i >= len(s.b) }

func (s *byteStream) next() byte {
	if s.i >= len(s.b) {
		return 0
	}
	s.i++
	return s.b[s.i-1]
}

func (s *byteStream) u32() uint32 {
	return uint32(s.next()) | uint32(s.next())<<8 | uint32(s.next())<<16 | uint32(s.next())<<24
}

// genProgram builds a program with the Builder from fuzz bytes. Apart from
// exceeding 4096 instructions, every byte string gives a valid program:
// jumps only go to labels not yet defined, all labels get defined before a
// final return, and scratch reads only use slots stored at the start. The
// constants come mostly from a small pool that the inputs of fuzzInputs
// share, so that comparisons go both ways.
func genProgram(data []byte) (*Builder, []uint32) {
	s := &byteStream{b: data}
	pool := []uint32{0, 1, 2, 0x80000000, 0xffffffff, s.u32(), s.u32(), s.u32()}
	k := func() uint32 {
		if r := s.next(); r&3 != 0 {
			return pool[int(r>>2)%len(pool)]
		}
		return s.u32()
	}
	var b Builder
	cacheMode := s.next()%4 == 0
	nLabels := 1 + int(s.next()%24)
	defined := 0
	label := func(j int) string { return fmt.Sprintf("L%d", j) }
	target := func() string {
		r := int(s.next())
		if r%4 == 0 || defined == nLabels {
			return ""
		}
		return label(defined + (r/4)%(nLabels-defined))
	}
	conds := []Cond{Eq, Ne, Gt, Ge, Lt, Le, BitsSet, BitsClear}
	aluOps := []ALUOp{ALUAdd, ALUSub, ALUMul, ALUDiv, ALUOr, ALUAnd, ALULsh, ALURsh, ALUXor}
	var stored []uint32
	for range s.next() % 3 {
		if cacheMode {
			break
		}
		if s.next()%2 == 0 {
			b.LoadImm(k())
		} else {
			b.LoadAbs(4 * uint32(s.next()%16))
		}
		slot := uint32(s.next() % ScratchSlots)
		b.Store(slot)
		stored = append(stored, slot)
	}
	// In cache mode only the instructions that the kernel's action cache
	// emulator follows are used (see ConstantAllow), so that cacheable
	// paths are common.
	if cacheMode {
		for !s.done() && b.Len() < 1500 {
			switch s.next() % 10 {
			case 0, 1, 2:
				b.LoadAbs(4 * uint32(s.next()%3)) // nr, arch, or (rarely reached) ip
			case 3:
				b.ALU(ALUAnd, k())
			case 4, 5:
				b.JumpIf(conds[int(s.next())%len(conds)], k(), target(), target())
			case 6:
				if t := target(); t != "" {
					b.Jump(t)
				}
			case 7:
				if s.next()%2 == 0 {
					b.RetAction(ActionAllow)
				} else {
					b.Ret(k())
				}
			case 8:
				if defined < nLabels {
					b.Label(label(defined))
					defined++
				}
			case 9:
				if s.next() < 64 {
					for range int(s.next()) + int(s.next()) {
						b.ALU(ALUAnd, 0xffffffff)
					}
				}
			}
		}
	}
	for !s.done() && b.Len() < 1500 {
		switch s.next() % 24 {
		case 0, 1:
			b.LoadAbs(4 * uint32(s.next()%16))
		case 2:
			b.LoadImm(k())
		case 3:
			b.LoadLen()
		case 4:
			if len(stored) > 0 {
				b.LoadMem(stored[int(s.next())%len(stored)])
			}
		case 5:
			b.LoadXImm(k())
		case 6:
			if len(stored) > 0 && s.next()%2 == 0 {
				b.LoadXMem(stored[int(s.next())%len(stored)])
			} else {
				b.LoadXLen()
			}
		case 7:
			b.Store(uint32(s.next() % ScratchSlots))
		case 8:
			b.StoreX(uint32(s.next() % ScratchSlots))
		case 9, 10:
			op := aluOps[int(s.next())%len(aluOps)]
			v := k()
			switch op {
			case ALUDiv:
				v = max(v, 1)
			case ALULsh, ALURsh:
				v %= 32
			}
			b.ALU(op, v)
		case 11:
			b.ALUX(aluOps[int(s.next())%len(aluOps)])
		case 12:
			b.Neg()
		case 13:
			b.TAX()
		case 14:
			b.TXA()
		case 15, 16, 17:
			b.JumpIf(conds[int(s.next())%len(conds)], k(), target(), target())
		case 18:
			b.JumpIfX(conds[int(s.next())%len(conds)], target(), target())
		case 19:
			if t := target(); t != "" {
				b.Jump(t)
			}
		case 20:
			switch s.next() % 5 {
			case 0:
				b.RetA()
			case 1:
				b.RetAction(Errno(uint16(s.next())))
			case 2:
				b.RetAction(ActionAllow)
			default:
				b.Ret(k())
			}
		case 21, 22:
			if defined < nLabels {
				b.Label(label(defined))
				defined++
			}
		case 23:
			// Padding to make jumps long enough to need trampolines.
			if s.next() < 64 {
				for range int(s.next()) + int(s.next()) {
					b.ALU(ALUAdd, 0)
				}
			}
		}
	}
	final := func() {
		if cacheMode && s.next()%2 == 0 {
			b.RetAction(ActionAllow)
		} else {
			b.Ret(k())
		}
	}
	final()
	for ; defined < nLabels; defined++ {
		b.Label(label(defined))
		final()
	}
	return &b, pool
}

// fuzzInputs returns seccomp_data rows built from the constant pool and
// from the fuzz bytes.
func fuzzInputs(pool []uint32, data []byte) []SeccompData {
	var rows []SeccompData
	n := len(pool)
	for i := range 2 * n {
		var words [SeccompDataSize / 4]uint32
		for w := range words {
			words[w] = pool[(i+w*(1+i/n))%n]
		}
		var buf [SeccompDataSize]byte
		for w, v := range words {
			binary.LittleEndian.PutUint32(buf[4*w:], v)
		}
		var d SeccompData
		if err := d.Unmarshal(buf[:]); err != nil {
			panic(err)
		}
		rows = append(rows, d)
	}
	for len(data) > 0 {
		var buf [SeccompDataSize]byte
		copy(buf[:], data)
		data = data[min(len(data), SeccompDataSize):]
		var d SeccompData
		if err := d.Unmarshal(buf[:]); err != nil {
			panic(err)
		}
		rows = append(rows, d)
		if len(rows) > 40 {
			break
		}
	}
	return rows
}

// readsScratch reports whether prog loads from scratch memory, the only
// case in which Optimize may discard a pass result (see Optimize).
func readsScratch(prog []Instruction) bool {
	return slices.ContainsFunc(prog, func(ins Instruction) bool {
		return ins.Code == opLdMem || ins.Code == opLdxMem
	})
}

var sentinels = []error{
	ErrEmpty, ErrTooLong, ErrInvalidOpcode, ErrInvalidLoad, ErrDivideByZero,
	ErrShiftTooLarge, ErrInvalidScratch, ErrUninitializedScratch,
	ErrJumpOutOfRange, ErrNoReturn,
}

func addSeeds(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x06, 0, 0, 0, 0, 0, 0xff, 0x7f})
	f.Add(Encode(newSampleFilter(10).assemble(f)))
	for _, text := range []string{
		"ld [4]\njeq #0xc000003e jt 2 jf 3\nret ALLOW\nret KILL_PROCESS",
		"ld [16]\nst M[0]\njeq #1 jt 3 jf 4\nld M[0]\nret a\nret #0",
		"ldx #0\nld #5\ndiv x\nret a",
		"ld [0]\njge #5 jt 2 jf 3\njge #5 jt 4 jf 5\nja 5\nret #1\nret #2",
	} {
		prog, err := ParseText(text)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(Encode(prog))
		f.Add([]byte(text))
	}
	f.Add([]byte("\x17\x03\x05\x23\x01\x10\x0f\x02\x11\x12\x13\x04\x05\x06\x07\x08\x09"))
}

// FuzzRoundTrip checks that any bytes decode to instructions that encode
// back to the same bytes, that any program's listing parses back to the
// same program (as does each instruction's String), that any text that
// parses prints and parses back to the same program, and that programs
// assembled with the Builder survive both round trips.
func FuzzRoundTrip(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		n := len(data) / InstructionSize * InstructionSize
		prog, err := Decode(data[:n])
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if got := Encode(prog); !bytes.Equal(got, data[:n]) {
			t.Fatalf("Encode(Decode(b)) = %x, want %x", got, data[:n])
		}
		checkTextRoundTrip(t, prog)
		for _, ins := range prog {
			back, err := ParseText(ins.String())
			if err != nil || len(back) != 1 || back[0] != ins {
				t.Fatalf("%+v: %q parsed as %v, %v", ins, ins.String(), back, err)
			}
		}

		if parsed, err := ParseText(string(data)); err == nil {
			checkTextRoundTrip(t, parsed)
		} else if !errors.Is(err, ErrSyntax) {
			t.Fatalf("ParseText error %v does not wrap ErrSyntax", err)
		}

		b, _ := genProgram(data)
		asm, err := b.Assemble()
		if err != nil {
			if errors.Is(err, ErrTooLong) {
				return
			}
			t.Fatalf("generated program does not assemble: %v", err)
		}
		checkTextRoundTrip(t, asm)
		back, err := Decode(Encode(asm))
		if err != nil || !slices.Equal(back, asm) {
			t.Fatalf("binary round trip of an assembled program: %v", err)
		}
	})
}

func checkTextRoundTrip(t *testing.T, prog []Instruction) {
	t.Helper()
	text := Disassemble(prog)
	back, err := ParseText(text)
	if err != nil {
		t.Fatalf("ParseText(Disassemble(p)): %v\n%s", err, text)
	}
	if !slices.Equal(back, prog) {
		t.Fatalf("text round trip changed the program:\n%s\nbecame\n%s", text, Disassemble(back))
	}
}

// FuzzValidate checks that any decoded program is either rejected by
// Validate with an *Error wrapping a known sentinel, or runs over any input
// without error or panic; valid programs also go through Optimize.
func FuzzValidate(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		n := len(data) / InstructionSize * InstructionSize
		prog, err := Decode(data[:n])
		if err != nil {
			t.Fatal(err)
		}
		rows := fuzzInputs([]uint32{0, 1, 0xffffffff, 0x80000000, 16, 64}, data)
		if err := Validate(prog); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Validate error %T is not *Error", err)
			}
			if e.PC < 0 || (len(prog) > 0 && e.PC >= len(prog) && !errors.Is(err, ErrTooLong)) {
				t.Fatalf("Validate error PC %d out of range for %d instructions", e.PC, len(prog))
			}
			if !slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) }) {
				t.Fatalf("Validate error %v wraps no sentinel", err)
			}
			if _, err := Run(prog, make([]byte, SeccompDataSize)); err == nil {
				t.Fatalf("Run accepted a program that Validate rejects")
			}
			if _, err := Optimize(prog); err == nil {
				t.Fatalf("Optimize accepted a program that Validate rejects")
			}
			return
		}
		in, err := NewInterpreter(prog)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range rows {
			got, err := Run(prog, d.Marshal())
			if err != nil {
				t.Fatalf("Run of a valid program: %v", err)
			}
			if in.RunData(d) != got {
				t.Fatalf("RunData and Run disagree")
			}
		}
		checkOptimize(t, prog, rows)
	})
}

// checkOptimize checks that Optimize keeps prog valid and equivalent on
// rows, never lengthens it, reaches a fixpoint, and discards pass results
// only for programs that read scratch memory. Each pass alone is checked
// the same way. It also checks ConstantAllow: a call it says is cacheable
// must be allowed whatever its arguments, and optimizing must keep it
// cacheable.
func checkOptimize(t *testing.T, prog []Instruction, rows []SeccompData) {
	t.Helper()
	want := runAll(t, prog, rows)
	cacheable := make([]bool, len(rows))
	for i, d := range rows {
		cacheable[i] = ConstantAllow(prog, d.Arch, d.Nr)
		if cacheable[i] && want[i] != uint32(ActionAllow) {
			t.Fatalf("ConstantAllow(arch %#x, nr %d) but the filter returns %v for %+v\n%s",
				d.Arch, d.Nr, Action(want[i]), d, Disassemble(prog))
		}
	}
	check := func(name string, passes []Pass) []Instruction {
		out, discarded, err := optimize(prog, passes)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(discarded) > 0 && !readsScratch(prog) {
			t.Fatalf("%s: discarded %v for a program without scratch reads\n%s", name, discarded, Disassemble(prog))
		}
		if len(out) > len(prog) {
			t.Fatalf("%s: %d instructions became %d", name, len(prog), len(out))
		}
		if err := Validate(out); err != nil {
			t.Fatalf("%s: result invalid: %v", name, err)
		}
		got := runAll(t, out, rows)
		for i, d := range rows {
			if cacheable[i] && !ConstantAllow(out, d.Arch, d.Nr) {
				t.Fatalf("%s: arch %#x nr %d no longer cacheable\nbefore:\n%s\nafter:\n%s",
					name, d.Arch, d.Nr, Disassemble(prog), Disassemble(out))
			}
			if got[i] != want[i] {
				t.Fatalf("%s: input %+v: %#x before, %#x after\nbefore:\n%s\nafter:\n%s",
					name, rows[i], want[i], got[i], Disassemble(prog), Disassemble(out))
			}
		}
		return out
	}
	for _, p := range Passes() {
		check(p.Name, []Pass{p})
	}
	opt := check("Optimize", Passes())
	if again, err := Optimize(opt); err != nil || !slices.Equal(again, opt) {
		t.Fatalf("Optimize is not at a fixpoint: %v\n%s\nthen\n%s", err, Disassemble(opt), Disassemble(again))
	}
}

// FuzzOptimize is the differential fuzzer: programs generated with the
// Builder from the fuzz bytes must behave the same before and after
// Optimize (and each pass) on inputs built from their constants.
func FuzzOptimize(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, pool := genProgram(data)
		prog, err := b.Assemble()
		if err != nil {
			if errors.Is(err, ErrTooLong) {
				return
			}
			t.Fatalf("generated program does not assemble: %v", err)
		}
		checkOptimize(t, prog, fuzzInputs(pool, data))
	})
}
