package sandlock

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// FuzzParsePorts: the port grammar either rejects a spec with an error
// naming the field, or returns ports that are each inside a range the spec
// names.
func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"8080", "8000-8100", "*", "0", "1,2,3", "65535", "65536", "5-3", "-", "1-", "a", " 80 , 81-82 ", "*,22"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		ports, all, err := parsePorts("network.bind", []string{spec})
		if err != nil {
			if !strings.Contains(err.Error(), "network.bind") {
				t.Fatalf("error does not name the field: %v", err)
			}
			return
		}
		if len(ports) > 65536*len(strings.Split(spec, ",")) {
			t.Fatalf("%q gave %d ports", spec, len(ports))
		}
		if all && !strings.Contains(spec, "*") {
			t.Fatalf("%q: all without *", spec)
		}
		for _, p := range ports {
			if !strings.Contains(spec, strconv.Itoa(int(p))) && !strings.Contains(spec, "-") {
				t.Fatalf("%q: port %d from nowhere", spec, p)
			}
		}
	})
}

// FuzzPolicyJSON: any JSON either fails to decode, or decodes to a policy
// that Validate accepts or rejects with a *PolicyError, and that survives
// marshal round trips unchanged once normalised.
func FuzzPolicyJSON(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"filesystem":{"read":["/usr"],"write":["/tmp"]},"network":{"bind":["8080","9000-9010"]}}`,
		`{"limits":{"max_open_files":64,"timeout":"1m30s"},"process":{"env":{"A":"1"},"clean_env":true}}`,
		`{"limits":{"timeout":2.5}}`,
		`{"best_effort":true,"filesystem":{"read_if_exists":["/lib64"]}}`,
		`{"process":{"env":{"A=B":"x"}}}`,
		`{"network":{"bind":["99999"]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Policy
		if json.Unmarshal(b, &p) != nil {
			return
		}
		if err := p.Validate(); err != nil {
			if _, ok := err.(*PolicyError); !ok {
				t.Fatalf("Validate returned %T %v, want *PolicyError", err, err)
			}
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var q Policy
		if err := json.Unmarshal(out, &q); err != nil {
			t.Fatalf("round trip of %s: %v", out, err)
		}
		// The first marshal may normalise (an empty list is omitted); from
		// then on the round trip is exact.
		out2, _ := json.Marshal(q)
		var r Policy
		if err := json.Unmarshal(out2, &r); err != nil {
			t.Fatalf("second round trip of %s: %v", out2, err)
		}
		if out3, _ := json.Marshal(r); string(out2) != string(out3) {
			t.Fatalf("round trip changed %s into %s", out2, out3)
		}
	})
}
