//go:build linux

package landlockabi

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const (
	fsV1    = 0x1fff // EXECUTE … MAKE_SYM
	fsAll   = 0xffff // … REFER, TRUNCATE, IOCTL_DEV
	netAll  = 0x3
	scopeAl = 0x3
	flagAll = 0x7
)

var everything = Features{HandledAccessFS: fsAll, HandledAccessNet: netAll, Scoped: scopeAl, RestrictFlags: flagAll}

// TestABITable checks the per-ABI masks against the Landlock changelog,
// written out independently of the table in abi.go.
func TestABITable(t *testing.T) {
	for _, tc := range []struct {
		abi               int
		fs, net, scope    uint64
		flags             uint32
		size              uintptr
		fsRights, netBits int
	}{
		{abi: -1},
		{abi: 0},
		{abi: 1, fs: fsV1, size: 8, fsRights: 13},
		{abi: 2, fs: fsV1 | LANDLOCK_ACCESS_FS_REFER, size: 8, fsRights: 14},
		{abi: 3, fs: fsV1 | LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE, size: 8, fsRights: 15},
		{abi: 4, fs: 0x7fff, net: LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP, size: 16, fsRights: 15, netBits: 2},
		{abi: 5, fs: 0x7fff | LANDLOCK_ACCESS_FS_IOCTL_DEV, net: netAll, size: 16, fsRights: 16, netBits: 2},
		{abi: 6, fs: fsAll, net: netAll, scope: LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL, size: 24, fsRights: 16, netBits: 2},
		{abi: 7, fs: fsAll, net: netAll, scope: scopeAl, flags: LANDLOCK_RESTRICT_SELF_LOG_SAME_EXEC_OFF | LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON | LANDLOCK_RESTRICT_SELF_LOG_SUBDOMAINS_OFF, size: 24, fsRights: 16, netBits: 2},
		{abi: 8, fs: fsAll, net: netAll, scope: scopeAl, flags: flagAll, size: 24, fsRights: 16, netBits: 2}, // unknown future ABI: as 7
	} {
		t.Run(fmt.Sprintf("ABI%d", tc.abi), func(t *testing.T) {
			if got := HandledFS(tc.abi); got != tc.fs {
				t.Errorf("HandledFS = %#x, want %#x", got, tc.fs)
			}
			if got := bits.OnesCount64(HandledFS(tc.abi)); got != tc.fsRights {
				t.Errorf("HandledFS has %d rights, want %d", got, tc.fsRights)
			}
			if got := HandledNet(tc.abi); got != tc.net {
				t.Errorf("HandledNet = %#x, want %#x", got, tc.net)
			}
			if got := bits.OnesCount64(HandledNet(tc.abi)); got != tc.netBits {
				t.Errorf("HandledNet has %d rights, want %d", got, tc.netBits)
			}
			if got := Scopes(tc.abi); got != tc.scope {
				t.Errorf("Scopes = %#x, want %#x", got, tc.scope)
			}
			if got := RestrictFlags(tc.abi); got != tc.flags {
				t.Errorf("RestrictFlags = %#x, want %#x", got, tc.flags)
			}
			if got := AttrSize(tc.abi); got != tc.size {
				t.Errorf("AttrSize = %d, want %d", got, tc.size)
			}
			want := Features{HandledAccessFS: tc.fs, HandledAccessNet: tc.net, Scoped: tc.scope, RestrictFlags: tc.flags}
			if got := ABIFeatures(tc.abi); got != want {
				t.Errorf("ABIFeatures = %+v, want %+v", got, want)
			}
		})
	}
}

func TestAccessFile(t *testing.T) {
	want := uint64(unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV)
	if AccessFile != want || AccessFile != 0xc007 {
		t.Errorf("AccessFile = %#x, want %#x", AccessFile, want)
	}
}

