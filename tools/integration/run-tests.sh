#!/usr/bin/env bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# The whole integration tier: stack up, tests, stack down (always), with
# timings and the peak memory of stack + Fenix.
#   run-tests.sh [test runner args...]   (default: stestr over
#                                          fenix/tests/integration)
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
D=${FENIX_INTEGRATION_DIR:-/tmp/fenix-integration}
export FENIX_INTEGRATION=1 FENIX_INTEGRATION_DIR=$D
mkdir -p "$D"
T0=$(date +%s.%N)
el() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }
MEMPID=
# Written by test_upgrade (per-host and total upgrade times).
rm -f "$D/upgrade-figures.json"
cleanup() {
    [ -n "$MEMPID" ] && kill "$MEMPID" 2>/dev/null
    local t; t=$(date +%s.%N)
    bash "$HERE/stack.sh" stop
    echo "== stop: $(el "$t") s"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
python3 "$HERE/helpers/memsample.py" "$D" "$D/memory-peak.json" 1 &
MEMPID=$!
t=$(date +%s.%N)
bash "$HERE/stack.sh" start || exit 1
echo "== bring-up (incl. setup): $(el "$t") s"
t=$(date +%s.%N)
cd "$ROOT"
if [ $# -gt 0 ]; then
    "$@"
else
    stestr --test-path ./fenix/tests/integration run --concurrency 1
fi
rc=$?
echo "== tests: $(el "$t") s (rc $rc)"
echo "== peak memory (stack + Fenix): $(cat "$D/memory-peak.json" 2>/dev/null)"
if [ -f "$D/upgrade-figures.json" ]; then
    echo "== nova-compute upgrades (test_upgrade): $(tr -d '\n' < "$D/upgrade-figures.json")"
fi
echo "== total so far: $(el "$T0") s"
exit $rc
