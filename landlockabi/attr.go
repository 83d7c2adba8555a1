//go:build linux

package landlockabi

import (
	"encoding/binary"
	"structs"
)

// Sizes of the uapi structs, in bytes.
const (
	// SizeofRulesetAttr is sizeof(struct landlock_ruleset_attr) at ABI 6
	// (three __u64). See [AttrSize] for the size to pass per ABI.
	SizeofRulesetAttr = 24
	// SizeofPathBeneathAttr is sizeof(struct landlock_path_beneath_attr),
	// which is packed: a __u64 then a __s32, no tail padding.
	SizeofPathBeneathAttr = 12
	// SizeofNetPortAttr is sizeof(struct landlock_net_port_attr).
	SizeofNetPortAttr = 16
)

// RulesetAttr is struct landlock_ruleset_attr from
// include/uapi/linux/landlock.h, in its ABI 6 layout. The kernel reads only
// the first size bytes passed to [CreateRuleset]: handled_access_fs on
// ABI 1–3, up to handled_access_net on ABI 4–5, up to scoped on ABI 6 and
// later.
//
// x/sys/unix's LandlockRulesetAttr is not used because it already carries
// fields of future ABIs (48 bytes in v0.50.0).
type RulesetAttr struct {
	_ structs.HostLayout

	// HandledAccessFS is handled_access_fs: the LANDLOCK_ACCESS_FS_* rights
	// that the ruleset denies unless a rule allows them.
	HandledAccessFS uint64
	// HandledAccessNet is handled_access_net: the LANDLOCK_ACCESS_NET_*
	// rights that the ruleset denies unless a rule allows them.
	// Requires Landlock ABI 4.
	HandledAccessNet uint64
	// Scoped is scoped: the LANDLOCK_SCOPE_* resources that the domain
	// cannot reach outside itself. Requires Landlock ABI 6.
	Scoped uint64
}

// PathBeneathAttr is struct landlock_path_beneath_attr from
// include/uapi/linux/landlock.h. The C struct is packed (12 bytes) while Go
// pads this one to 16, so it is never passed by pointer: [PathBeneathAttr.Marshal]
// writes the kernel's layout.
type PathBeneathAttr struct {
	// AllowedAccess is allowed_access: LANDLOCK_ACCESS_FS_* rights granted
	// beneath ParentFd.
	AllowedAccess uint64
	// ParentFd is parent_fd: an fd of the directory (or file) the rule is
	// about, preferably opened with O_PATH.
	ParentFd int32
}

// Marshal returns a in the kernel's packed layout, in host byte order:
// allowed_access at offset 0, parent_fd at offset 8.
func (a PathBeneathAttr) Marshal() [SizeofPathBeneathAttr]byte {
	var b [SizeofPathBeneathAttr]byte
	binary.NativeEndian.PutUint64(b[0:8], a.AllowedAccess)
	binary.NativeEndian.PutUint32(b[8:12], uint32(a.ParentFd))
	return b
}

// NetPortAttr is struct landlock_net_port_attr from
// include/uapi/linux/landlock.h. Requires Landlock ABI 4.
type NetPortAttr struct {
	_ structs.HostLayout

	// AllowedAccess is allowed_access: LANDLOCK_ACCESS_NET_* rights granted
	// for Port.
	AllowedAccess uint64
	// Port is port, in host byte order. The kernel rejects a value above
	// 65535 with EINVAL. Port 0 in a BIND_TCP rule allows binding to an
	// ephemeral port.
	Port uint64
}
