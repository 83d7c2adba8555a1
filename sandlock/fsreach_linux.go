//go:build linux

package sandlock

import (
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// reach says which of /proc and /sys the grants make reachable.
type reach struct{ known, proc, sys bool }

// reachOf works reach out: a grant reaches dir when it is dir, beneath
// it, or an ancestor of it (the root), spelled so or through symbolic
// links. Lexically first; otherwise one stat per grant (following links)
// compared with the root directory and the procfs and sysfs devices.
// Sandbox.plan computes it once on its copy of the policy
// (p.seccomp.reach): several features ask.
func (p *Policy) reachOf() reach {
	if p.seccomp.reach.known {
		return p.seccomp.reach
	}
	r := reach{known: true}
	fs := &p.Filesystem
	for _, list := range [][]string{fs.Read, fs.ReadIfExists, fs.Write, fs.WriteIfExists} {
		for _, g := range list {
			if g == "" {
				continue
			}
			abs, err := filepath.Abs(g)
			if err != nil {
				continue
			}
			r.proc = r.proc || lexicallyReaches(abs, "/proc")
			r.sys = r.sys || lexicallyReaches(abs, "/sys")
			if r.proc && r.sys {
				return r
			}
			var st unix.Stat_t
			if unix.Stat(abs, &st) != nil {
				continue
			}
			d := specialDevs()
			if st.Dev == d.root.Dev && st.Ino == d.root.Ino {
				return reach{known: true, proc: true, sys: true}
			}
			r.proc = r.proc || d.procOK && st.Dev == d.proc
			r.sys = r.sys || d.sysOK && st.Dev == d.sys
		}
	}
	return r
}

// lexicallyReaches reports whether path is dir, beneath it, or an
// ancestor of it.
func lexicallyReaches(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/") || path == "/" || strings.HasPrefix(dir, path+"/")
}

// specialDevs are the root directory and the devices of /proc and /sys,
// read once.
var specialDevs = sync.OnceValue(func() (d struct {
	root          unix.Stat_t
	proc, sys     uint64
	procOK, sysOK bool
}) {
	_ = unix.Stat("/", &d.root)
	var st unix.Stat_t
	if unix.Stat("/proc", &st) == nil {
		d.proc, d.procOK = st.Dev, true
	}
	if unix.Stat("/sys", &st) == nil {
		d.sys, d.sysOK = st.Dev, true
	}
	return d
})

// procReachable reports whether the grants make /proc reachable; the /proc
// virtualisation is on only then (otherwise Landlock denies it all).
func (p *Policy) procReachable() bool { return p.reachOf().proc }

// sysReachable is procReachable for /sys.
func (p *Policy) sysReachable() bool { return p.reachOf().sys }
