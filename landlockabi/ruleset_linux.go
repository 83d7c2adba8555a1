package landlockabi

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// PathRule allows Access (LANDLOCK_ACCESS_FS_* rights) on the file
// hierarchy at Path. Path may name a directory or any other file; symbolic
// links are followed.
type PathRule struct {
	Path   string
	Access uint64
}

// NetRule allows Access (LANDLOCK_ACCESS_NET_* rights) on TCP port Port.
type NetRule struct {
	Port   uint16
	Access uint64
}

// BuildRuleset creates a ruleset that handles attr on Landlock ABI abi and
// adds one rule per element of paths and ports. It returns the ruleset fd,
// which is O_CLOEXEC; the caller passes it to [RestrictSelf] (typically in
// a child) and closes it.
//
// For each path rule BuildRuleset opens Path with O_PATH|O_CLOEXEC, adds
// the rule and closes the path fd again. The rights a rule asks for are
// cut down to what the ruleset handles (granting an unhandled right means
// nothing), and on a path that is not a directory to [AccessFile], the only
// rights the kernel accepts there. A rule left with no right is skipped;
// its path must still exist. Net rules are cut down to handled_access_net
// the same way.
//
// attr must fit ABI abi: pass effective.Attr() from [Downgrade]. A feature
// the ABI cannot handle gives an [*UnsupportedFeatureError] and no system
// call is made.
//
// On any error BuildRuleset closes what it opened and returns -1 and an
// error that names the path or port; kernel errors stay wrapped (errors.Is
// works).
func BuildRuleset(abi int, attr RulesetAttr, paths []PathRule, ports []NetRule) (int, error) {
	wanted := Features{
		HandledAccessFS:  attr.HandledAccessFS,
		HandledAccessNet: attr.HandledAccessNet,
		Scoped:           attr.Scoped,
	}
	if _, dropped := Downgrade(wanted, abi); !dropped.IsZero() {
		return -1, dropped.Err(abi)
	}
	rfd, err := CreateRuleset(&attr, AttrSize(abi), 0)
	if err != nil {
		return -1, err
	}
	for _, r := range paths {
		if err := addPathRule(rfd, attr.HandledAccessFS, r); err != nil {
			unix.Close(rfd)
			return -1, err
		}
	}
	for _, r := range ports {
		access := r.Access & attr.HandledAccessNet
		if access == 0 {
			continue
		}
		if err := AddNetPortRule(rfd, access, uint64(r.Port)); err != nil {
			unix.Close(rfd)
			return -1, fmt.Errorf("landlockabi: net-port rule %d: %w", r.Port, err)
		}
	}
	return rfd, nil
}

// addPathRule opens r.Path, masks r.Access for the handled rights and the
// file type, and adds the rule to rulesetFd.
func addPathRule(rulesetFd int, handled uint64, r PathRule) error {
	pfd, err := openPath(r.Path)
	if err != nil {
		return fmt.Errorf("landlockabi: path-beneath rule %q: open: %w", r.Path, err)
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return fmt.Errorf("landlockabi: path-beneath rule %q: fstat: %w", r.Path, err)
	}
	access := r.Access & handled
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		access &= AccessFile
	}
	if access == 0 {
		return nil
	}
	if err := AddPathBeneathRule(rulesetFd, access, pfd); err != nil {
		return fmt.Errorf("landlockabi: path-beneath rule %q: %w", r.Path, err)
	}
	return nil
}

// openPath opens path with O_PATH|O_CLOEXEC, retrying on EINTR (the Go
// runtime's preemption signals can interrupt open on some filesystems).
func openPath(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}
