// Package testelf writes the smallest static executables the tests need: a
// program that calls exit_group(code) and nothing else. It isolates the cost
// of starting a process from the cost of its loader and libc.
package testelf
