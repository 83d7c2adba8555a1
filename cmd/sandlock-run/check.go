package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

const checkUsage = `usage: sandlock-run check [--json]
       sandlock-run check --dump-filter [--arch amd64|arm64] [run policy flags]

check probes what this kernel can enforce and exits 0 when a default sandbox
is fully enforceable. --dump-filter instead prints the seccomp filter that
'sandlock-run run' with the same policy flags installs (--no-supervisor: the
filter of that mode), disassembled, with its instruction counts.
`

func checkCmd(args []string, stdout, stderr io.Writer) int {
	o := &options{}
	fs := newRunFlags(o, stderr)
	fs.Init("sandlock-run check", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), checkUsage) }
	asJSON := fs.Bool("json", false, "print the report as JSON")
	dump := fs.Bool("dump-filter", false, "print the seccomp filter of the policy flags")
	arch := fs.String("arch", "", "with --dump-filter: the GOARCH to compile for (default: this one)")
	if err := fs.Parse(args); err != nil {
		return exitSetup
	}
	if fs.NArg() > 0 {
		return fail(stderr, exitSetup, "check: unexpected arguments %q", fs.Args())
	}
	if *dump {
		return dumpFilter(o, *arch, stdout, stderr)
	}
	var policyFlags []string
	fs.Visit(func(f *flag.Flag) {
		switch {
		case f.Name == "json":
		case len(f.Name) == 1:
			policyFlags = append(policyFlags, "-"+f.Name)
		default:
			policyFlags = append(policyFlags, "--"+f.Name)
		}
	})
	if len(policyFlags) > 0 {
		return fail(stderr, exitSetup, "check: %s only apply with --dump-filter", strings.Join(policyFlags, ", "))
	}
	r, err := sandlock.CheckKernel()
	if err != nil {
		return fail(stderr, exitSetup, "check: %v", err)
	}
	code := 0
	if !r.DefaultEnforceable {
		code = 1
	}
	if *asJSON {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
		return code
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	fmt.Fprintf(stdout, "Kernel feature support (Linux %s, %s):\n", r.Kernel, r.Arch)
	if r.LandlockABI == 0 {
		fmt.Fprintln(stdout, "  Landlock:                      unavailable")
	} else {
		fmt.Fprintf(stdout, "  Landlock:                      ABI %d (errata %#x)\n", r.LandlockABI, r.LandlockErrata)
	}
	for _, p := range r.Protections {
		state := "enforced"
		if !p.Enforced {
			state = fmt.Sprintf("NOT AVAILABLE (needs ABI %d)", p.MinABI)
		}
		fmt.Fprintf(stdout, "    %-28s %s\n", p.Name, state)
	}
	for _, row := range []struct {
		name string
		ok   bool
	}{
		{"seccomp filter", r.SeccompFilter},
		{"seccomp user notification", r.UserNotif},
		{"seccomp ADDFD", r.AddFD},
		{"seccomp WAIT_KILLABLE_RECV", r.WaitKillableRecv},
		{"seccomp SYNC_WAKE_UP", r.SyncWakeUp},
		{"clone3", r.Clone3},
		{"pidfd_getfd", r.PidfdGetfd},
	} {
		fmt.Fprintf(stdout, "  %-30s %s\n", row.name+":", yes(row.ok))
	}
	if r.DefaultEnforceable {
		fmt.Fprintln(stdout, "Default policy: fully enforceable")
	} else {
		fmt.Fprintln(stdout, "Default policy: NOT fully enforceable (use --best-effort to run with less)")
	}
	return code
}

// dumpFilter prints the seccomp filter of the run policy in o.
func dumpFilter(o *options, arch string, stdout, stderr io.Writer) int {
	policy := o.policy
	if o.policyFile != "" {
		base, err := loadPolicy(o.policyFile)
		if err != nil {
			return fail(stderr, exitSetup, "--policy-file %s: %v", o.policyFile, err)
		}
		policy = merge(base, o.policy)
	}
	f, err := sandlock.CompileSeccomp(policy, sandlock.SeccompOptions{Arch: arch, NoSupervisor: o.noSupervisor})
	if err != nil {
		var pe *sandlock.PolicyError
		if errors.As(err, &pe) && flagFor[pe.Field] != "" && o.policyFile == "" {
			return fail(stderr, exitSetup, "%s %v: %v", flagFor[pe.Field], pe.Value, pe.Err)
		}
		return fail(stderr, exitSetup, "%v", err)
	}
	mode := "sandbox"
	if o.noSupervisor {
		mode = "--no-supervisor"
	}
	fmt.Fprintf(stdout, "# mode: %s\n%s", mode, f.Listing())
	return 0
}
