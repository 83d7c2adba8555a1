// These tests need the network policy (branch net: Network.Allow and its
// on-behalf sendto/sendmsg/bind); enable them with -tags netvirt_net once
// it is merged.

package tests

import "testing"

// TestNetlinkUnderDestinationPolicy: with a destination policy the
// network layer inspects sendto/sendmsg/bind; the virtual netlink socket
// (an AF_UNIX SOCK_SEQPACKET socket addressed with a sockaddr_nl) must
// keep working: the layer decides by the socket's family, not by the
// address's, and leaves AF_UNIX sockets' non-unix addresses to the kernel
// (which ignores them on a connected SEQPACKET socket). Upstream once
// failed these sends closed (test_netlink_virt.rs,
// if_nameindex_works_under_destination_policy).
func TestNetlinkUnderDestinationPolicy(t *testing.T) {
	p := base()
	p.Network.Allow = []string{"127.0.0.1:9"}
	if got := runPython(t, p, pyIfNameindex); got != "[(1, 'lo')]" {
		t.Errorf("if_nameindex under a destination policy: %q, want [(1, 'lo')]", got)
	}
	checkOps(t, p, []opCase{{"nlraw", "OK"}, {"goifaces", "error ifaces=lo/1"}})
}
