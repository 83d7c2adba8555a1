// Package tests holds the black-box integration tests of sandlock and
// sandlock-run: every test runs real programs under a real kernel policy and
// asserts what the program observed and what the host kept. Policies are
// only ever installed in sandboxed children, never in the test process.
package tests
