package sandlock

import (
	"testing"

	"github.com/sandlock-go/sandlock-go/bpfasm"
)

// TestFilterNetworkRules: the network layer's argument rules, by value:
// socket protocols, TCP Fast Open on unnotified sending calls, the
// addrlen-0 sendto shortcut, source-routing options; each compared with
// the reference model and with the expected action.
func TestFilterNetworkRules(t *testing.T) {
	eperm, eopnotsupp := bpfasm.Errno(errnoEPERM), bpfasm.Errno(errnoEOPNOTSUPP)
	netCfg := filterConfig{allowDatagram: true, sendmsgFree: true, noSourceRoute: true,
		notify: []string{"connect", "sendto", "sendmsg", "sendmmsg", "bind"}}
	for _, goarch := range []string{"amd64", "arm64"} {
		a := archFor(goarch)
		for _, tc := range []struct {
			name string
			cfg  filterConfig
			call string
			args [6]uint64
			want bpfasm.Action
		}{
			{"tcp", filterConfig{}, "socket", [6]uint64{2, 1, 0}, bpfasm.ActionAllow},
			{"tcp6 explicit", filterConfig{}, "socket", [6]uint64{10, 1 | 0x80000, 6}, bpfasm.ActionAllow},
			{"mptcp", filterConfig{}, "socket", [6]uint64{2, 1, 262}, eperm},
			{"sctp", filterConfig{}, "socket", [6]uint64{10, 1, 132}, eperm},
			{"udp off", filterConfig{}, "socket", [6]uint64{2, 2, 17}, eperm},
			{"udp on", netCfg, "socket", [6]uint64{2, 2, 17}, bpfasm.ActionAllow},
			{"ping6 on", netCfg, "socket", [6]uint64{10, 2, 58}, bpfasm.ActionAllow},
			{"udplite on", netCfg, "socket", [6]uint64{2, 2, 136}, eperm},
			{"tfo sendto default", filterConfig{}, "sendto", [6]uint64{3, 0, 1, 0x20000000, 0x1000, 16}, eopnotsupp},
			{"tfo sendmsg default", filterConfig{}, "sendmsg", [6]uint64{3, 0x1000, 0x20004000}, eopnotsupp},
			{"tfo sendmmsg default", filterConfig{}, "sendmmsg", [6]uint64{3, 0x1000, 1, 0x20000000}, eopnotsupp},
			{"trampoline sendmsg", filterConfig{}, "sendmsg", [6]uint64{3, 0x1000, 0x4000}, bpfasm.ActionAllow},
			{"tfo notified", netCfg, "sendto", [6]uint64{3, 0, 1, 0x20000000, 0x1000, 16}, bpfasm.ActionUserNotif},
			{"send no address", netCfg, "sendto", [6]uint64{3, 0x1000, 1, 0, 0, 0}, bpfasm.ActionAllow},
			{"sendto address", netCfg, "sendto", [6]uint64{3, 0x1000, 1, 0, 0x2000, 16}, bpfasm.ActionUserNotif},
			{"sendmsg notified", netCfg, "sendmsg", [6]uint64{3, 0x1000, 0x4000}, bpfasm.ActionUserNotif},
			{"ip_options", netCfg, "setsockopt", [6]uint64{3, 0, 4}, eperm},
			{"ipv6_rthdr", netCfg, "setsockopt", [6]uint64{3, 41, 57}, eperm},
			{"ipv6_2292rthdr", netCfg, "setsockopt", [6]uint64{3, 41, 5}, eperm},
			{"tcp_nodelay", netCfg, "setsockopt", [6]uint64{3, 6, 1}, bpfasm.ActionAllow},
			{"ip_tos", netCfg, "setsockopt", [6]uint64{3, 0, 1}, bpfasm.ActionAllow},
			{"ip_options default", filterConfig{}, "setsockopt", [6]uint64{3, 0, 4}, bpfasm.ActionAllow},
		} {
			cfg := tc.cfg
			cfg.arch = a
			_, in := mustCompile(t, cfg)
			nr, _ := a.nr(tc.call)
			d := bpfasm.SeccompData{Nr: int32(nr), Arch: a.audit, Args: tc.args}
			got := bpfasm.Action(in.RunData(d))
			if ref := refVerdict(cfg, d); got != tc.want || ref != tc.want {
				t.Errorf("%s %s: filter %v, model %v, want %v", goarch, tc.name, got, ref, tc.want)
			}
		}
	}
}
