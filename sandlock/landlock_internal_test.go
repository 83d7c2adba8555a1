//go:build linux

package sandlock

import (
	"errors"
	"strings"
	"testing"

	"github.com/sandlock-go/sandlock-go/landlockabi"
)

// simulateABI makes the sandbox believe the kernel has Landlock ABI abi.
// The ruleset is then built for that ABI (and the real, newer kernel
// accepts it), exactly as on an older kernel.
func simulateABI(t *testing.T, abi int) {
	t.Helper()
	prev := landlockABI
	landlockABI = func() (int, error) { return abi, nil }
	t.Cleanup(func() { landlockABI = prev })
}

func runnable() Policy {
	var p Policy
	p.Filesystem.ReadIfExists = SystemPaths
	p.Filesystem.WriteIfExists = SystemDevices
	return p
}

func TestStrictFailsOnOlderABI(t *testing.T) {
	if v, err := landlockabi.ABIVersion(); err != nil || v < 7 {
		t.Skipf("needs Landlock ABI 7 to simulate older ones, kernel has %d (%v)", v, err)
	}
	for _, tc := range []struct {
		abi     int
		missing []string
	}{
		{0, []string{"kernel has no Landlock"}},
		{1, []string{"truncate (needs ABI 3)", "bind_tcp (needs ABI 4)", "ioctl_dev (needs ABI 5)", "scope signal (needs ABI 6)"}},
		{3, []string{"bind_tcp (needs ABI 4)", "connect_tcp (needs ABI 4)", "ioctl_dev (needs ABI 5)"}},
		{5, []string{"scope abstract unix socket (needs ABI 6)", "scope signal (needs ABI 6)"}},
	} {
		simulateABI(t, tc.abi)
		sb := Command(runnable(), "true")
		err := sb.Create()
		if err == nil {
			sb.Close()
			t.Fatalf("ABI %d: strict Create succeeded", tc.abi)
		}
		if !errors.Is(err, landlockabi.ErrNotSupported) {
			t.Errorf("ABI %d: %v is not ErrNotSupported", tc.abi, err)
		}
		for _, m := range tc.missing {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("ABI %d: error %q does not name %q", tc.abi, err, m)
			}
		}
		if sb.Pid() != 0 {
			t.Errorf("ABI %d: a child was created", tc.abi)
		}

		// Best effort runs and reports what is missing.
		p := runnable()
		p.BestEffort = true
		sb = Command(p, "true")
		if err := sb.Run(); err != nil {
			t.Fatalf("ABI %d best effort: %v", tc.abi, err)
		}
		for _, pr := range sb.Protections() {
			wantEnforced := tc.abi >= pr.MinABI && tc.abi > 0
			if pr.Enforced != wantEnforced {
				t.Errorf("ABI %d best effort: %s enforced=%v, want %v", tc.abi, pr.Name, pr.Enforced, wantEnforced)
			}
		}
	}
	// ABI 6 has everything a sandbox asks for.
	simulateABI(t, 6)
	if err := Command(runnable(), "true").Run(); err != nil {
		t.Fatalf("ABI 6 strict: %v", err)
	}
}

// TestNetLandlockOnlyNeedsABI4: tcp:// port rules are left to Landlock
// only where it can enforce them; on an older kernel (best-effort mode)
// the supervisor enforces them.
func TestNetLandlockOnlyNeedsABI4(t *testing.T) {
	p := Policy{Network: Network{Allow: []string{"tcp://*:443"}}, BestEffort: true}
	for _, tc := range []struct {
		abi        int
		supervised bool
	}{{7, false}, {4, false}, {3, true}, {0, true}} {
		simulateABI(t, tc.abi)
		if got := p.networkSupervised(); got != tc.supervised {
			t.Errorf("ABI %d: supervised %v, want %v", tc.abi, got, tc.supervised)
		}
	}
}
