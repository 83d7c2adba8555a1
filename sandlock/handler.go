package sandlock

import (
	"errors"
	"fmt"
	"syscall"
)

// Handler decides system calls the supervisor is notified of, for
// Sandbox.Handlers. Handle runs on a supervisor thread while the
// calling thread waits. Handlers run concurrently with each other and with
// the built-in ones unless registered Quick; they must follow the
// discipline of docs/design.md ("Supervisor"): read arguments from memory
// only with Notification.ReadMemory, and never answer Continue after a
// decision that depended on memory the sandbox can still change.
type Handler interface {
	Handle(n *Notification) Verdict
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(n *Notification) Verdict

// Handle calls f(n).
func (f HandlerFunc) Handle(n *Notification) Verdict { return f(n) }

// SyscallHandler registers Handler for the system call named Syscall.
type SyscallHandler struct {
	Syscall string
	Handler Handler
	// Quick promises that Handle never blocks (no I/O, no locks held for
	// long): it then runs on the thread that received the notification,
	// saving a thread hand-off per call, while every other notification
	// of the sandbox waits for it. Leave it false for anything that may
	// block: such handlers run on a thread of their own, concurrently.
	Quick bool
}

// Verdict is a Handler's answer. The zero Verdict is Continue.
type Verdict struct {
	errno syscall.Errno
	val   int64
	ret   bool
}

// Continue lets the kernel run the system call as the sandbox made it (or
// passes it to the next handler).
//
// Warning: the kernel then reads the call's memory arguments again, after
// the decision. Answer Continue only for calls the handler does not
// restrict, or after a decision on register arguments alone; a decision
// that read memory (a path, a sockaddr) must Fail or act on the sandbox's
// behalf, never Continue, since another thread can change that memory in
// between.
func Continue() Verdict { return Verdict{} }

// Fail makes the system call fail with errno (which must not be 0).
func Fail(errno syscall.Errno) Verdict { return Verdict{errno: errno, ret: true} }

// Return makes the system call return val without running it.
func Return(val int64) Verdict { return Verdict{val: val, ret: true} }

// IsContinue reports whether v is Continue.
func (v Verdict) IsContinue() bool { return !v.ret }

// ErrHandlerRejected is wrapped by the error for a handler that cannot be
// registered (unknown system call, one the policy denies, one the sandbox
// makes itself after installing its filter).
var ErrHandlerRejected = errors.New("sandlock: handler rejected")

func handlerError(name, why string) error {
	return fmt.Errorf("%w: %s: %s", ErrHandlerRejected, name, why)
}
