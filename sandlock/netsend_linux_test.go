//go:build linux

package sandlock

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

func cmsg(level, typ int32, data int) []byte {
	b := make([]byte, (16+data+7)&^7)
	binary.LittleEndian.PutUint64(b, uint64(16+data))
	binary.LittleEndian.PutUint32(b[8:], uint32(level))
	binary.LittleEndian.PutUint32(b[12:], uint32(typ))
	return b
}

func TestSourceRouted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		control []byte
		want    bool
	}{
		{"none", nil, false},
		{"pktinfo", cmsg(unix.SOL_IP, unix.IP_PKTINFO, 12), false},
		{"ip options", cmsg(unix.SOL_IP, unix.IP_RETOPTS, 8), true},
		{"second cmsg", append(cmsg(unix.SOL_IP, unix.IP_TOS, 1), cmsg(unix.SOL_IPV6, unix.IPV6_RTHDR, 24)...), true},
		{"rfc2292", cmsg(unix.SOL_IPV6, unix.IPV6_2292RTHDR, 24), true},
		{"rights", cmsg(unix.SOL_SOCKET, unix.SCM_RIGHTS, 4), false},
		{"truncated", cmsg(unix.SOL_IP, unix.IP_TOS, 1)[:12], false},
	} {
		if got := sourceRouted(tc.control); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
