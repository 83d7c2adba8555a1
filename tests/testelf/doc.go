// Package testelf writes the smallest static executables the tests need: a
// program that calls exit_group(code) and nothing else, which isolates the
// cost of starting a process from the cost of its loader and libc, and
// amd64 programs that make one system call through a chosen entry (native,
// x32, int 0x80), for the seccomp architecture guards.
package testelf
