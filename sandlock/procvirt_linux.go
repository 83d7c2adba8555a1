//go:build linux

package sandlock

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The /proc virtualisation beyond opens: /proc listings without the pids
// of other processes (getdents64 made on behalf), sched_getaffinity with
// Limits.NumCPUs CPUs, uname with the sandbox's name, and the virtual files
// /proc/meminfo, /proc/cpuinfo, the mount tables and /etc/hostname.

func init() {
	virtualFileProviders = append(virtualFileProviders, procVirtualFiles)
}

// procFeature is the /proc virtualisation, in the features list.
var procFeature = feature{name: "/proc virtualisation", calls: procCalls, setup: setupProc}

// procCalls lists the calls of the /proc virtualisation for p.
func procCalls(p *Policy) []string {
	var calls []string
	if p.procReachable() {
		calls = append(calls, "getdents64")
	}
	if p.Limits.NumCPUs > 0 {
		calls = append(calls, "sched_getaffinity")
	}
	if p.Process.Name != "" {
		calls = append(calls, "uname")
	}
	return calls
}

// memoryUsed reports the sandbox's accounted memory for /proc/meminfo; the
// memory limit's accounting sets it (nil: nothing is accounted, MemFree is
// the whole limit).
var memoryUsed func(p *Policy) uint64

// procVirtualFiles are the virtual files of p: /etc/hostname with a name,
// and with /proc reachable the mount tables, /proc/meminfo under a memory
// limit and /proc/cpuinfo under NumCPUs.
func procVirtualFiles(p *Policy) []virtualFile {
	var vs []virtualFile
	if name := p.Process.Name; name != "" {
		vs = append(vs, virtualFile{path: "/etc/hostname", content: func() ([]byte, error) { return []byte(name + "\n"), nil }})
	}
	if !p.procReachable() {
		return vs
	}
	mounts := func() ([]byte, error) {
		return []byte("rootfs / rootfs rw 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"), nil
	}
	vs = append(vs,
		virtualFile{path: "/proc/mounts", content: mounts},
		virtualFile{path: "/proc/self/mounts", content: mounts},
		virtualFile{path: "/proc/self/mountinfo", content: func() ([]byte, error) {
			return []byte("1 0 0:1 / / rw - rootfs rootfs rw\n2 1 0:2 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"), nil
		}},
	)
	if limit := p.Limits.memoryLimit(); limit > 0 {
		vs = append(vs, virtualFile{path: "/proc/meminfo", content: func() ([]byte, error) {
			var used uint64
			if memoryUsed != nil {
				used = memoryUsed(p)
			}
			return renderMeminfo(limit, used), nil
		}})
	}
	if n := p.Limits.NumCPUs; n > 0 {
		vs = append(vs, virtualFile{path: "/proc/cpuinfo", content: func() ([]byte, error) {
			real, err := os.ReadFile("/proc/cpuinfo")
			if err != nil {
				return nil, err
			}
			return renderCpuinfo(real, n), nil
		}})
	}
	return vs
}

// renderMeminfo is /proc/meminfo for a sandbox of limit bytes of which
// used are taken: MemTotal is the limit, MemFree and MemAvailable the rest.
func renderMeminfo(limit, used uint64) []byte {
	free := limit - min(used, limit)
	var b bytes.Buffer
	row := func(k string, v uint64) { fmt.Fprintf(&b, "%-16s%8d kB\n", k+":", v/1024) }
	row("MemTotal", limit)
	row("MemFree", free)
	row("MemAvailable", free)
	for _, k := range []string{"Buffers", "Cached", "SwapCached", "Active", "Inactive", "SwapTotal", "SwapFree", "Shmem", "SReclaimable"} {
		row(k, 0)
	}
	return b.Bytes()
}

