package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

func checkCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandlock-run check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return exitSetup
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
