// Package sandlock runs a program in a sandbox confined by the kernel, with an
// OCI-style lifecycle shaped like os/exec.
//
//	sb := sandlock.Command(policy, "python3", "-c", "print(1)")
//	sb.Stdout = os.Stdout
//	err := sb.Run()
//
// # Lifecycle
//
// [Sandbox.Create] forks the child, installs the whole policy in it and parks
// it between the policy and execve: the child exists ([Sandbox.Pid] > 0) but
// the target program has not started. [Sandbox.Start] releases it to execve.
// [Sandbox.Wait] reaps it. [Sandbox.Run] is Create, Start and Wait;
// [Sandbox.Spawn] is Create and Start. [Sandbox.Close] kills and reaps
// whatever is left: a parked child, a running child, its process group.
//
// The states are
//
//	New --Create--> Created --Start--> Running <--Pause/Resume--> Paused
//	                   |                  |
//	                   +------Close-------+--Wait/Close--> Stopped
//
// and every method checks them: misuse returns an error
// ([ErrAlreadyRunning], [ErrNotCreated], [ErrNotStarted], ...), never a
// panic.
//
// # Policy
//
// [Policy] is plain data with JSON tags, shared by the sandlock-run CLI and
// profiles. Its sections follow upstream sandlock. Fields whose layer is not
// built yet are rejected by [Policy.Validate] with an error wrapping
// [ErrNotSupported]; nothing is silently ignored.
//
// # Child set-up
//
// The child is started by package clone3: no Go code runs in it. See that
// package for the step program and docs/design.md for the protocol.
package sandlock

//go:generate go run ./internal/mksyscalls
