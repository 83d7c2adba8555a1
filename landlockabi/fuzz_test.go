//go:build linux

package landlockabi

import (
	"math/bits"
	"testing"
)

// FuzzDowngrade checks the invariants of Downgrade and the ABI table for
// any wanted set and any ABI number.
func FuzzDowngrade(f *testing.F) {
	f.Add(uint64(0xffff), uint64(3), uint64(3), uint32(7), 3)
	f.Add(uint64(0x2004), uint64(0), uint64(0), uint32(0), 1)
	f.Add(uint64(1)<<63, uint64(1)<<40, uint64(4), uint32(8), 9)
	f.Add(uint64(0), uint64(0), uint64(0), uint32(0), -5)
	f.Fuzz(func(t *testing.T, fs, net, scoped uint64, flags uint32, abi int) {
		wanted := Features{HandledAccessFS: fs, HandledAccessNet: net, Scoped: scoped, RestrictFlags: flags}
		eff, dropped := Downgrade(wanted, abi)
		can := ABIFeatures(abi)
		if eff.AndNot(can) != (Features{}) {
			t.Fatalf("effective %+v not within ABI %d features %+v", eff, abi, can)
		}
		if eff.HandledAccessFS&^HandledFS(abi) != 0 || eff.HandledAccessNet&^HandledNet(abi) != 0 ||
			eff.Scoped&^Scopes(abi) != 0 || eff.RestrictFlags&^RestrictFlags(abi) != 0 {
			t.Fatalf("effective %+v exceeds the per-kind masks of ABI %d", eff, abi)
		}
		if !eff.And(dropped).IsZero() {
			t.Fatalf("effective %+v and dropped %+v overlap", eff, dropped)
		}
		if eff.Or(dropped) != wanted {
			t.Fatalf("effective|dropped = %+v, want %+v", eff.Or(dropped), wanted)
		}
		if again, none := Downgrade(eff, abi); again != eff || !none.IsZero() {
			t.Fatalf("Downgrade not idempotent: %+v, %+v", again, none)
		}
		// A newer ABI never enforces less.
		if next, _ := Downgrade(wanted, abi+1); abi < MaxKnownABI && eff.AndNot(next) != (Features{}) {
			t.Fatalf("ABI %d enforces %+v, ABI %d only %+v", abi, eff, abi+1, next)
		}
		// Every dropped feature is unknown or newer than the ABI.
		list := dropped.List()
		n := bits.OnesCount64(dropped.HandledAccessFS) + bits.OnesCount64(dropped.HandledAccessNet) +
			bits.OnesCount64(dropped.Scoped) + bits.OnesCount32(dropped.RestrictFlags)
		if len(list) != n {
			t.Fatalf("List has %d features, want %d", len(list), n)
		}
		var back Features
		for _, x := range list {
			if bits.OnesCount64(x.Bit) != 1 {
				t.Fatalf("feature %v has %d bits", x, bits.OnesCount64(x.Bit))
			}
			if m := x.MinABI(); m != 0 && m <= abi {
				t.Fatalf("dropped %v on ABI %d but it needs only ABI %d", x, abi, m)
			}
			if x.String() == "" {
				t.Fatalf("feature %#v has no name", x)
			}
			back = back.with(x)
		}
		if back != dropped {
			t.Fatalf("List does not round-trip: %+v, want %+v", back, dropped)
		}
		if (dropped.Err(abi) == nil) != dropped.IsZero() {
			t.Fatalf("Err(%d) = %v for dropped %+v", abi, dropped.Err(abi), dropped)
		}
		if m := wanted.MinABI(); m > 0 && m <= MaxKnownABI {
			if _, d := Downgrade(wanted, m); !d.IsZero() {
				t.Fatalf("wanted %+v: MinABI %d still drops %+v", wanted, m, d)
			}
			if _, d := Downgrade(wanted, m-1); d.IsZero() {
				t.Fatalf("wanted %+v: MinABI %d but ABI %d drops nothing", wanted, m, m-1)
			}
		}
	})
}
