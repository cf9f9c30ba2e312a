#!/usr/bin/env bash
# Sweeps simulator seeds A..B with J cairn-sim processes at once, one
# contiguous share of the range each, so a long sweep uses every core.  Each
# run is still one seed in one process on simulated time: splitting the range
# changes nothing about any seed (a seed replays alone, bit for bit).
#
#   scripts/sim-sweep.sh [--sim PATH] [--jobs J] A B [cairn-sim options...]
#
# The options (e.g. --quiet --keep-going or --until-safety) go to every
# process.  Prints each process's output in turn (with --quiet: its summary,
# and the report of any seed that failed); exits 0 only if all passed, else with the first
# failing process's exit status.
set -uo pipefail
cd "$(dirname "$0")/.."

SIM=build/cairn-sim
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 1)}
while [ $# -gt 0 ]; do
    case "$1" in
    --sim) SIM=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    *) break ;;
    esac
done
if [ $# -lt 2 ] || ! [[ "$1" =~ ^[0-9]+$ && "$2" =~ ^[0-9]+$ ]] ||
    [ "$1" -gt "$2" ] || ! [[ "$JOBS" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/sim-sweep.sh [--sim PATH] [--jobs J] A B [options]" >&2
    exit 1
fi
A=$1 B=$2
shift 2
total=$((B - A + 1))
[ "$JOBS" -gt "$total" ] && JOBS=$total
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

start=$(date +%s)
pids=()
lo=$A
for ((j = 0; j < JOBS; j++)); do
    n=$(((total + j) / JOBS)) # shares differ by at most one seed
    hi=$((lo + n - 1))
    "$SIM" --seeds "$lo..$hi" "$@" >"$tmp/$j.out" 2>&1 &
    pids+=($!)
    echo "$lo..$hi" >"$tmp/$j.range"
    lo=$((hi + 1))
done

rc=0
for ((j = 0; j < JOBS; j++)); do
    wait "${pids[$j]}"
    s=$?
    echo "---- seeds $(cat "$tmp/$j.range"): exit $s ----"
    cat "$tmp/$j.out"
    [ "$s" -ne 0 ] && [ "$rc" -eq 0 ] && rc=$s
done
echo "sim-sweep: seeds $A..$B in $JOBS processes, $(($(date +%s) - start)) s wall, exit $rc"
exit "$rc"
