package main

import (
	"errors"
	"flag"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

// noSupervisorIncompatible are the run flags that need a supervisor or a
// parent process (which --no-supervisor does not keep), by flag name, long
// and short.
var noSupervisorIncompatible = map[string]string{
	"timeout": "--timeout", "t": "--timeout",
	"status-fd":  "--status-fd",
	"max-memory": "--max-memory", "m": "--max-memory",
	"max-processes": "--max-processes", "P": "--max-processes",
	"cpu": "--cpu", "c": "--cpu",
	"net-allow":        "--net-allow",
	"net-deny":         "--net-deny",
	"net-deny-private": "--net-deny-private",
	"net-deny-bind":    "--net-deny-bind",
	"fs-deny":          "--fs-deny",
	"num-cpus":         "--num-cpus",
	"name":             "--name",
}

// noSupervisorCmd is run --no-supervisor: confine this process in place
// (Landlock and a deny-only seccomp filter on every thread) and exec the
// program, like upstream sandlock's mode of the same name. Nothing is
// forked, so nothing waits for the program: its exit status is ours.
func noSupervisorCmd(fset *flag.FlagSet, o *options, policy sandlock.Policy, argv []string, stderr io.Writer) int {
	var bad []string
	seen := map[string]bool{}
	fset.Visit(func(f *flag.Flag) {
		if name, ok := noSupervisorIncompatible[f.Name]; ok && !seen[name] {
			seen[name] = true
			bad = append(bad, name)
		}
	})
	if len(bad) > 0 {
		return fail(stderr, exitSetup, "--no-supervisor is incompatible with: %s", strings.Join(bad, ", "))
	}
	if err := policy.Validate(); err != nil {
		var pe *sandlock.PolicyError
		if errors.As(err, &pe) && flagFor[pe.Field] != "" && o.policyFile == "" {
			return fail(stderr, exitSetup, "%s %v: %v", flagFor[pe.Field], pe.Value, pe.Err)
		}
		return fail(stderr, exitSetup, "%v", err)
	}
	err := sandlock.ExecNoSupervisor(policy, argv[0], argv, os.Environ())
	// Only failures return.
	code := setupCode(err)
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Op == "execve" {
		code = exitNotExec
		if errors.Is(err, syscall.ENOENT) {
			code = exitNotFound
		}
	}
	return fail(stderr, code, "%v", err)
}
