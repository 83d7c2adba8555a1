package sandlock

import (
	"errors"
	"fmt"
	"strings"
)

// maxNameLen is the longest sandbox name: uname's nodename holds 64 bytes
// and a NUL.
const maxNameLen = 64

// maxNumCPUs bounds Limits.NumCPUs (a cpu_set_t of the C library holds
// 1024 CPUs).
const maxNumCPUs = 1024

var (
	errDenyPath = errors.New("not a valid path")
	errName     = fmt.Errorf("want 1-%d bytes without NUL or '/'", maxNameLen)
	errNumCPUs  = fmt.Errorf("want a number of CPUs between 1 and %d (0: the real CPUs)", maxNumCPUs)
)

// validateFS checks filesystem.deny, limits.num_cpus and process.name
// without touching the kernel (a deny path that does not exist is reported
// at Create, when it is looked up).
func (p *Policy) validateFS() error {
	for _, d := range p.Filesystem.Deny {
		if d == "" || strings.IndexByte(d, 0) >= 0 {
			return &PolicyError{Field: "filesystem.deny", Value: fmt.Sprintf("%q", d), Err: errDenyPath}
		}
	}
	if n := p.Limits.NumCPUs; n < 0 || n > maxNumCPUs {
		return &PolicyError{Field: "limits.num_cpus", Value: n, Err: errNumCPUs}
	}
	if name := p.Process.Name; name != "" && (len(name) > maxNameLen || strings.ContainsAny(name, "\x00/")) {
		return &PolicyError{Field: "process.name", Value: fmt.Sprintf("%q", name), Err: errName}
	}
	return nil
}
