#!/usr/bin/env bash
# The whole test suite, as `make test` runs it (the release build exists):
#   1. unit and integration tests on the release build (build/)
#   2. the unit tests again under ASan + UBSan (build-asan/, clang)
#   3. a short libFuzzer run of every fuzz target (build-fuzz/, clang)
#   4. unit and integration tests on a gcov build, with an lcov line-coverage
#      summary per source folder (build-cov/)
#   5. the simulator: a smoke sweep of SIM_SEEDS seeds of the real node on
#      simulated time (build/cairn-sim), then the mutant suite
#      (scripts/mutants.sh: each planted bug must be caught)
# Stops at the first failing stage and exits non-zero.  The last line is a
# "N passed, N failed" count of the stages.
set -uo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-$(nproc)}
WERROR=${WERROR:-OFF}
FUZZ_SMOKE_SECONDS=${FUZZ_SMOKE_SECONDS:-20}
SIM_SEEDS=${SIM_SEEDS:-1000}
SIM_MUTANT_SEEDS=${SIM_MUTANT_SEEDS:-400}
passed=0
failed=0

stage() {
    local name=$1
    shift
    local t0=$SECONDS
    echo "=== ${name}"
    if "$@"; then
        passed=$((passed + 1))
        echo "=== ${name}: ok ($((SECONDS - t0)) s)"
    else
        failed=$((failed + 1))
        echo "=== ${name}: FAILED ($((SECONDS - t0)) s)"
        echo "${passed} passed, ${failed} failed"
        exit 1
    fi
}

release_tests() {
    (cd build && ctest --output-on-failure -j "$JOBS" -L unit) &&
    (cd build && ctest --output-on-failure -L integration)
}

asan_tests() {
    CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug \
        -DCAIRN_SANITIZE=ON -DCAIRN_WERROR="$WERROR" >/dev/null &&
    cmake --build build-asan -j "$JOBS" >/dev/null &&
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --output-on-failure -j "$JOBS" -L unit)
}

fuzz_smoke() {
    CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCAIRN_FUZZ=ON -DCAIRN_WERROR="$WERROR" >/dev/null &&
    cmake --build build-fuzz -j "$JOBS" >/dev/null &&
    scripts/fuzz.sh build-fuzz "$FUZZ_SMOKE_SECONDS"
}

coverage() {
    cmake -S . -B build-cov -DCMAKE_BUILD_TYPE=Debug -DCAIRN_COVERAGE=ON \
        -DCAIRN_WERROR="$WERROR" >/dev/null &&
    cmake --build build-cov -j "$JOBS" >/dev/null &&
    find build-cov -name '*.gcda' -delete &&
    (cd build-cov && ctest --output-on-failure -j "$JOBS" -L unit) &&
    (cd build-cov && ctest --output-on-failure -L integration) &&
    scripts/coverage.sh build-cov
}

# ---- simulator stage (sim/, docs/design/sim.md) ----
sim_smoke() {
    scripts/sim-sweep.sh --jobs "$JOBS" 1 "$SIM_SEEDS" --quiet --until-safety &&
    BASE_BUILD=build JOBS="$JOBS" WERROR="$WERROR" \
        scripts/mutants.sh "$SIM_MUTANT_SEEDS"
}
# ---- end of simulator stage ----

stage "unit and integration tests (release build)" release_tests
stage "unit tests under ASan+UBSan" asan_tests
stage "libFuzzer smoke run (${FUZZ_SMOKE_SECONDS} s per target)" fuzz_smoke
stage "coverage" coverage
stage "simulator: ${SIM_SEEDS} seeds, then the mutant suite" sim_smoke
echo "${passed} passed, ${failed} failed"
