package sandlock

import (
	"errors"
	"fmt"
	"time"

	"github.com/sandlock-go/sandlock-go/clone3"
)

// Errors returned for lifecycle misuse. Compare with errors.Is.
var (
	// ErrAlreadyRunning is returned by Create, Spawn and Run when the
	// sandbox was already created.
	ErrAlreadyRunning = errors.New("sandlock: sandbox is already running")
	// ErrNotCreated is returned by Start before Create.
	ErrNotCreated = errors.New("sandlock: sandbox has not been created")
	// ErrNotStarted is returned by Wait, Pause and Resume on a sandbox that
	// is created but not started.
	ErrNotStarted = errors.New("sandlock: sandbox has not been started")
	// ErrNotRunning is returned by Kill, Pause and Resume when no child
	// exists, and by Start after the sandbox stopped.
	ErrNotRunning = errors.New("sandlock: sandbox is not running")
	// ErrDiedBeforeStart is returned by Start when the parked child died
	// (for example it was killed); Wait then reports how.
	ErrDiedBeforeStart = errors.New("sandlock: sandbox process died before start")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("sandlock: sandbox is closed")
	// ErrTimedOut matches the *ExitError of a sandbox killed by its
	// wall-clock timeout.
	ErrTimedOut = errors.New("sandlock: timed out")
	// ErrNotSupported reports a policy field or kernel feature this build
	// or this kernel cannot provide.
	ErrNotSupported = errors.New("not supported yet")
)

// ChildError reports a step of the child's set-up that failed, naming it:
// "chdir /nonexistent: no such file or directory". It unwraps to the errno.
type ChildError = clone3.ChildError

// PolicyError reports an invalid policy field or CLI flag, before anything
// is forked.
type PolicyError struct {
	Field string // e.g. "limits.max_open_files"
	Value any    // the offending value
	Err   error  // why; may wrap ErrNotSupported
}

func (e *PolicyError) Error() string {
	if e.Value == nil {
		return fmt.Sprintf("sandlock: policy %s: %v", e.Field, e.Err)
	}
	return fmt.Sprintf("sandlock: policy %s = %v: %v", e.Field, e.Value, e.Err)
}

func (e *PolicyError) Unwrap() error { return e.Err }

// ExitError reports a sandboxed program that did not exit with status 0,
// like os/exec's ExitError.
type ExitError struct {
	*ProcessState
	// TimedOut is set when the sandbox was killed by its wall-clock timeout.
	TimedOut bool
	// Timeout is the limit that expired, when TimedOut.
	Timeout time.Duration
	// Reason is why the supervisor killed the sandbox, when it did:
	// ErrMemoryLimit, for instance. errors.Is(exitErr, reason) holds.
	Reason error
	// Stderr holds captured standard error when Output was called and
	// Stderr was not otherwise set, as in os/exec.
	Stderr []byte
}

func (e *ExitError) Error() string {
	if e.Reason != nil {
		return fmt.Sprintf("%v (%s)", e.Reason, e.ProcessState.String())
	}
	if e.TimedOut {
		return fmt.Sprintf("sandlock: timed out after %v (%s)", e.Timeout, e.ProcessState.String())
	}
	return e.ProcessState.String()
}

// Is makes errors.Is(err, ErrTimedOut) true for a timed-out sandbox, and
// errors.Is(err, reason) for a sandbox killed for Reason.
func (e *ExitError) Is(target error) bool {
	return target == ErrTimedOut && e.TimedOut || e.Reason != nil && errors.Is(e.Reason, target)
}