// TestConstants pins the values that do not come from x/sys/unix, and a
// few that do, to include/uapi/linux/landlock.h.
func TestConstants(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uint64
	}{
		{"LANDLOCK_RULE_PATH_BENEATH", LANDLOCK_RULE_PATH_BENEATH, 1},
		{"LANDLOCK_RULE_NET_PORT", LANDLOCK_RULE_NET_PORT, 2},
		{"LANDLOCK_CREATE_RULESET_VERSION", LANDLOCK_CREATE_RULESET_VERSION, 1 << 0},
		{"LANDLOCK_CREATE_RULESET_ERRATA", LANDLOCK_CREATE_RULESET_ERRATA, 1 << 1},
		{"LANDLOCK_ACCESS_FS_EXECUTE", LANDLOCK_ACCESS_FS_EXECUTE, 1 << 0},
		{"LANDLOCK_ACCESS_FS_MAKE_SYM", LANDLOCK_ACCESS_FS_MAKE_SYM, 1 << 12},
		{"LANDLOCK_ACCESS_FS_REFER", LANDLOCK_ACCESS_FS_REFER, 1 << 13},
		{"LANDLOCK_ACCESS_FS_TRUNCATE", LANDLOCK_ACCESS_FS_TRUNCATE, 1 << 14},
		{"LANDLOCK_ACCESS_FS_IOCTL_DEV", LANDLOCK_ACCESS_FS_IOCTL_DEV, 1 << 15},
		{"LANDLOCK_ACCESS_NET_BIND_TCP", LANDLOCK_ACCESS_NET_BIND_TCP, 1 << 0},
		{"LANDLOCK_ACCESS_NET_CONNECT_TCP", LANDLOCK_ACCESS_NET_CONNECT_TCP, 1 << 1},
		{"LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET", LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET, 1 << 0},
		{"LANDLOCK_SCOPE_SIGNAL", LANDLOCK_SCOPE_SIGNAL, 1 << 1},
		{"LANDLOCK_RESTRICT_SELF_LOG_SAME_EXEC_OFF", LANDLOCK_RESTRICT_SELF_LOG_SAME_EXEC_OFF, 1 << 0},
		{"LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON", LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON, 1 << 1},
		{"LANDLOCK_RESTRICT_SELF_LOG_SUBDOMAINS_OFF", LANDLOCK_RESTRICT_SELF_LOG_SUBDOMAINS_OFF, 1 << 2},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %#x, want %#x", tc.name, tc.got, tc.want)
		}
	}
}

func TestFeatureNamesAndMinABI(t *testing.T) {
	for _, tc := range []struct {
		f      Feature
		name   string
		minABI int
		weak   bool
	}{
		{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_EXECUTE}, "execute", 1, true},
		{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_WRITE_FILE}, "write_file", 1, true},
		{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_READ_FILE}, "read_file", 1, true},
		{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_READ_DIR}, "read_dir", 1, true},
		{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_REMOVE_DIR}, "remove_dir", 1, true},
		{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_REMOVE_FILE}, "remove_file", 1, true},
		{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_MAKE_CHAR}, "make_char", 1, true},
		{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_MAKE_DIR}, "make_dir", 1, true},
		{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_MAKE_REG}, "make_reg", 1, true},
		{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_MAKE_SOCK}, "make_sock", 1, true},
		{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_MAKE_FIFO}, "make_fifo", 1, true},
		{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_MAKE_BLOCK}, "make_block", 1, true},
		{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_MAKE_SYM}, "make_sym", 1, true},
		{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_REFER}, "refer", 2, false},
		{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_TRUNCATE}, "truncate", 3, true},
		{Feature{KindAccessNet, LANDLOCK_ACCESS_NET_BIND_TCP}, "bind_tcp", 4, true},
		{Feature{KindAccessNet, LANDLOCK_ACCESS_NET_CONNECT_TCP}, "connect_tcp", 4, true},
		{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_IOCTL_DEV}, "ioctl_dev", 5, true},
		{Feature{KindScope, LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET}, "scope abstract unix socket", 6, true},
		{Feature{KindScope, LANDLOCK_SCOPE_SIGNAL}, "scope signal", 6, true},
		{Feature{KindRestrictFlag, LANDLOCK_RESTRICT_SELF_LOG_SAME_EXEC_OFF}, "log_same_exec_off", 7, false},
		{Feature{KindRestrictFlag, LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON}, "log_new_exec_on", 7, false},
		{Feature{KindRestrictFlag, LANDLOCK_RESTRICT_SELF_LOG_SUBDOMAINS_OFF}, "log_subdomains_off", 7, false},
		// Not in any known ABI (RESOLVE_UNIX is newer than ABI 7).
		{Feature{KindAccessFS, unix.LANDLOCK_ACCESS_FS_RESOLVE_UNIX}, "unknown handled_access_fs bit 0x10000", 0, true},
		{Feature{KindAccessNet, 1 << 2}, "unknown handled_access_net bit 0x4", 0, true},
		{Feature{KindScope, 1 << 2}, "unknown scoped bit 0x4", 0, true},
		{Feature{KindRestrictFlag, unix.LANDLOCK_RESTRICT_SELF_TSYNC}, "unknown restrict_self flags bit 0x8", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.String(); got != tc.name {
				t.Errorf("String = %q, want %q", got, tc.name)
			}
			if got := tc.f.MinABI(); got != tc.minABI {
				t.Errorf("MinABI = %d, want %d", got, tc.minABI)
			}
			if got := tc.f.Weakens(); got != tc.weak {
				t.Errorf("Weakens = %v, want %v", got, tc.weak)
			}
		})
	}
	if got := Kind(9).String(); got != "Kind(9)" {
		t.Errorf("Kind(9).String() = %q", got)
	}
}

