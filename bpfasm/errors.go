package bpfasm

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Functions of this package return them wrapped, mostly in
// an [*Error] that names the PC; compare with [errors.Is].
var (
	// ErrEmpty reports a program without instructions.
	ErrEmpty = errors.New("bpfasm: empty program")
	// ErrTooLong reports a program longer than MaxInstructions.
	ErrTooLong = errors.New("bpfasm: program longer than 4096 instructions")
	// ErrInvalidOpcode reports an opcode that seccomp filters may not use.
	ErrInvalidOpcode = errors.New("bpfasm: opcode not allowed in seccomp filters")
	// ErrInvalidLoad reports a load outside seccomp_data or not 4-aligned.
	ErrInvalidLoad = errors.New("bpfasm: load not an aligned word of seccomp_data")
	// ErrDivideByZero reports a division by the constant zero.
	ErrDivideByZero = errors.New("bpfasm: division by constant zero")
	// ErrShiftTooLarge reports a shift by a constant of 32 or more.
	ErrShiftTooLarge = errors.New("bpfasm: shift by constant 32 or more")
	// ErrInvalidScratch reports a scratch memory index of 16 or more.
	ErrInvalidScratch = errors.New("bpfasm: scratch memory index out of range")
	// ErrUninitializedScratch reports a read of a scratch memory slot that
	// the kernel's checker does not consider written on every path.
	ErrUninitializedScratch = errors.New("bpfasm: scratch memory read before write")
	// ErrJumpOutOfRange reports a jump whose target is outside the program.
	ErrJumpOutOfRange = errors.New("bpfasm: jump target outside program")
	// ErrNoReturn reports a program whose last instruction is not a return.
	ErrNoReturn = errors.New("bpfasm: last instruction is not a return")
	// ErrBackwardJump reports a jump to a label defined before the jump.
	ErrBackwardJump = errors.New("bpfasm: backward jump")
	// ErrDuplicateLabel reports a label defined twice.
	ErrDuplicateLabel = errors.New("bpfasm: label defined twice")
	// ErrUndefinedLabel reports a jump to a label that is never defined.
	ErrUndefinedLabel = errors.New("bpfasm: undefined label")
	// ErrInvalidLabel reports an empty label name where one is required.
	ErrInvalidLabel = errors.New("bpfasm: invalid label")
	// ErrInvalidArgument reports an out-of-range argument to a builder
	// method, such as a seccomp argument index above 5.
	ErrInvalidArgument = errors.New("bpfasm: invalid argument")
	// ErrSyntax reports text that ParseText cannot read.
	ErrSyntax = errors.New("bpfasm: syntax error")
	// ErrTruncated reports encoded bytes whose length is not a multiple of 8.
	ErrTruncated = errors.New("bpfasm: encoded program length not a multiple of 8")
	// ErrDataSize reports a seccomp_data buffer that is not 64 bytes long.
	ErrDataSize = errors.New("bpfasm: seccomp_data buffer is not 64 bytes")
	// ErrBug reports a broken internal invariant; please report it.
	ErrBug = errors.New("bpfasm: internal error")
)

// Error describes a problem at one instruction of a program. It wraps one of
// the sentinel errors of this package.
type Error struct {
	// PC is the index of the instruction. For errors from
	// [Builder.Assemble] it counts the instructions in the order they were
	// appended to the builder, not counting trampolines.
	PC int
	// Line is the 1-based line of the text for errors from [ParseText],
	// and 0 otherwise.
	Line int
	// Label is the label involved, or the label defined at PC, if any.
	Label string
	// Err is the underlying error; errors.Is(err, ErrX) looks through it.
	Err error
}

// Error returns a message of the form
// `bpfasm: pc 7 (label "allow"): backward jump`.
func (e *Error) Error() string {
	var sb strings.Builder
	sb.WriteString("bpfasm: ")
	if e.Line > 0 {
		fmt.Fprintf(&sb, "line %d, ", e.Line)
	}
	fmt.Fprintf(&sb, "pc %d", e.PC)
	if e.Label != "" {
		fmt.Fprintf(&sb, " (label %q)", e.Label)
	}
	sb.WriteString(": ")
	if e.Err == nil {
		sb.WriteString("unknown error")
	} else {
		sb.WriteString(strings.TrimPrefix(e.Err.Error(), "bpfasm: "))
	}
	return sb.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// pcError returns an *Error at pc wrapping sentinel with an optional detail.
func pcError(pc int, sentinel error, format string, args ...any) *Error {
	err := sentinel
	if format != "" {
		err = fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
	}
	return &Error{PC: pc, Err: err}
}

// bug wraps a "cannot happen" condition so that it is easy to grep for.
func bug(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBug, fmt.Sprintf(format, args...))
}
