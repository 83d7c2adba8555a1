//go:build linux && (amd64 || arm64)

package clone3

// rawSpawn is implemented in trampoline_linux_$GOARCH.s.
//
// It blocks every signal on the calling thread, saving the old mask in the
// header, then calls clone3 with the header's clone_args (or clone(2) when
// the header's legacy word is non-zero), restores the old mask in the parent
// and returns the child's pid, or errno when the clone failed.
//
// In the child it never returns: it runs the header's steps on the arena
// stack with raw system calls only and ends in execve or exit_group(127).
//
// Preconditions:
//   - hdr is the base of a mapped arena laid out by Program.image and
//     mapArena, which stays mapped until the child has exec'd or died.
//   - The calling goroutine is locked to its OS thread (PDEATHSIG follows
//     the creating thread).
func rawSpawn(hdr uintptr) (pid uintptr, errno uintptr)
