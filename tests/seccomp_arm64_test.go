package tests

import (
	"errors"
	"testing"
)

// archDenyCases are the deny-list calls only this architecture has.
func archDenyCases() []opCase { return nil }

// x32Program: arm64 has no x32.
func x32Program(*testing.T) (string, error) { return "", errors.New("no x32 on arm64") }

// sysFork is the fork system call; arm64 has none.
var sysFork = -1
