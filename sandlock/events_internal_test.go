//go:build linux

package sandlock

import (
	"errors"
	"net/netip"
	"os"
	"syscall"
	"testing"
)

// TestLiveNetwork: RestrictNetwork needs the network layer; restrictions
// intersect; the network layer's hook reports to the callback and keeps
// its own denials.
func TestLiveNetwork(t *testing.T) {
	live := newLiveState()
	ctx := &EventContext{live: live, policy: &Policy{}}
	if err := ctx.RestrictNetwork(); !errors.Is(err, ErrNotEnforced) {
		t.Fatalf("without the network layer: %v", err)
	}
	live.enforceNetwork()
	a, b, c := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("::ffff:10.1.2.3")
	for _, ip := range []netip.Addr{a, b} {
		if !live.networkAllowed(ip) {
			t.Fatalf("%v denied before any restriction", ip)
		}
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ctx.RestrictNetwork(netip.MustParsePrefix("10.0.0.0/8")))
	must(ctx.RestrictNetwork(netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("192.168.0.0/16")))
	for _, tc := range []struct {
		ip   netip.Addr
		want bool
	}{{a, true}, {b, false}, {c, true}, {netip.MustParseAddr("192.168.1.1"), false}} {
		if got := live.networkAllowed(tc.ip); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.ip, got, tc.want)
		}
	}
	must(ctx.RestrictNetwork())
	if live.networkAllowed(a) {
		t.Error("an empty restriction allows")
	}

	var seen []Event
	h := &eventHub{fn: func(ev *Event, _ *EventContext) EventVerdict {
		seen = append(seen, *ev)
		if ev.Port == 1 {
			return DenyErrno(syscall.ECONNREFUSED)
		}
		return Audit
	}}
	live.hub = h
	sv := &supervision{live: live}
	n := &notif{pid: os.Getpid()}
	if e := sv.networkEvent(n, "connect", a, 1, false); e != syscall.ECONNREFUSED {
		t.Errorf("denied by the callback: %v", e)
	}
	if e := sv.networkEvent(n, "connect", a, 2, true); e != 0 {
		t.Errorf("a layer's denial: %v, want 0 (the layer answers)", e)
	}
	if len(seen) != 2 || seen[0].Host != "10.1.2.3" || seen[1].Denied != true || seen[0].Category != CategoryNetwork || seen[0].Pid != os.Getpid() {
		t.Errorf("events %+v", seen)
	}
	if len(h.audit) != 1 || h.audit[0].Port != 2 {
		t.Errorf("audit %+v", h.audit)
	}
}

// TestLiveLimits: restrictions only lower the policy's limits.
func TestLiveLimits(t *testing.T) {
	live := newLiveState()
	p := &Policy{Limits: Limits{MaxProcesses: 10, MaxMemory: "100M"}}
	ctx := &EventContext{live: live, policy: p}
	for _, n := range []int{8, 20, 5, 6} {
		if err := ctx.RestrictMaxProcesses(n); err != nil {
			t.Fatal(err)
		}
	}
	if got := ctx.MaxProcesses(); got != 5 {
		t.Errorf("max processes %d, want 5", got)
	}
	if err := ctx.RestrictMaxProcesses(0); err == nil {
		t.Error("0 accepted")
	}
	if err := ctx.RestrictMaxMemory(200 << 20); err != nil || ctx.MaxMemory() != 100<<20 {
		t.Errorf("raising: %v %d", err, ctx.MaxMemory())
	}
	if err := ctx.RestrictMaxMemory(50 << 20); err != nil || ctx.MaxMemory() != 50<<20 {
		t.Errorf("lowering: %v %d", err, ctx.MaxMemory())
	}
	var nilLive *liveState
	if nilLive.maxProcesses(7) != 7 || nilLive.pathDenied(devIno{}) || !nilLive.networkAllowed(netip.Addr{}) {
		t.Error("nil liveState restricts")
	}
}

// BenchmarkEventsScanMM is the cost of the shared-memory scan an exec's
// argv needs once a sandbox made a vfork or CLONE_VM process, against
// reading one /proc file (the single-threaded check) in the same run.
func BenchmarkEventsScanMM(b *testing.B) {
	b.Run("threads-check", func(b *testing.B) {
		for b.Loop() {
			threadsOf(os.Getpid())
		}
	})
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			scanMM(os.Getpid())
		}
	})
}
