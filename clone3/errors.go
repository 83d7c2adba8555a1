package clone3

import (
	"errors"
	"fmt"
	"syscall"
)

// ChildError reports a step of the child program that failed before execve
// returned control to the new program. The child exited with status 127.
type ChildError struct {
	// Step is the index of the failed step in the child program.
	Step int
	// Op names the step, e.g. "chdir /nonexistent" or "execve /bin/x".
	Op string
	// Errno is the error the step returned (or the errno the step was
	// configured to report when its result was unexpected).
	Errno syscall.Errno
}

func (e *ChildError) Error() string {
	if e.Errno == 0 {
		return e.Op + ": child program ended without exec"
	}
	return e.Op + ": " + e.Errno.Error()
}

// Unwrap returns the errno, so errors.Is(err, syscall.ENOENT) works.
func (e *ChildError) Unwrap() error { return e.Errno }

// ErrDied reports that the child died before it could report READY or exec.
var ErrDied = errors.New("clone3: child died before exec")

// ErrInvalid reports an Attr that cannot be turned into a child program.
var ErrInvalid = errors.New("clone3: invalid attributes")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
