#!/usr/bin/env bash
# Whole-process start-up cost: `sandlock-run run -- /bin/true` against bare
# /bin/true (and bwrap / landrun when installed), measured in the same run.
# Usage: tests/bench-cli.sh [N]   (N runs per round, 3 rounds, default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
n=${1:-300}
bin=$(mktemp -d)/sandlock-run
CGO_ENABLED=0 go build -o "$bin" ./cmd/sandlock-run
# A minimal Go launcher (os/exec, no sandbox): the floor for any Go CLI that
# starts a program and waits for it.
launcher=$(mktemp -d)
cat >"$launcher/main.go" <<'GO'
package main

import (
	"os"
	"os/exec"
)

func main() {
	c := exec.Command(os.Args[1], os.Args[2:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	if c.Run() != nil {
		os.Exit(1)
	}
}
GO
printf 'module launcher\ngo 1.26\n' >"$launcher/go.mod"
(cd "$launcher" && CGO_ENABLED=0 go build -o launcher .)

# time_loop CMD...: seconds per run (best of 3 rounds of n runs)
time_loop() {
  local best=""
  for _ in 1 2 3; do
    local t0 t1
    t0=$(date +%s%N)
    for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1 || true; done
    t1=$(date +%s%N)
    local per=$(((t1 - t0) / n))
    if [ -z "$best" ] || [ "$per" -lt "$best" ]; then best=$per; fi
  done
  echo "$best"
}

bare=$(time_loop /bin/true)
printf '%-28s %8d us  %5s\n' "bare /bin/true" $((bare / 1000)) "1.00x"
row() {
  local name=$1; shift
  local t
  t=$(time_loop "$@")
  printf '%-28s %8d us  %5sx\n' "$name" $((t / 1000)) "$(awk -v a="$t" -v b="$bare" 'BEGIN{printf "%.2f", a/b}')"
}
row "go os/exec launcher" "$launcher/launcher" /bin/true
row "sandlock-run --version" "$bin" --version
row "sandlock-run run" "$bin" run -- /bin/true
if command -v bwrap >/dev/null; then
  row "bwrap --ro-bind / /" bwrap --ro-bind / / --dev /dev --proc /proc /bin/true
fi
if command -v landrun >/dev/null; then
  row "landrun --rox /usr" landrun --best-effort --rox /usr --ro /lib --ro /lib64 -- /bin/true
fi
