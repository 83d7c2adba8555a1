package tests

import (
	"os"

	"golang.org/x/sys/unix"
)

func unixClearCloexec(f *os.File) (int, error) {
	return unix.FcntlInt(f.Fd(), unix.F_SETFD, 0)
}
