#!/usr/bin/env bash
# The simulator's mutant suite: builds cairn-sim once per planted bug
# (-DCAIRN_MUTANT=k, build-mut-<k>/), sweeps seeds 1..MAX with
# `--until-safety` until the simulator reports a safety failure (not
# linearizable, a broken invariant, nondeterminism) or the process dies on an
# ASSERT, and prints seeds-to-detection.  Then the unmutated simulator must
# pass the same seeds (1..the largest seed a mutant needed) with no safety
# failure (liveness or inconclusive outcomes there are listed, not fatal:
# they are open node issues, docs/design/sim.md).
#
#   scripts/mutants.sh [MAX_SEEDS] [k ...]     default: 400 seeds, every mutant
#
# Mutants (src/raft: docs/design/raft.md; 8 is in src/kv/kv.c):
#   1 commit earlier-term entries by counting replicas (Figure 8; the
#     figure8 profile: one-entry stop-and-wait appends, leaders deposed)
#   2 leader counts its own unpersisted append (ack before fsync)
#   3 serve ReadIndex before the term's no-op commits
#   4 accept AppendEntries from a stale term
#   5 lease reads without CheckQuorum (the lease profile: raft-check-quorum
#     no, read-mostly load, partial partitions around the leader; caught by
#     the simulator's lease-safety check)
#   6 keep a conflicting log tail instead of truncating it
#   7 grant votes without the log up-to-date check
#   8 replicas delete expired keys on their own reads
# A mutant listed in EXPECTED_MISS that is not caught is reported, not a
# failure; any other miss fails the script (exit 1).
set -uo pipefail
cd "$(dirname "$0")/.."

MAX=${1:-400}
shift || true
MUTANTS=("$@")
[ ${#MUTANTS[@]} -eq 0 ] && MUTANTS=(1 2 3 4 5 6 7 8)
EXPECTED_MISS=" "
BASE_BUILD=${BASE_BUILD:-build-sim2}
JOBS=${JOBS:-2}
WERROR=${WERROR:-OFF}

declare -A what=(
    [1]="commit earlier-term entries by counting replicas"
    [2]="leader counts its own unpersisted append"
    [3]="ReadIndex before the term's no-op commits"
    [4]="accept AppendEntries from a stale term"
    [5]="lease reads without CheckQuorum"
    [6]="keep a conflicting log tail"
    [7]="votes without the log up-to-date check"
    [8]="replicas expire keys on their own reads"
)

build() { # dir mutant
    cmake -S . -B "$1" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_TESTS=OFF \
        -DCAIRN_MUTANT="$2" -DCAIRN_WERROR="$WERROR" >/dev/null &&
        cmake --build "$1" --target cairn-sim -j "$JOBS" >/dev/null
}

failed=0
worst=1
summary=()
for k in "${MUTANTS[@]}"; do
    dir=build-mut-$k
    if ! build "$dir" "$k"; then
        echo "mutant $k: BUILD FAILED"
        failed=1
        continue
    fi
    t0=$SECONDS
    out=$("$dir/cairn-sim" --seeds "1..$MAX" --quiet --replay-every 0 \
          --until-safety 2>&1)
    rc=$?
    seed=""
    how=""
    if [ $rc -ge 128 ]; then
        seed=$(sed -n 's/.*process crashed during seed \([0-9]*\).*/\1/p' <<<"$out" | head -1)
        how="process crash: $(grep -m1 'assertion failed' <<<"$out" | cut -c1-120)"
    elif grep -q '^DETECTED at seed' <<<"$out"; then
        seed=$(sed -n 's/^DETECTED at seed \([0-9]*\).*/\1/p' <<<"$out")
        how=$(grep 'what broke' <<<"$out" | tail -1 | sed 's/^ *what broke: //' | cut -c1-120)
    fi
    secs=$((SECONDS - t0))
    if [ -n "$seed" ]; then
        line="mutant $k (${what[$k]}): caught at seed $seed ($seed seed(s), ${secs} s): $how"
        [ "$seed" -gt "$worst" ] && worst=$seed
    elif [[ "$EXPECTED_MISS" == *" $k "* ]]; then
        line="mutant $k (${what[$k]}): not caught in $MAX seeds (expected: see header)"
    else
        line="mutant $k (${what[$k]}): NOT CAUGHT in $MAX seeds (${secs} s)"
        failed=1
    fi
    echo "$line"
    summary+=("$line")
done

echo "--- unmutated build must pass seeds 1..$worst"
if ! cmake --build "$BASE_BUILD" --target cairn-sim -j "$JOBS" >/dev/null ||
   ! "$BASE_BUILD/cairn-sim" --seeds "1..$worst" --quiet --replay-every 0 \
       --until-safety 2>/dev/null | grep -E 'FAILED-SEED|seed\(s\)'; then
    echo "the unmutated simulator fails seeds the mutants were judged on"
    failed=1
fi
echo "--- seeds-to-detection"
printf '%s\n' "${summary[@]}"
exit $failed
