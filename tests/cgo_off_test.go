//go:build !cgo

package tests

const cgoEnabled = false
