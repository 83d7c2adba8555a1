//go:build linux

package sandlock

import (
	"fmt"
	"reflect"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/landlockabi"
)

// Confine restricts the calling process in place with the Landlock
// filesystem part of policy, like upstream's confine(): every thread of the
// process gets NO_NEW_PRIVS and the same Landlock domain (filesystem rights
// and the two scopes; no network rights), and so does every program it
// executes later. It cannot be undone.
//
// Only Filesystem.Read, ReadIfExists, Write, WriteIfExists and BestEffort
// may be set; any other field is an error that lists them. Confine needs
// a process without cgo (it uses syscall.AllThreadsSyscall; Landlock's own
// TSYNC flag arrives with ABI 8).
func Confine(policy Policy) error {
	other := policy
	other.Filesystem = Filesystem{Deny: policy.Filesystem.Deny}
	other.BestEffort = false
	if fields := setFields(reflect.ValueOf(other), ""); len(fields) > 0 {
		return fmt.Errorf("sandlock: Confine only accepts the Landlock filesystem policy; unsupported fields: %s", strings.Join(fields, ", "))
	}
	if err := policy.Validate(); err != nil {
		return err
	}
	wanted := landlockWanted
	wanted.HandledAccessNet = 0
	// Each thread gets a sibling domain (no TSYNC before ABI 8). Kernels
	// without Landlock erratum 2 then refuse signals between the threads of
	// this process under the signal scope, which would break the Go
	// runtime's preemption signals: leave that scope out there.
	if abi, _ := landlockABI(); abi >= 6 {
		if errata, err := landlockabi.Errata(); err != nil || errata&(1<<1) == 0 {
			wanted.Scoped &^= landlockabi.LANDLOCK_SCOPE_SIGNAL
		}
	}
	ll, err := policy.buildLandlockFor(wanted, netRules{})
	if err != nil {
		return err
	}
	defer ll.close()
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); e != 0 {
		if e == syscall.ENOTSUP {
			return fmt.Errorf("sandlock: Confine needs a binary built with CGO_ENABLED=0 (syscall.AllThreadsSyscall): %w: %w", ErrNotSupported, e)
		}
		return fmt.Errorf("sandlock: confine: prctl(PR_SET_NO_NEW_PRIVS) on all threads: %w", e)
	}
	if ll.fd < 0 {
		return nil // best effort without Landlock
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(ll.fd), 0, 0); e != 0 {
		return fmt.Errorf("sandlock: confine: landlock_restrict_self on all threads: %w", e)
	}
	return nil
}

// setFields lists the JSON names of the non-zero leaf fields of v.
func setFields(v reflect.Value, prefix string) []string {
	var out []string
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type.Name() != "" && fv.Type().NumField() > 0 && f.Type.PkgPath() == t.PkgPath() {
			out = append(out, setFields(fv, prefix+name+".")...)
			continue
		}
		if !fv.IsZero() {
			out = append(out, prefix+name)
		}
	}
	return out
}
