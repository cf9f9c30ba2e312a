#!/usr/bin/env bash
# Runs every libFuzzer target in a fuzz build for a fixed time each.
#   scripts/fuzz.sh BUILD_DIR SECONDS
# Each target starts from its seed corpus in fuzz/corpus/<name>/ (copied to a
# scratch directory, so the committed corpus only changes by hand).  A crash
# leaves its input in fuzz/crashes/ and fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${1:?build dir}
secs=${2:?seconds}

shopt -s nullglob
targets=("$dir"/fuzz_*)
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz: no targets in $dir" >&2
    exit 1
fi
mkdir -p fuzz/crashes
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for t in "${targets[@]}"; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    name=${name#fuzz_}
    work="$scratch/$name"
    mkdir -p "$work"
    if [ -d "fuzz/corpus/$name" ]; then
        cp -r "fuzz/corpus/$name/." "$work/"
    fi
    if "$t" "$work" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="fuzz/crashes/${name}-" -print_final_stats=1 \
        >"$scratch/$name.log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$scratch/$name.log" | grep -o '[0-9]*$')
        echo "fuzz: $name ok (${runs:-?} inputs in ${secs} s)"
    else
        echo "fuzz: $name FAILED; last lines:"
        tail -n 40 "$scratch/$name.log"
        status=1
    fi
done
exit $status
