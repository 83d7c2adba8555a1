//go:build linux

package sandlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/landlockabi"
)

// Landlock rights granted by the filesystem rules.
const (
	// accessRead is Filesystem.Read: execute, read files, list directories.
	accessRead = landlockabi.LANDLOCK_ACCESS_FS_EXECUTE |
		landlockabi.LANDLOCK_ACCESS_FS_READ_FILE |
		landlockabi.LANDLOCK_ACCESS_FS_READ_DIR
	// accessWrite is Filesystem.Write: read, plus every right to change the
	// tree, except MAKE_CHAR and MAKE_BLOCK: a sandbox running as root must
	// not create device nodes.
	accessWrite = accessRead |
		landlockabi.LANDLOCK_ACCESS_FS_WRITE_FILE |
		landlockabi.LANDLOCK_ACCESS_FS_REMOVE_DIR |
		landlockabi.LANDLOCK_ACCESS_FS_REMOVE_FILE |
		landlockabi.LANDLOCK_ACCESS_FS_MAKE_DIR |
		landlockabi.LANDLOCK_ACCESS_FS_MAKE_REG |
		landlockabi.LANDLOCK_ACCESS_FS_MAKE_SOCK |
		landlockabi.LANDLOCK_ACCESS_FS_MAKE_FIFO |
		landlockabi.LANDLOCK_ACCESS_FS_MAKE_SYM |
		landlockabi.LANDLOCK_ACCESS_FS_REFER |
		landlockabi.LANDLOCK_ACCESS_FS_TRUNCATE |
		landlockabi.LANDLOCK_ACCESS_FS_IOCTL_DEV
)

// landlockWanted is what every sandbox asks Landlock to enforce: every
// filesystem right it knows (anything not granted by a rule is denied),
// TCP bind and connect (no port unless a rule grants it), and both scopes.
var landlockWanted = landlockabi.Features{
	HandledAccessFS: landlockabi.HandledFS(landlockabi.MaxKnownABI),
	HandledAccessNet: landlockabi.LANDLOCK_ACCESS_NET_BIND_TCP |
		landlockabi.LANDLOCK_ACCESS_NET_CONNECT_TCP,
	Scoped: landlockabi.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET |
		landlockabi.LANDLOCK_SCOPE_SIGNAL,
}

// landlockABI reports the kernel's Landlock ABI (0 when Landlock is missing
// or disabled). It is a variable so that tests can simulate older kernels.
var landlockABI = sync.OnceValues(func() (int, error) {
	v, err := landlockabi.ABIVersion()
	if errors.Is(err, landlockabi.ErrNotSupported) {
		return 0, nil
	}
	return v, err
})

func init() {
	landlockNetAvailable = func() bool {
		abi, err := landlockABI()
		return err == nil && abi >= 4
	}
}

// Protection is one thing Landlock enforces for a sandbox, with whether this
// kernel enforces it for this sandbox.
type Protection struct {
	// Name is the Landlock feature: a filesystem right ("write_file",
	// "truncate", "ioctl_dev", ...), a network right ("bind_tcp",
	// "connect_tcp") or a scope ("scope signal", ...).
	Name string `json:"name"`
	// MinABI is the Landlock ABI version that added it.
	MinABI int `json:"min_abi"`
	// Enforced is false when the kernel's ABI lacks it (best-effort mode)
	// or a rule left it unhandled on purpose (a "*" bind or connect rule).
	Enforced bool `json:"enforced"`
}

// netRules is the Landlock part of the network policy: TCP ports that may be
// bound or connected to. The network layer fills connect; all means the
// right is left unhandled (any port).
type netRules struct {
	bindAll, connectAll bool
	bind, connect       []uint16
}

// landlockPlan is a built ruleset for one Create.
type landlockPlan struct {
	fd          int // ruleset fd, O_CLOEXEC; -1 when Landlock is not applied
	abi         int
	protections []Protection
}

func (l *landlockPlan) close() {
	if l != nil && l.fd >= 0 {
		unix.Close(l.fd)
		l.fd = -1
	}
}

// landlockNet derives the Landlock TCP rules from the policy.
func (p *Policy) landlockNet() (netRules, error) {
	var r netRules
	var err error
	r.bind, r.bindAll, err = parsePorts("network.bind", p.Network.Bind)
	if err != nil {
		return r, err
	}
	m := p.net
	if m == nil {
		if m, err = p.buildNetModel(nil); err != nil {
			return r, err
		}
	}
	r.connect, r.connectAll = m.tcpConnectPorts()
	r.bindAll = r.bindAll || len(p.Network.DenyBind) > 0
	return r, nil
}

