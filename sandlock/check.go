//go:build linux

package sandlock

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/sandlock-go/sandlock-go/clone3"
	"github.com/sandlock-go/sandlock-go/landlockabi"
)

// KernelReport is what the running kernel offers the sandbox, as printed by
// `sandlock-run check`. Every feature is probed, not inferred from the
// kernel version.
type KernelReport struct {
	Arch   string `json:"arch"`
	Kernel string `json:"kernel"`
	// LandlockABI is 0 when Landlock is missing or disabled.
	LandlockABI    int    `json:"landlock_abi"`
	LandlockErrata uint64 `json:"landlock_errata"`
	// Protections is what a default (strict) sandbox asks Landlock for and
	// whether this kernel can enforce each.
	Protections []Protection `json:"protections"`
	// Seccomp features.
	SeccompFilter    bool `json:"seccomp_filter"`
	UserNotif        bool `json:"seccomp_user_notif"`
	AddFD            bool `json:"seccomp_addfd"`
	WaitKillableRecv bool `json:"seccomp_wait_killable_recv"`
	SyncWakeUp       bool `json:"seccomp_sync_wake_up"`
	// Process machinery.
	Clone3     bool `json:"clone3"`
	PidfdGetfd bool `json:"pidfd_getfd"`
	// DefaultEnforceable is true when a default strict sandbox can be
	// created with every protection.
	DefaultEnforceable bool `json:"default_enforceable"`
}

// CheckKernel probes the kernel's features. It starts (and reaps) one
// throw-away parked child to test the seccomp listener flags; it never
// installs anything in the calling process.
func CheckKernel() (*KernelReport, error) {
	r := &KernelReport{Arch: runtime.GOARCH}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		r.Kernel = unix.ByteSliceToString(uts.Release[:])
	}
	abi, err := landlockABI()
	if err != nil {
		return nil, err
	}
	r.LandlockABI = abi
	if abi > 0 {
		r.LandlockErrata, _ = landlockabi.Errata()
	}
	effective, dropped := landlockabi.Downgrade(landlockWanted, abi)
	for _, f := range landlockWanted.List() {
		r.Protections = append(r.Protections, Protection{
			Name: f.String(), MinABI: f.MinABI(),
			Enforced: len(effective.And(featuresOf(f)).List()) == 1,
		})
	}

	// clone3(NULL, 0) is EINVAL where clone3 exists and ENOSYS where it
	// does not (or is filtered).
	_, _, e := unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0)
	r.Clone3 = e != unix.ENOSYS
	if pfd, err := unix.PidfdOpen(unix.Getpid(), 0); err == nil {
		if fd, err := unix.PidfdGetfd(pfd, 0, 0); err == nil {
			r.PidfdGetfd = true
			unix.Close(fd)
		}
		unix.Close(pfd)
	}

	// seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action)
	action := binary.LittleEndian.AppendUint32(nil, unix.SECCOMP_RET_ALLOW)
	r.SeccompFilter = seccompOp(unix.SECCOMP_GET_ACTION_AVAIL, 0, action) == nil
	action = binary.LittleEndian.AppendUint32(nil, unix.SECCOMP_RET_USER_NOTIF)
	r.UserNotif = r.SeccompFilter && seccompOp(unix.SECCOMP_GET_ACTION_AVAIL, 0, action) == nil
	if r.UserNotif {
		probeListener(r)
	}
	r.DefaultEnforceable = !dropped.Weakens() && r.SeccompFilter && r.UserNotif
	return r, nil
}

// probeListener parks a child with an allow-all filter and a listener, then
// asks the listener about ADDFD and SYNC_WAKE_UP. The child is killed
// before it execs anything.
func probeListener(r *KernelReport) {
	allow := []unix.SockFilter{{Code: 0x06, K: unix.SECCOMP_RET_ALLOW}} // BPF_RET|BPF_K
	spawn := func(flags uint64) (*clone3.Child, error) {
		return clone3.Spawn(context.Background(), &clone3.Attr{
			Path: "/", Argv: []string{"sandlock-probe"}, Files: []int{-1, -1, -1},
			Setpgid: true, NoNewPrivs: true,
			Seccomp: &clone3.Seccomp{Filter: allow, Flags: flags},
		})
	}
	c, err := spawn(unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
	r.WaitKillableRecv = err == nil
	if err != nil {
		var ce *clone3.ChildError
		if !errors.As(err, &ce) || ce.Errno != unix.EINVAL {
			return
		}
		if c, err = spawn(unix.SECCOMP_FILTER_FLAG_NEW_LISTENER); err != nil {
			return
		}
	}
	defer func() {
		_ = c.Signal(unix.SIGKILL)
		var info unix.Siginfo
		_ = unix.Waitid(unix.P_PIDFD, c.Pidfd, &info, unix.WEXITED, nil)
		c.Close()
	}()
	lfd := int(c.Listener.Fd())
	r.SyncWakeUp = unix.IoctlSetInt(lfd, unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == nil
	// struct seccomp_notif_addfd for a notification id that does not exist:
	// ENOENT means the kernel knows ADDFD.
	addfd := make([]byte, 24)
	r.AddFD = errors.Is(ioctlBuf(lfd, unix.SECCOMP_IOCTL_NOTIF_ADDFD, addfd), unix.ENOENT)
}
