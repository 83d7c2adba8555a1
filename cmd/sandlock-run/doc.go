// Command sandlock-run runs a program in a sandlock sandbox.
//
//	sandlock-run run [flags] -- CMD [ARGS...]
//	sandlock-run run --no-supervisor [flags] -- CMD [ARGS...]
//	sandlock-run check [--json] [--dump-filter [run flags]]
//	sandlock-run --version
//
// run starts CMD in a new sandbox and waits for it: Landlock (the system
// paths read-only, /dev/null, /dev/zero and /dev/full writable, plus -r and
// -w paths), the seccomp filter, no capabilities, its own process group. On
// a terminal the program gets the foreground and job control (^Z, fg) is
// relayed. Termination signals are forwarded; a second one kills.
//
// run --no-supervisor confines sandlock-run itself (all threads) and execs
// CMD in place, with upstream's relaxed deny list, so that a full sandbox
// can run inside it.
//
// check reports what the running kernel can enforce (probed, not guessed)
// and exits 0 when a default sandbox is fully enforceable; --dump-filter
// prints the seccomp program a run with the same flags would install.
//
// Exit status follows the coreutils env/timeout conventions: the program's
// own status; 128+N when it was killed by signal N; 122 when the memory
// limit (-m) killed it, after printing "memory limit exceeded"; 124 when the
// timeout expired; 125 when the sandbox could not be set up (including bad flags);
// 126 when the command is not executable; 127 when it was not found.
package main