// fsRules checks and collects the filesystem rules. A missing Read or Write
// path is an error naming it; a missing ReadIfExists path is skipped.
func (p *Policy) fsRules() ([]landlockabi.PathRule, error) {
	var rules []landlockabi.PathRule
	add := func(field string, paths []string, access uint64, optional bool) error {
		for _, path := range paths {
			if path == "" || strings.IndexByte(path, 0) >= 0 {
				return &PolicyError{Field: field, Value: fmt.Sprintf("%q", path), Err: errors.New("not a valid path")}
			}
			abs, err := filepath.Abs(path)
			if err != nil {
				return &PolicyError{Field: field, Value: path, Err: err}
			}
			if _, err := os.Stat(abs); err != nil {
				if optional && errors.Is(err, os.ErrNotExist) {
					continue
				}
				return &PolicyError{Field: field, Value: path, Err: errors.Unwrap(err)}
			}
			rules = append(rules, landlockabi.PathRule{Path: abs, Access: access})
		}
		return nil
	}
	fs := &p.Filesystem
	if err := add("filesystem.write", fs.Write, accessWrite, false); err != nil {
		return nil, err
	}
	if err := add("filesystem.read", fs.Read, accessRead, false); err != nil {
		return nil, err
	}
	if err := add("filesystem.write_if_exists", fs.WriteIfExists, accessWrite, true); err != nil {
		return nil, err
	}
	if err := add("filesystem.read_if_exists", fs.ReadIfExists, accessRead, true); err != nil {
		return nil, err
	}
	return rules, nil
}

// buildLandlock negotiates the ruleset with the kernel's ABI and builds it.
// In strict mode a protection the kernel lacks is an error naming it and
// the ABI that adds it; in best-effort mode it is dropped and reported.
func (p *Policy) buildLandlock(net netRules) (*landlockPlan, error) {
	return p.buildLandlockFor(landlockWanted, net)
}

func (p *Policy) buildLandlockFor(asked landlockabi.Features, net netRules) (*landlockPlan, error) {
	rules, err := p.fsRules()
	if err != nil {
		return nil, err
	}
	wanted := asked
	if net.bindAll {
		wanted.HandledAccessNet &^= landlockabi.LANDLOCK_ACCESS_NET_BIND_TCP
	}
	if net.connectAll {
		wanted.HandledAccessNet &^= landlockabi.LANDLOCK_ACCESS_NET_CONNECT_TCP
	}
	abi, err := landlockABI()
	if err != nil {
		return nil, fmt.Errorf("sandlock: landlock: %w", err)
	}
	effective, dropped := landlockabi.Downgrade(wanted, abi)
	if dropped.Weakens() && !p.BestEffort {
		return nil, fmt.Errorf("sandlock: %w (set best_effort to run with less)", dropped.Err(abi))
	}
	lp := &landlockPlan{fd: -1, abi: abi}
	for _, f := range asked.List() {
		lp.protections = append(lp.protections, Protection{
			Name:     f.String(),
			MinABI:   f.MinABI(),
			Enforced: len(effective.And(featuresOf(f)).List()) == 1,
		})
	}
	if abi == 0 || (effective.HandledAccessFS == 0 && effective.HandledAccessNet == 0 && effective.Scoped == 0) {
		return lp, nil // best effort without Landlock
	}
	var ports []landlockabi.NetRule
	for _, port := range net.bind {
		ports = append(ports, landlockabi.NetRule{Port: port, Access: landlockabi.LANDLOCK_ACCESS_NET_BIND_TCP})
	}
	for _, port := range net.connect {
		ports = append(ports, landlockabi.NetRule{Port: port, Access: landlockabi.LANDLOCK_ACCESS_NET_CONNECT_TCP})
	}
	lp.fd, err = landlockabi.BuildRuleset(abi, effective.Attr(), rules, ports)
	if err != nil {
		return nil, fmt.Errorf("sandlock: landlock: %w", err)
	}
	return lp, nil
}

func featuresOf(f landlockabi.Feature) landlockabi.Features {
	var fs landlockabi.Features
	switch f.Kind {
	case landlockabi.KindAccessFS:
		fs.HandledAccessFS = f.Bit
	case landlockabi.KindAccessNet:
		fs.HandledAccessNet = f.Bit
	case landlockabi.KindScope:
		fs.Scoped = f.Bit
	case landlockabi.KindRestrictFlag:
		fs.RestrictFlags = uint32(f.Bit)
	}
	return fs
}
