package tests

import "golang.org/x/sys/unix"

func init() {
	metaLegacyNr["chmod"] = unix.SYS_CHMOD
	metaLegacyNr["chown"] = unix.SYS_CHOWN
	metaLegacyNr["lchown"] = unix.SYS_LCHOWN
	metaLegacyNr["utime"] = unix.SYS_UTIME
	metaLegacyNr["utimes"] = unix.SYS_UTIMES
	metaLegacyNr["futimesat"] = unix.SYS_FUTIMESAT
	metaLegacyNr["futimesat-null"] = unix.SYS_FUTIMESAT
}
