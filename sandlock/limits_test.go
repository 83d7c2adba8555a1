package sandlock

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64 // 0: an error
	}{
		{"512M", 512 << 20}, {"512m", 512 << 20}, {"512MB", 512 << 20}, {"512MiB", 512 << 20},
		{"1G", 1 << 30}, {"2t", 2 << 40}, {"64K", 64 << 10}, {"4096", 4096}, {"4096B", 4096},
		{" 8M ", 8 << 20}, {"16777215T", 16777215 << 40},
		{"", 0}, {"M", 0}, {"0", 0}, {"0M", 0}, {"-1M", 0}, {"+1M", 0}, {"1.5G", 0}, {"12X", 0},
		{"not_a_size", 0}, {"16777216T", 0}, {"18446744073709551616", 0}, {"1 M", 0}, {"B", 0}, {"iB", 0},
	} {
		got, err := ParseSize(tc.in)
		if tc.want == 0 {
			if err == nil {
				t.Errorf("%q: %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %d %v, want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int // nil: an error
	}{
		{"0", []int{0}}, {"0,1", []int{0, 1}}, {"1,0,1", []int{0, 1}}, {"0-3,6", []int{0, 1, 2, 3, 6}},
		{" 2 , 4-5 ", []int{2, 4, 5}}, {"1023", []int{1023}},
		{"", nil}, {"a", nil}, {"3-1", nil}, {"-1", nil}, {"1024", nil}, {"0-1024", nil}, {"1,", nil}, {"+1", nil}, {"1-+2", nil},
	} {
		got, err := ParseCPUList(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%q: %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v %v, want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestValidateLimits: each limit field is checked with a *PolicyError
// naming it and the value.
func TestValidateLimits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		l     Limits
		field string // "": valid
		value string
	}{
		{"memory", Limits{MaxMemory: "64M"}, "", ""},
		{"bad memory", Limits{MaxMemory: "64X"}, "limits.max_memory", `"64X"`},
		{"zero memory", Limits{MaxMemory: "0"}, "limits.max_memory", `"0"`},
		{"cpu", Limits{MaxCPU: 100}, "", ""},
		{"cpu high", Limits{MaxCPU: 101}, "limits.max_cpu", "101"},
		{"cpu negative", Limits{MaxCPU: -1}, "limits.max_cpu", "-1"},
		{"cores", Limits{CPUCores: []int{0, 1}}, "", ""},
		{"core negative", Limits{CPUCores: []int{0, -2}}, "limits.cpu_cores", "-2"},
		{"core too high", Limits{CPUCores: []int{4096}}, "limits.cpu_cores", "4096"},
	} {
		p := Policy{Limits: tc.l}
		err := p.Validate()
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		var pe *PolicyError
		if !errors.As(err, &pe) || pe.Field != tc.field || !strings.Contains(err.Error(), tc.value) {
			t.Errorf("%s: %v, want a PolicyError for %s naming %s", tc.name, err, tc.field, tc.value)
		}
	}
}

// FuzzParseSize: a size is accepted only when it is positive and the
// digits of the input, times the suffix's unit, make it.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"512M", "1g", "4096", "0", "", "1.5G", "16384T", "12X", "99999999999999999999", "8MiB", "kB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if n != 0 {
				t.Fatalf("%q: %d with error %v", s, n, err)
			}
			return
		}
		if n == 0 {
			t.Fatalf("%q: zero size accepted", s)
		}
		u := strings.ToUpper(s)
		if strings.ContainsAny(u, "KMGT") && n%1024 != 0 {
			t.Fatalf("%q: %d is not a multiple of its unit", s, n)
		}
		if !strings.ContainsAny(s, "0123456789") {
			t.Fatalf("%q: accepted without digits", s)
		}
	})
}

// FuzzParseCPUList: an accepted list is sorted, unique, within the CPU set
// size, and every CPU in it is named by the input (as a number or inside a
// range).
func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"0", "0,1", "0-3,6", "3-1", "", "1023", "0-1023", "a,b", " 1 , 2 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cpus, err := ParseCPUList(s)
		if err != nil {
			return
		}
		if len(cpus) == 0 {
			t.Fatalf("%q: empty list accepted", s)
		}
		for i, c := range cpus {
			if c < 0 || c >= maxCPUSetSize || (i > 0 && cpus[i-1] >= c) {
				t.Fatalf("%q: %v is not sorted, unique and in range", s, cpus)
			}
		}
	})
}
