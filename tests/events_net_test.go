package tests

import (
	"net/netip"
	"strconv"
	"sync"
	"testing"

	"github.com/sandlock-go/sandlock-go/sandlock"
)

// TestEventsNetwork: the policy callback sees every connect with its
// destination (decided on the supervisor's copy), and its verdicts take
// effect: a Deny on one port keeps that listener untouched while the
// other port, allowed by the same policy, connects (the twin).
func TestEventsNetwork(t *testing.T) {
	good := listenTCPOn(t, "127.0.0.1:0", false)
	bad := listenTCPOn(t, "127.0.0.1:0", false)
	G, B := strconv.Itoa(good.port), strconv.Itoa(bad.port)
	var mu sync.Mutex
	var seen []sandlock.Event
	p := base()
	p.Network.Allow = []string{"127.0.0.1:" + G, "127.0.0.1:" + B}
	p.OnEvent = func(ev *sandlock.Event, _ *sandlock.EventContext) sandlock.EventVerdict {
		if ev.Category != sandlock.CategoryNetwork {
			return sandlock.Allow
		}
		mu.Lock()
		seen = append(seen, *ev)
		mu.Unlock()
		if ev.Port == uint16(bad.port) {
			return sandlock.Deny
		}
		return sandlock.Allow
	}
	netExpect(t, p, [][2]string{
		{"tcp:4:127.0.0.1:" + G, "OK"},
		{"tcp:4:127.0.0.1:" + B, "EPERM"},
	})
	if n := good.settled(t); n != 1 {
		t.Errorf("allowed listener accepted %d, want 1", n)
	}
	if n := bad.settled(t); n != 0 {
		t.Errorf("denied listener accepted %d", n)
	}
	mu.Lock()
	defer mu.Unlock()
	ports := map[uint16]bool{}
	for _, ev := range seen {
		if ev.Syscall == "connect" && ev.Host == "127.0.0.1" && ev.Pid > 0 {
			ports[ev.Port] = true
		}
	}
	if !ports[uint16(good.port)] || !ports[uint16(bad.port)] {
		t.Errorf("connect events %+v, want both ports from 127.0.0.1", seen)
	}
}

// TestEventsRestrictNetwork: RestrictNetwork called from the callback
// (on the program's exec) takes effect for the connects that follow:
// the restricted address is refused and its listener sees nothing. Twin:
// the same run without the restriction connects.
func TestEventsRestrictNetwork(t *testing.T) {
	for _, restrict := range []bool{true, false} {
		l := listenTCPOn(t, "127.0.0.1:0", false)
		P := strconv.Itoa(l.port)
		p := base()
		p.Network.Allow = []string{"127.0.0.1:" + P}
		var once sync.Once
		var rerr error
		p.OnEvent = func(ev *sandlock.Event, ctx *sandlock.EventContext) sandlock.EventVerdict {
			if restrict && ev.Syscall == "execve" {
				once.Do(func() { rerr = ctx.RestrictNetwork(netip.MustParsePrefix("127.0.0.2/32")) })
			}
			return sandlock.Allow
		}
		want, accepted := "OK", 1
		if restrict {
			want, accepted = "ECONNREFUSED", 0
		}
		netExpect(t, p, [][2]string{{"tcp:4:127.0.0.1:" + P, want}})
		if rerr != nil {
			t.Errorf("RestrictNetwork: %v", rerr)
		}
		if n := l.settled(t); n != accepted {
			t.Errorf("restrict %v: listener accepted %d, want %d", restrict, n, accepted)
		}
	}
}
