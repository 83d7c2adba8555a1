//go:build linux

package landlockabi

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNotSupported means the running kernel cannot do what was asked: it has
// no Landlock (ENOSYS), Landlock is disabled at boot (EOPNOTSUPP), or it
// lacks a newer Landlock feature. Test for it with errors.Is; the errno, if
// any, stays wrapped too.
var ErrNotSupported = errors.New("landlockabi: not supported by the kernel")

// SyscallError is an error returned by a Landlock system call: the
// operation and its errno. It unwraps to the errno, so
// errors.Is(err, unix.EACCES) works, and it is [ErrNotSupported] when the
// errno means the kernel lacks the feature.
type SyscallError struct {
	// Op names the call and its mode, for example
	// "landlock_add_rule path-beneath".
	Op string
	// Errno is what the kernel returned.
	Errno unix.Errno

	unsupported bool // Is(ErrNotSupported)
	hint        string
}

func (e *SyscallError) Error() string {
	s := e.Op + ": " + e.Errno.Error()
	if e.hint != "" {
		s += " (" + e.hint + ")"
	}
	return s
}

// Unwrap returns the errno.
func (e *SyscallError) Unwrap() error { return e.Errno }

// Is reports whether e means the kernel lacks Landlock or the requested
// Landlock feature, so that errors.Is(e, ErrNotSupported) holds.
func (e *SyscallError) Is(target error) bool {
	return target == ErrNotSupported && e.unsupported
}

// syscallErr wraps errno from operation op. ENOSYS and EOPNOTSUPP mean that
// there is no usable Landlock.
func syscallErr(op string, errno unix.Errno) *SyscallError {
	e := &SyscallError{Op: op, Errno: errno}
	switch errno {
	case unix.ENOSYS:
		e.unsupported, e.hint = true, "kernel built without Landlock"
	case unix.EOPNOTSUPP:
		e.unsupported, e.hint = true, "Landlock disabled at boot"
	}
	return e
}

// UnsupportedFeatureError says that the kernel's Landlock ABI cannot
// enforce some wanted features. It is [ErrNotSupported]. [Features.Err]
// returns it.
type UnsupportedFeatureError struct {
	// Features are the features the kernel lacks, in [Features.List] order.
	Features []Feature
	// ABI is the kernel's Landlock ABI version; 0 means no Landlock.
	ABI int
}

// Error names the kernel's ABI and each missing feature with the ABI that
// adds it, for example "landlockabi: Landlock ABI 3 cannot enforce bind_tcp
// (needs ABI 4), scope signal (needs ABI 6)".
func (e *UnsupportedFeatureError) Error() string {
	var b strings.Builder
	if e.ABI <= 0 {
		b.WriteString("landlockabi: kernel has no Landlock; cannot enforce ")
	} else {
		fmt.Fprintf(&b, "landlockabi: Landlock ABI %d cannot enforce ", e.ABI)
	}
	for i, f := range e.Features {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.String())
		if v := f.MinABI(); v > 0 {
			fmt.Fprintf(&b, " (needs ABI %d)", v)
		} else {
			b.WriteString(" (unknown to landlockabi)")
		}
	}
	return b.String()
}

// Is reports that e is [ErrNotSupported].
func (e *UnsupportedFeatureError) Is(target error) bool { return target == ErrNotSupported }
