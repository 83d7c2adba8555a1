//go:build linux

package landlockabi

import (
	"fmt"
	"math/bits"
)

// MaxKnownABI is the newest Landlock ABI version this package knows. The
// table functions treat any higher version as this one.
const MaxKnownABI = 7

// Kind says which field of the ruleset, or which system call argument, a
// [Feature] belongs to.
type Kind uint8

const (
	KindAccessFS     Kind = iota + 1 // A bit of handled_access_fs.
	KindAccessNet                    // A bit of handled_access_net.
	KindScope                        // A bit of scoped.
	KindRestrictFlag                 // A flag of landlock_restrict_self(2).
)

// String returns the name of the ruleset field or argument, for example
// "handled_access_fs".
func (k Kind) String() string {
	switch k {
	case KindAccessFS:
		return "handled_access_fs"
	case KindAccessNet:
		return "handled_access_net"
	case KindScope:
		return "scoped"
	case KindRestrictFlag:
		return "restrict_self flags"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// A Feature is one thing Landlock can enforce or be told: a filesystem
// right, a network right, a scope, or a landlock_restrict_self flag. Bit
// holds exactly one bit.
type Feature struct {
	Kind Kind
	Bit  uint64
}

// featureInfo is one row of the ABI table.
type featureInfo struct {
	Feature
	name   string
	minABI int
}

// features is the ABI table: every feature this package knows, with its
// name and the first ABI version that handles it. The per-ABI masks
// ([HandledFS] and friends) are derived from it, so there is one source of
// truth.
var features = []featureInfo{
	{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_EXECUTE}, "execute", 1},
	{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_WRITE_FILE}, "write_file", 1},
	{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_READ_FILE}, "read_file", 1},
	{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_READ_DIR}, "read_dir", 1},
	{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_REMOVE_DIR}, "remove_dir", 1},
	{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_REMOVE_FILE}, "remove_file", 1},
	{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_MAKE_CHAR}, "make_char", 1},
	{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_MAKE_DIR}, "make_dir", 1},
	{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_MAKE_REG}, "make_reg", 1},
	{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_MAKE_SOCK}, "make_sock", 1},
	{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_MAKE_FIFO}, "make_fifo", 1},
	{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_MAKE_BLOCK}, "make_block", 1},
	{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_MAKE_SYM}, "make_sym", 1},
	{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_REFER}, "refer", 2},
	{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_TRUNCATE}, "truncate", 3},
	{Feature{KindAccessNet, LANDLOCK_ACCESS_NET_BIND_TCP}, "bind_tcp", 4},
	{Feature{KindAccessNet, LANDLOCK_ACCESS_NET_CONNECT_TCP}, "connect_tcp", 4},
	{Feature{KindAccessFS, LANDLOCK_ACCESS_FS_IOCTL_DEV}, "ioctl_dev", 5},
	{Feature{KindScope, LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET}, "scope abstract unix socket", 6},
	{Feature{KindScope, LANDLOCK_SCOPE_SIGNAL}, "scope signal", 6},
	{Feature{KindRestrictFlag, LANDLOCK_RESTRICT_SELF_LOG_SAME_EXEC_OFF}, "log_same_exec_off", 7},
	{Feature{KindRestrictFlag, LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON}, "log_new_exec_on", 7},
	{Feature{KindRestrictFlag, LANDLOCK_RESTRICT_SELF_LOG_SUBDOMAINS_OFF}, "log_subdomains_off", 7},
}

// byABI[v] is everything ABI v handles, built from features.
var byABI = func() (t [MaxKnownABI + 1]Features) {
	for _, f := range features {
		for v := f.minABI; v <= MaxKnownABI; v++ {
			t[v] = t[v].with(f.Feature)
		}
	}
	return t
}()

func (f Feature) info() (featureInfo, bool) {
	for _, fi := range features {
		if fi.Feature == f {
			return fi, true
		}
	}
	return featureInfo{}, false
}

// String returns the feature's kernel name without its LANDLOCK_*_ prefix,
// in lower case ("truncate", "ioctl_dev", "bind_tcp"), "scope …" for scopes
// ("scope abstract unix socket", "scope signal"), or a description with the
// bit for a feature this package does not know ("unknown handled_access_fs
// bit 0x10000").
func (f Feature) String() string {
	if fi, ok := f.info(); ok {
		return fi.name
	}
	return fmt.Sprintf("unknown %v bit %#x", f.Kind, f.Bit)
}

