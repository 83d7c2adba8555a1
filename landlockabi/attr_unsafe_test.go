//go:build linux

package landlockabi

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestStructLayout checks the Go mirrors against the uapi sizes and
// offsets of include/uapi/linux/landlock.h.
func TestStructLayout(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof(RulesetAttr)", unsafe.Sizeof(RulesetAttr{}), SizeofRulesetAttr},
		{"SizeofRulesetAttr", SizeofRulesetAttr, 24},
		{"offsetof(handled_access_fs)", unsafe.Offsetof(RulesetAttr{}.HandledAccessFS), 0},
		{"offsetof(handled_access_net)", unsafe.Offsetof(RulesetAttr{}.HandledAccessNet), 8},
		{"offsetof(scoped)", unsafe.Offsetof(RulesetAttr{}.Scoped), 16},
		// x/sys's struct agrees on the fields both have.
		{"x/sys offsetof(Handled_access_net)", unsafe.Offsetof(unix.LandlockRulesetAttr{}.Handled_access_net), 8},
		{"x/sys offsetof(Scoped)", unsafe.Offsetof(unix.LandlockRulesetAttr{}.Scoped), 16},
		{"sizeof(NetPortAttr)", unsafe.Sizeof(NetPortAttr{}), SizeofNetPortAttr},
		{"SizeofNetPortAttr", SizeofNetPortAttr, 16},
		{"offsetof(net port)", unsafe.Offsetof(NetPortAttr{}.Port), 8},
		{"SizeofPathBeneathAttr", SizeofPathBeneathAttr, 12},
		{"len(PathBeneathAttr.Marshal())", uintptr(len(PathBeneathAttr{}.Marshal())), SizeofPathBeneathAttr},
		{"AttrSize(6)", AttrSize(6), unsafe.Sizeof(RulesetAttr{})},
		{"AttrSize(4)", AttrSize(4), unsafe.Offsetof(RulesetAttr{}.Scoped)},
		{"AttrSize(1)", AttrSize(1), unsafe.Offsetof(RulesetAttr{}.HandledAccessNet)},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

// TestPathBeneathMarshal checks the packed layout against x/sys's
// (padded) struct, whose first 12 bytes are the kernel's layout.
func TestPathBeneathMarshal(t *testing.T) {
	for _, a := range []PathBeneathAttr{
		{},
		{AllowedAccess: 0x0102030405060708, ParentFd: 0x0a0b0c0d},
		{AllowedAccess: AccessFile, ParentFd: -1},
		{AllowedAccess: ^uint64(0), ParentFd: -100},
	} {
		b := a.Marshal()
		ref := unix.LandlockPathBeneathAttr{Allowed_access: a.AllowedAccess, Parent_fd: a.ParentFd}
		refBytes := unsafe.Slice((*byte)(unsafe.Pointer(&ref)), unsafe.Sizeof(ref))
		if string(b[:]) != string(refBytes[:SizeofPathBeneathAttr]) {
			t.Errorf("Marshal(%+v) = % x, want % x", a, b, refBytes[:SizeofPathBeneathAttr])
		}
		if got := binary.NativeEndian.Uint64(b[0:8]); got != a.AllowedAccess {
			t.Errorf("allowed_access = %#x, want %#x", got, a.AllowedAccess)
		}
		if got := int32(binary.NativeEndian.Uint32(b[8:12])); got != a.ParentFd {
			t.Errorf("parent_fd = %d, want %d", got, a.ParentFd)
		}
	}
}
