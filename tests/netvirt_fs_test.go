// These tests need the open interception that serves virtual files
// (branch fs); enable them with -tags netvirt_fs once it is merged.

package tests

import (
	"os"
	"strings"
	"testing"
)

// TestProcNetDevShowsOnlyLo: /proc/net/dev lists lo alone (zero counters);
// the host's file lists more than lo here (eth0).
func TestProcNetDevShowsOnlyLo(t *testing.T) {
	const script = `
lines = open('/proc/net/dev').readlines()
print(','.join(l.split(':')[0].strip() for l in lines[2:]))
`
	if got := runPython(t, base(), script); got != "lo" {
		t.Errorf("/proc/net/dev: %q, want lo", got)
	}
	host, err := os.ReadFile("/proc/net/dev")
	if err != nil || strings.Count(string(host), ":") < 2 {
		t.Fatalf("the host's /proc/net/dev shows one interface or none: %v\n%s", err, host)
	}
}

// TestProcNetIfInet6ShowsOnlyLo: /proc/net/if_inet6 lists ::1 on lo alone,
// through every spelling of /proc/net.
func TestProcNetIfInet6ShowsOnlyLo(t *testing.T) {
	const script = `
import os
for p in ['/proc/net/if_inet6', '/proc/self/net/if_inet6', '/proc/%d/net/if_inet6' % os.getpid()]:
    print(','.join(l.split()[-1] for l in open(p) if l.strip()))
`
	if got := runPython(t, base(), script); got != "lo\nlo\nlo" {
		t.Errorf("/proc/net/if_inet6: %q, want lo three times", got)
	}
}
