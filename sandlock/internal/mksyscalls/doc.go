// Command mksyscalls writes the system call name tables of package sandlock
// (zsyscalls_x86_64.go and zsyscalls_aarch64.go) from the zsysnum files of
// golang.org/x/sys/unix in the module cache, at the version go.mod requires.
//
// Run it from the sandlock directory with go generate (see filter_arch.go):
//
//	go run ./internal/mksyscalls
//
// The tables are plain data that build on every GOOS and GOARCH, so that
// policies naming system calls are checked, and filters for either
// architecture compiled, anywhere.
package main