func names(fs []Feature) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.String())
	}
	return out
}

// TestDowngrade checks Downgrade on every ABI, without a kernel.
func TestDowngrade(t *testing.T) {
	// What sandlock asks for by default: read+write rights without
	// MAKE_CHAR/MAKE_BLOCK, TCP bind/connect, both scopes, no log flags.
	sandlockDefault := Features{
		HandledAccessFS:  fsAll &^ (LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK),
		HandledAccessNet: netAll,
		Scoped:           scopeAl,
	}
	laterThanV1 := []string{"refer", "truncate", "ioctl_dev", "bind_tcp", "connect_tcp",
		"scope abstract unix socket", "scope signal", "log_same_exec_off", "log_new_exec_on", "log_subdomains_off"}
	for _, tc := range []struct {
		name         string
		wanted       Features
		abi          int
		effective    Features
		droppedNames []string
		weakens      bool
		err          string
	}{
		{
			name: "everything/ABI0", wanted: everything, abi: 0,
			droppedNames: append([]string{"execute", "write_file", "read_file", "read_dir", "remove_dir", "remove_file",
				"make_char", "make_dir", "make_reg", "make_sock", "make_fifo", "make_block", "make_sym"}, laterThanV1...),
			weakens: true,
			err:     "landlockabi: kernel has no Landlock; cannot enforce execute (needs ABI 1), write_file (needs ABI 1)",
		},
		{
			name: "everything/ABI1", wanted: everything, abi: 1,
			effective:    Features{HandledAccessFS: fsV1},
			droppedNames: laterThanV1, weakens: true,
			err: "landlockabi: Landlock ABI 1 cannot enforce refer (needs ABI 2), truncate (needs ABI 3), ioctl_dev (needs ABI 5), bind_tcp (needs ABI 4)",
		},
		{
			name: "everything/ABI2", wanted: everything, abi: 2,
			effective:    Features{HandledAccessFS: fsV1 | LANDLOCK_ACCESS_FS_REFER},
			droppedNames: laterThanV1[1:], weakens: true,
			err: "landlockabi: Landlock ABI 2 cannot enforce truncate (needs ABI 3), ioctl_dev",
		},
		{
			name: "everything/ABI3", wanted: everything, abi: 3,
			effective:    Features{HandledAccessFS: 0x7fff},
			droppedNames: laterThanV1[2:], weakens: true,
			err: "landlockabi: Landlock ABI 3 cannot enforce ioctl_dev (needs ABI 5), bind_tcp (needs ABI 4), connect_tcp (needs ABI 4), scope abstract unix socket (needs ABI 6)",
		},
		{
			name: "everything/ABI4", wanted: everything, abi: 4,
			effective:    Features{HandledAccessFS: 0x7fff, HandledAccessNet: netAll},
			droppedNames: []string{"ioctl_dev", "scope abstract unix socket", "scope signal", "log_same_exec_off", "log_new_exec_on", "log_subdomains_off"},
			weakens:      true,
			err:          "landlockabi: Landlock ABI 4 cannot enforce ioctl_dev (needs ABI 5), scope abstract",
		},
		{
			name: "everything/ABI5", wanted: everything, abi: 5,
			effective:    Features{HandledAccessFS: fsAll, HandledAccessNet: netAll},
			droppedNames: laterThanV1[5:], weakens: true,
			err: "landlockabi: Landlock ABI 5 cannot enforce scope abstract unix socket (needs ABI 6), scope signal (needs ABI 6), log_same_exec_off (needs ABI 7)",
		},
		{
			name: "everything/ABI6", wanted: everything, abi: 6,
			effective:    Features{HandledAccessFS: fsAll, HandledAccessNet: netAll, Scoped: scopeAl},
			droppedNames: laterThanV1[7:], weakens: false,
			err: "landlockabi: Landlock ABI 6 cannot enforce log_same_exec_off (needs ABI 7), log_new_exec_on (needs ABI 7), log_subdomains_off (needs ABI 7)",
		},
		{name: "everything/ABI7", wanted: everything, abi: 7, effective: everything},
		{name: "everything/ABI8", wanted: everything, abi: 8, effective: everything},
		{name: "nothing/ABI0", abi: 0},
		{name: "nothing/ABI7", abi: 7},
		{
			name: "sandlock/ABI5", wanted: sandlockDefault, abi: 5,
			effective:    Features{HandledAccessFS: sandlockDefault.HandledAccessFS, HandledAccessNet: netAll},
			droppedNames: []string{"scope abstract unix socket", "scope signal"}, weakens: true,
			err: "landlockabi: Landlock ABI 5 cannot enforce scope abstract unix socket (needs ABI 6), scope signal (needs ABI 6)",
		},
		{name: "sandlock/ABI6", wanted: sandlockDefault, abi: 6, effective: sandlockDefault},
		{
			// On ABI 1 REFER cannot be handled; reparenting is then always
			// denied (EXDEV), so dropping it does not weaken the sandbox.
			name: "refer/ABI1", wanted: Features{HandledAccessFS: LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_READ_FILE}, abi: 1,
			effective:    Features{HandledAccessFS: LANDLOCK_ACCESS_FS_READ_FILE},
			droppedNames: []string{"refer"}, weakens: false,
			err: "landlockabi: Landlock ABI 1 cannot enforce refer (needs ABI 2)",
		},
		{name: "refer/ABI2", wanted: Features{HandledAccessFS: LANDLOCK_ACCESS_FS_REFER}, abi: 2, effective: Features{HandledAccessFS: LANDLOCK_ACCESS_FS_REFER}},
		{
			name: "log flags only/ABI6", wanted: Features{RestrictFlags: LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON}, abi: 6,
			droppedNames: []string{"log_new_exec_on"}, weakens: false,
			err: "landlockabi: Landlock ABI 6 cannot enforce log_new_exec_on (needs ABI 7)",
		},
		{
			name: "unknown bits/ABI8", abi: 8,
			wanted:       Features{HandledAccessFS: unix.LANDLOCK_ACCESS_FS_RESOLVE_UNIX | LANDLOCK_ACCESS_FS_EXECUTE, RestrictFlags: unix.LANDLOCK_RESTRICT_SELF_TSYNC},
			effective:    Features{HandledAccessFS: LANDLOCK_ACCESS_FS_EXECUTE},
			droppedNames: []string{"unknown handled_access_fs bit 0x10000", "unknown restrict_self flags bit 0x8"}, weakens: true,
			err: "landlockabi: Landlock ABI 8 cannot enforce unknown handled_access_fs bit 0x10000 (unknown to landlockabi), unknown restrict_self flags bit 0x8 (unknown to landlockabi)",
		},
		{name: "negative ABI", wanted: Features{Scoped: LANDLOCK_SCOPE_SIGNAL}, abi: -1, droppedNames: []string{"scope signal"}, weakens: true,
			err: "landlockabi: kernel has no Landlock; cannot enforce scope signal (needs ABI 6)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eff, dropped := Downgrade(tc.wanted, tc.abi)
			if eff != tc.effective {
				t.Errorf("effective = %+v, want %+v", eff, tc.effective)
			}
			if got := names(dropped.List()); !slices.Equal(got, tc.droppedNames) {
				t.Errorf("dropped = %q, want %q", got, tc.droppedNames)
			}
			if got := eff.Or(dropped); got != tc.wanted {
				t.Errorf("effective|dropped = %+v, want wanted %+v", got, tc.wanted)
			}
			if got := dropped.Weakens(); got != tc.weakens {
				t.Errorf("dropped.Weakens() = %v, want %v", got, tc.weakens)
			}
			err := dropped.Err(tc.abi)
			if tc.err == "" {
				if err != nil {
					t.Errorf("dropped.Err = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Errorf("dropped.Err = %v, want prefix %q", err, tc.err)
			}
			if !errors.Is(err, ErrNotSupported) {
				t.Errorf("errors.Is(%v, ErrNotSupported) = false", err)
			}
			var ufe *UnsupportedFeatureError
			if !errors.As(err, &ufe) || ufe.ABI != tc.abi || len(ufe.Features) != len(tc.droppedNames) {
				t.Errorf("errors.As(*UnsupportedFeatureError) = %+v", ufe)
			}
		})
	}
}

func TestFeaturesMinABI(t *testing.T) {
	for _, tc := range []struct {
		f    Features
		want int
	}{
		{Features{}, 0},
		{Features{HandledAccessFS: LANDLOCK_ACCESS_FS_READ_FILE}, 1},
		{Features{HandledAccessFS: LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_READ_FILE}, 3},
		{Features{HandledAccessNet: LANDLOCK_ACCESS_NET_BIND_TCP}, 4},
		{Features{HandledAccessFS: LANDLOCK_ACCESS_FS_IOCTL_DEV}, 5},
		{Features{Scoped: LANDLOCK_SCOPE_SIGNAL}, 6},
		{everything, 7},
		{Features{HandledAccessFS: 1 << 40}, -1},
	} {
		if got := tc.f.MinABI(); got != tc.want {
			t.Errorf("%+v.MinABI() = %d, want %d", tc.f, got, tc.want)
		}
	}
}

func TestFeaturesList(t *testing.T) {
	f := Features{HandledAccessFS: 0x8001, HandledAccessNet: 2, Scoped: 1, RestrictFlags: 4}
	want := []Feature{
		{KindAccessFS, LANDLOCK_ACCESS_FS_EXECUTE}, {KindAccessFS, LANDLOCK_ACCESS_FS_IOCTL_DEV},
		{KindAccessNet, LANDLOCK_ACCESS_NET_CONNECT_TCP}, {KindScope, LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET},
		{KindRestrictFlag, LANDLOCK_RESTRICT_SELF_LOG_SUBDOMAINS_OFF},
	}
	if got := f.List(); !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
	if got := f.Attr(); got.HandledAccessFS != 0x8001 || got.HandledAccessNet != 2 || got.Scoped != 1 {
		t.Errorf("Attr = %+v", got)
	}
	if (Features{}).List() != nil || !(Features{}).IsZero() || f.IsZero() {
		t.Error("zero Features")
	}
}

func TestSyscallError(t *testing.T) {
	for _, tc := range []struct {
		errno       unix.Errno
		unsupported bool
		msg         string
	}{
		{unix.ENOSYS, true, "landlock_create_ruleset version: function not implemented (kernel built without Landlock)"},
		{unix.EOPNOTSUPP, true, "landlock_create_ruleset version: operation not supported (Landlock disabled at boot)"},
		{unix.EACCES, false, "landlock_create_ruleset version: permission denied"},
	} {
		err := error(syscallErr("landlock_create_ruleset version", tc.errno))
		wrapped := fmt.Errorf("probe: %w", err)
		if got := errors.Is(wrapped, ErrNotSupported); got != tc.unsupported {
			t.Errorf("%v: errors.Is(ErrNotSupported) = %v, want %v", tc.errno, got, tc.unsupported)
		}
		if !errors.Is(wrapped, tc.errno) {
			t.Errorf("%v: errno not wrapped", tc.errno)
		}
		if err.Error() != tc.msg {
			t.Errorf("Error() = %q, want %q", err.Error(), tc.msg)
		}
	}
}

func ExampleDowngrade() {
	wanted := Features{
		HandledAccessFS:  LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE,
		HandledAccessNet: LANDLOCK_ACCESS_NET_BIND_TCP,
		Scoped:           LANDLOCK_SCOPE_SIGNAL,
	}
	effective, dropped := Downgrade(wanted, 3)
	fmt.Printf("effective fs=%#x net=%#x scoped=%#x\n",
		effective.HandledAccessFS, effective.HandledAccessNet, effective.Scoped)
	fmt.Println(dropped.Err(3))
	// Output:
	// effective fs=0x4004 net=0x0 scoped=0x0
	// landlockabi: Landlock ABI 3 cannot enforce bind_tcp (needs ABI 4), scope signal (needs ABI 6)
}
