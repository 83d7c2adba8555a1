//go:build linux

package sandlock

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// onlineCPUsFile lists the CPUs of this machine that are online.
const onlineCPUsFile = "/sys/devices/system/cpu/online"

// checkCPUsExist reports, as a *PolicyError naming limits.cpu_cores, the
// first CPU of cpus that is not online on this machine: the child's
// sched_setaffinity would fail or bind it to fewer CPUs than asked.
func checkCPUsExist(cpus []int) error {
	if len(cpus) == 0 {
		return nil
	}
	b, err := os.ReadFile(onlineCPUsFile)
	if err != nil {
		return &PolicyError{Field: "limits.cpu_cores", Value: cpus, Err: fmt.Errorf("cannot tell which CPUs exist: %w", err)}
	}
	text := strings.TrimSpace(string(b))
	online, err := ParseCPUList(text)
	if err != nil {
		return &PolicyError{Field: "limits.cpu_cores", Value: cpus, Err: fmt.Errorf("%s: %w", onlineCPUsFile, err)}
	}
	for _, c := range cpus {
		if !slices.Contains(online, c) {
			return &PolicyError{Field: "limits.cpu_cores", Value: c, Err: errors.New("no such CPU on this machine (online: " + text + ")")}
		}
	}
	return nil
}
