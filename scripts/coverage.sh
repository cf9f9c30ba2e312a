#!/usr/bin/env bash
# Prints line coverage per source folder (src/core, src/resp, ...) from a
# gcov build after its tests ran.   scripts/coverage.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?build dir}
info="$dir/coverage.info"
lcov --quiet --capture --directory "$dir" --output-file "$info.all" \
    --rc lcov_branch_coverage=0 2>/dev/null
lcov --quiet --extract "$info.all" "$PWD/src/*" "$PWD/sim/*" \
    --output-file "$info" 2>/dev/null
# Sum LF (lines found) and LH (lines hit) per folder from the tracefile.
awk -v top="$PWD/" '
    /^SF:/ { f = substr($0, 4); sub(top, "", f); n = split(f, p, "/");
             d = p[1]; for (i = 2; i < n; i++) d = d "/" p[i]; next }
    /^LF:/ { lf[d] += substr($0, 4); tf += substr($0, 4); next }
    /^LH:/ { lh[d] += substr($0, 4); th += substr($0, 4); next }
    END {
        printf "%-16s %8s %8s %7s\n", "folder", "lines", "hit", "cover"
        for (d in lf) printf "%-16s %8d %8d %6.1f%%\n", d, lf[d], lh[d], lf[d] ? 100 * lh[d] / lf[d] : 0
        printf "%-16s %8d %8d %6.1f%%\n", "total", tf, th, tf ? 100 * th / tf : 0
    }' "$info" | { read -r header; echo "$header"; sort; }