// MinABI returns the first Landlock ABI version that handles f, or 0 if no
// version this package knows does.
func (f Feature) MinABI() int {
	fi, _ := f.info()
	return fi.minABI
}

// Weakens reports whether running without f lets a sandboxed process do
// something it would otherwise be denied. It is true for every access right
// and scope except LANDLOCK_ACCESS_FS_REFER, and false for the
// landlock_restrict_self flags, which only change audit logging.
//
// REFER is the exception because a ruleset that cannot handle it (ABI 1)
// denies every cross-directory link and rename with EXDEV: losing it costs
// functionality, not protection.
func (f Feature) Weakens() bool {
	switch {
	case f.Kind == KindRestrictFlag:
		return false
	case f.Kind == KindAccessFS && f.Bit == LANDLOCK_ACCESS_FS_REFER:
		return false
	}
	return true
}

// clampABI maps abi to the table's range: below 1 is 0 (no Landlock), above
// MaxKnownABI is MaxKnownABI.
func clampABI(abi int) int {
	return max(0, min(abi, MaxKnownABI))
}

// HandledFS returns the filesystem rights that Landlock ABI abi can handle:
// 0 for ABI 0, 0x1fff (EXECUTE … MAKE_SYM) for ABI 1, plus REFER from ABI 2,
// TRUNCATE from ABI 3 and IOCTL_DEV from ABI 5.
func HandledFS(abi int) uint64 { return byABI[clampABI(abi)].HandledAccessFS }

// HandledNet returns the network rights that Landlock ABI abi can handle:
// BIND_TCP and CONNECT_TCP from ABI 4, nothing before.
func HandledNet(abi int) uint64 { return byABI[clampABI(abi)].HandledAccessNet }

// Scopes returns the scopes that Landlock ABI abi can enforce:
// ABSTRACT_UNIX_SOCKET and SIGNAL from ABI 6, nothing before.
func Scopes(abi int) uint64 { return byABI[clampABI(abi)].Scoped }

// RestrictFlags returns the landlock_restrict_self flags that Landlock ABI
// abi accepts: the three logging flags from ABI 7, nothing before.
func RestrictFlags(abi int) uint32 { return byABI[clampABI(abi)].RestrictFlags }

// AttrSize returns the size of struct landlock_ruleset_attr to pass to
// landlock_create_ruleset on ABI abi: 8 (handled_access_fs) for ABI 1–3,
// 16 (+ handled_access_net) for ABI 4–5, 24 (+ scoped) for ABI 6 and
// later, and 0 for ABI 0.
//
// N.B. The kernel accepts a larger size when the extra bytes are zero, so
// 24 works on every ABI; the per-ABI size keeps a ruleset from silently
// asking an old kernel to ignore a non-zero field it cannot see.
func AttrSize(abi int) uintptr {
	switch {
	case abi >= 6:
		return 24
	case abi >= 4:
		return 16
	case abi >= 1:
		return 8
	}
	return 0
}

// Features is a set of Landlock features: what a caller wants enforced,
// what an ABI can enforce, or what [Downgrade] dropped.
type Features struct {
	HandledAccessFS  uint64 // LANDLOCK_ACCESS_FS_* bits.
	HandledAccessNet uint64 // LANDLOCK_ACCESS_NET_* bits.
	Scoped           uint64 // LANDLOCK_SCOPE_* bits.
	RestrictFlags    uint32 // LANDLOCK_RESTRICT_SELF_* flags.
}

// ABIFeatures returns everything Landlock ABI abi can enforce.
func ABIFeatures(abi int) Features { return byABI[clampABI(abi)] }

// Attr returns the ruleset attribute for f (f.RestrictFlags is not part of
// it: pass it to [RestrictSelf]).
func (f Features) Attr() RulesetAttr {
	return RulesetAttr{
		HandledAccessFS:  f.HandledAccessFS,
		HandledAccessNet: f.HandledAccessNet,
		Scoped:           f.Scoped,
	}
}

// IsZero reports whether f holds no feature.
func (f Features) IsZero() bool { return f == Features{} }