// renderCpuinfo is real's /proc/cpuinfo with n processors: the real
// entries (repeated when n is larger), numbered 0..n-1, each one core of
// an n-core package.
func renderCpuinfo(real []byte, n int) []byte {
	blocks := bytes.Split(bytes.TrimSpace(real), []byte("\n\n"))
	var procs [][]byte
	var tail []byte
	for _, bl := range blocks {
		if bytes.HasPrefix(bl, []byte("processor")) {
			procs = append(procs, bl)
		} else {
			tail = append(tail, bl...)
			tail = append(tail, "\n\n"...)
		}
	}
	if len(procs) == 0 {
		procs = [][]byte{[]byte("processor\t: 0")}
	}
	var b bytes.Buffer
	for i := range n {
		for _, line := range strings.Split(string(procs[i%len(procs)]), "\n") {
			k, _, ok := strings.Cut(line, ":")
			key := strings.TrimSpace(k)
			switch {
			case !ok:
			case key == "processor" || key == "core id" || key == "apicid" || key == "initial apicid":
				line = k + ": " + strconv.Itoa(i)
			case key == "siblings" || key == "cpu cores":
				line = k + ": " + strconv.Itoa(n)
			}
			b.WriteString(line)
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
	}
	b.Write(tail)
	return b.Bytes()
}

func setupProc(sv *supervision) (map[string]dispatch, error) {
	p := sv.policy
	fc := &fsCtx{sv: sv, proc: true, selfPid: os.Getpid(), leader: sv.pid}
	var st unix.Stat_t
	if err := unix.Stat("/proc", &st); err == nil {
		fc.procDev = uint64(st.Dev)
	}
	hs := map[string]dispatch{
		"getdents64": {fn: fc.getdents64, slow: true},
	}
	if n := p.Limits.NumCPUs; n > 0 {
		hs["sched_getaffinity"] = dispatch{fn: func(nt *notif) verdictResp { return schedGetaffinity(nt, n) }}
	}
	if name := p.Process.Name; name != "" {
		hs["uname"] = dispatch{fn: func(nt *notif) verdictResp { return uname(nt, name) }}
	}
	return hs, nil
}

// schedGetaffinity answers sched_getaffinity(pid, len, mask) with the
// first n CPUs. The size checks are the kernel's.
func schedGetaffinity(nt *notif, n int) verdictResp {
	size := uint64((n + 63) / 64 * 8)
	l := nt.args[1]
	if l&7 != 0 || l < size {
		return respErrno(unix.EINVAL)
	}
	mask := make([]byte, size)
	for i := range n {
		mask[i/8] |= 1 << (i % 8)
	}
	if writeChildMem(nt.pid, nt.args[2], mask) != nil {
		return respErrno(unix.EFAULT)
	}
	return respVal(int64(size))
}

// uname answers uname(buf) with the host's, nodename replaced by name.
func uname(nt *notif, name string) verdictResp {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return respErrno(errnoOf(err))
	}
	u.Nodename = [65]byte{}
	copy(u.Nodename[:64], name)
	var b []byte
	for _, f := range [][65]byte{u.Sysname, u.Nodename, u.Release, u.Version, u.Machine, u.Domainname} {
		b = append(b, f[:]...)
	}
	if writeChildMem(nt.pid, nt.args[0], b) != nil {
		return respErrno(unix.EFAULT)
	}
	return respVal(0)
}

// getdents64 lists a directory on behalf of the caller: on a copy of its
// fd (pidfd_getfd: the same open file, so the same position), into its
// buffer. A listing of the root of procfs drops the pids of processes
// outside the sandbox; a batch whose every entry was dropped is followed
// by the next one, so that 0 still means the end. Made on behalf for
// every directory: deciding "not /proc" and answering CONTINUE would let
// another thread swap the fd in between.
func (fc *fsCtx) getdents64(n *notif) verdictResp {
	c := &caller{n: n, tid: n.pid}
	count := int(uint32(n.args[2]))
	pidfd, err := unix.PidfdOpen(n.pid, pidfdThread)
	if err != nil {
		pidfd, err = unix.PidfdOpen(c.getTgid(), 0)
	}
	if err != nil {
		return respErrno(unix.ESRCH)
	}
	fd, err := unix.PidfdGetfd(pidfd, int(int32(n.args[0])), 0)
	unix.Close(pidfd)
	if err != nil {
		return respErrno(errnoOf(err))
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return respErrno(errnoOf(err))
	}
	filter := uint64(st.Dev) == fc.procDev && st.Ino == procRootIno
	if !idValid(n.lfd, n.id) {
		return respErrno(unix.ENOENT)
	}
	buf := make([]byte, min(count, 1<<20))
	for {
		got, err := unix.Getdents(fd, buf)
		if err != nil {
			return respErrno(errnoOf(err))
		}
		out := buf[:got]
		if filter {
			out = fc.dropHidden(out, c.getTgid())
		}
		if got == 0 || len(out) > 0 {
			if writeChildMem(n.pid, n.args[1], out) != nil {
				return respErrno(unix.EFAULT)
			}
			return respVal(int64(len(out)))
		}
	}
}

// dropHidden removes the linux_dirent64 records of numeric names that are
// not processes of the sandbox.
func (fc *fsCtx) dropHidden(b []byte, tgid int) []byte {
	out := b[:0:0]
	for len(b) >= 19 {
		reclen := int(binary.LittleEndian.Uint16(b[16:]))
		if reclen < 19 || reclen > len(b) {
			break
		}
		rec := b[:reclen]
		b = b[reclen:]
		name := rec[19:]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if pid, err := strconv.Atoi(string(name)); err == nil && pid > 0 && !fc.visible(pid, tgid) {
			continue
		}
		out = append(out, rec...)
	}
	return out
}
