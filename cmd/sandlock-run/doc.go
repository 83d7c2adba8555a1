// Command sandlock-run runs a program in a sandlock sandbox.
//
//	sandlock-run run [flags] -- CMD [ARGS...]
//	sandlock-run --version
//
// Exit status follows the coreutils env/timeout conventions: the program's
// own status; 128+N when it was killed by signal N; 124 when the timeout
// expired; 125 when the sandbox could not be set up (including bad flags);
// 126 when the command is not executable; 127 when it was not found.
package main
