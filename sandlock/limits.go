package sandlock

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrMemoryLimit matches the *ExitError of a sandbox killed because its
// memory use would have exceeded Limits.MaxMemory.
var ErrMemoryLimit = errors.New("sandlock: memory limit exceeded")

// maxCPUSetSize is the number of CPUs a cpu_set_t of the C library holds
// (CPU_SETSIZE); Limits.CPUCores entries must be below it.
const maxCPUSetSize = 1024

var (
	errSize     = errors.New("want a positive size: an integer with an optional K, M, G or T suffix (binary units, case-insensitive)")
	errCPUPct   = errors.New("want a percentage of one core between 1 and 100")
	errCPUIndex = fmt.Errorf("want CPU numbers between 0 and %d", maxCPUSetSize-1)
)

// ParseSize reads a memory size: an integer number of bytes with an
// optional K, M, G or T suffix (binary units: 1K = 1024), case-insensitive,
// optionally followed by B or iB ("512M", "512MiB", "1g", "4096"). Zero,
// negative, fractional and overflowing sizes are errors.
func ParseSize(s string) (uint64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "IB")
	if len(t) > 1 {
		// "512MB" is 512M; a bare "B" suffix means bytes.
		t = strings.TrimSuffix(t, "B")
	}
	shift := 0
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		case 'T':
			shift = 40
		}
		if shift != 0 {
			t = t[:len(t)-1]
		}
	}
	if t == "" || t[0] == '+' {
		return 0, errSize
	}
	n, err := strconv.ParseUint(t, 10, 64)
	if err != nil || n == 0 || n > math.MaxUint64>>shift {
		return 0, errSize
	}
	return n << shift, nil
}

// ParseCPUList reads a CPU list as taskset and cpuset(7) write it: comma
// separated numbers and inclusive ranges ("0,1", "0-3,6"). The result is
// sorted and free of duplicates.
func ParseCPUList(s string) ([]int, error) {
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || a > b || b >= maxCPUSetSize ||
			strings.HasPrefix(lo, "+") || strings.HasPrefix(hi, "+") {
			return nil, fmt.Errorf("%q: want CPU numbers (0-%d) or ranges LO-HI separated by commas", part, maxCPUSetSize-1)
		}
		for c := a; c <= b; c++ {
			seen[c] = true
		}
	}
	out := make([]int, 0, len(seen))
	for c := range maxCPUSetSize {
		if seen[c] {
			out = append(out, c)
		}
	}
	return out, nil
}

// memoryLimit returns Limits.MaxMemory in bytes, 0 when unset.
//
// Preconditions: p.Validate() is nil.
func (l *Limits) memoryLimit() uint64 {
	if l.MaxMemory == "" {
		return 0
	}
	n, _ := ParseSize(l.MaxMemory)
	return n
}

// validate checks max_memory, max_cpu and cpu_cores.
func (l *Limits) validate() error {
	if l.MaxMemory != "" {
		if _, err := ParseSize(l.MaxMemory); err != nil {
			return &PolicyError{Field: "limits.max_memory", Value: fmt.Sprintf("%q", l.MaxMemory), Err: err}
		}
	}
	if l.MaxCPU < 0 || l.MaxCPU > 100 {
		return &PolicyError{Field: "limits.max_cpu", Value: l.MaxCPU, Err: errCPUPct}
	}
	for _, c := range l.CPUCores {
		if c < 0 || c >= maxCPUSetSize {
			return &PolicyError{Field: "limits.cpu_cores", Value: c, Err: errCPUIndex}
		}
	}
	return nil
}
