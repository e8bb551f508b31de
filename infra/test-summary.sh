#!/usr/bin/env bash
# Counts the results in `go test -v` logs and prints them as one line,
#   LABEL: N passed, N failed, N skipped
# (subtests included), so that a run's last line says what it ran.
set -euo pipefail
label="$1"; shift
count() { local what="$1"; shift; cat "$@" | grep -cE "^[[:space:]]*--- $what: " || true; }
printf '%s: %d passed, %d failed, %d skipped\n' "$label" "$(count PASS "$@")" "$(count FAIL "$@")" "$(count SKIP "$@")"