// And returns the features in both f and g.
func (f Features) And(g Features) Features {
	return Features{
		HandledAccessFS:  f.HandledAccessFS & g.HandledAccessFS,
		HandledAccessNet: f.HandledAccessNet & g.HandledAccessNet,
		Scoped:           f.Scoped & g.Scoped,
		RestrictFlags:    f.RestrictFlags & g.RestrictFlags,
	}
}

// AndNot returns the features in f and not in g.
func (f Features) AndNot(g Features) Features {
	return Features{
		HandledAccessFS:  f.HandledAccessFS &^ g.HandledAccessFS,
		HandledAccessNet: f.HandledAccessNet &^ g.HandledAccessNet,
		Scoped:           f.Scoped &^ g.Scoped,
		RestrictFlags:    f.RestrictFlags &^ g.RestrictFlags,
	}
}

// Or returns the features in f or g.
func (f Features) Or(g Features) Features {
	return Features{
		HandledAccessFS:  f.HandledAccessFS | g.HandledAccessFS,
		HandledAccessNet: f.HandledAccessNet | g.HandledAccessNet,
		Scoped:           f.Scoped | g.Scoped,
		RestrictFlags:    f.RestrictFlags | g.RestrictFlags,
	}
}

func (f Features) with(x Feature) Features {
	switch x.Kind {
	case KindAccessFS:
		f.HandledAccessFS |= x.Bit
	case KindAccessNet:
		f.HandledAccessNet |= x.Bit
	case KindScope:
		f.Scoped |= x.Bit
	case KindRestrictFlag:
		f.RestrictFlags |= uint32(x.Bit)
	}
	return f
}

// List returns each feature of f, one bit each: filesystem rights, then
// network rights, scopes and restrict_self flags, each from the lowest bit
// up.
func (f Features) List() []Feature {
	var out []Feature
	for _, k := range []struct {
		kind Kind
		v    uint64
	}{
		{KindAccessFS, f.HandledAccessFS},
		{KindAccessNet, f.HandledAccessNet},
		{KindScope, f.Scoped},
		{KindRestrictFlag, uint64(f.RestrictFlags)},
	} {
		for v := k.v; v != 0; v &= v - 1 {
			out = append(out, Feature{k.kind, uint64(1) << bits.TrailingZeros64(v)})
		}
	}
	return out
}

// MinABI returns the first Landlock ABI version that can enforce all of f
// (0 for an empty f), or -1 if f holds a feature no known version handles.
func (f Features) MinABI() int {
	m := 0
	for _, x := range f.List() {
		v := x.MinABI()
		if v == 0 {
			return -1
		}
		m = max(m, v)
	}
	return m
}

// Weakens reports whether any feature of f [Feature.Weakens]: whether a
// sandbox that drops f lets the process do something the wanted policy
// denies.
func (f Features) Weakens() bool {
	for _, x := range f.List() {
		if x.Weakens() {
			return true
		}
	}
	return false
}

// Err returns nil if f is empty, and otherwise an
// [*UnsupportedFeatureError] that names each feature of f and the ABI that
// adds it. Call it on what [Downgrade] dropped to fail in strict mode.
func (f Features) Err(abi int) error {
	if f.IsZero() {
		return nil
	}
	return &UnsupportedFeatureError{Features: f.List(), ABI: abi}
}

// Downgrade fits wanted to Landlock ABI abi. It returns effective, the
// part of wanted that ABI abi can enforce, and dropped, the rest, so that
// effective ⊆ [ABIFeatures](abi), effective ∩ dropped = ∅ and
// effective ∪ dropped = wanted. ABI 0 (no Landlock) drops everything.
// Downgrade is pure: it does not look at the running kernel.
//
// N.B. If effective handles no access right and no scope, the kernel will
// refuse to create the ruleset (ENOMSG): there is nothing to enforce.
//
// REFER dropped on ABI 1 does not weaken the sandbox (see [Feature.Weakens]
// and the package comment): cross-directory links and renames then always
// fail with EXDEV.
func Downgrade(wanted Features, abi int) (effective, dropped Features) {
	effective = wanted.And(ABIFeatures(abi))
	return effective, wanted.AndNot(effective)
}
