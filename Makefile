# Thin wrapper over CMake.  `make run` builds and starts cairn; `make test`
# builds and runs every test.  Both install missing Debian packages first.
#
#   make            build build/cairn-server (release, -O2 -g, asserts on)
#   make run        build, then run a local node on 127.0.0.1
#   make test       unit + integration tests, the same under ASan+UBSan,
#                   a short libFuzzer run per target, coverage summary
#   make fuzz       long libFuzzer runs (FUZZ_SECONDS each, default 600)
#   make sim-long   long simulator sweep (SIM_LONG_SEEDS seeds, default 5000)
#   make bench      benchmarks against Debian's redis-server
#   make clean

SHELL := /bin/bash
JOBS ?= $(shell nproc)
WERROR ?= OFF
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 20
SIM_LONG_SEEDS ?= 5000
CMAKE_FLAGS := -DCAIRN_WERROR=$(WERROR)

.PHONY: all build run test deps unit integration asan fuzz-build fuzz-smoke \
        fuzz coverage bench clean sim-long

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS)

run: build
	@scripts/run.sh

unit: build
	@cd build && ctest --output-on-failure -L unit -j $(JOBS)

integration: build
	@cd build && ctest --output-on-failure -L integration

asan: deps
	@CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -L unit -j $(JOBS)

fuzz-build: deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_FUZZ=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

fuzz-smoke: fuzz-build
	@scripts/fuzz.sh build-fuzz $(FUZZ_SMOKE_SECONDS)

fuzz: fuzz-build
	@scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

coverage: deps
	@cmake -S . -B build-cov -DCMAKE_BUILD_TYPE=Debug -DCAIRN_COVERAGE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-cov -j $(JOBS)
	@scripts/coverage.sh build-cov

test: build
	@WERROR=$(WERROR) JOBS=$(JOBS) FUZZ_SMOKE_SECONDS=$(FUZZ_SMOKE_SECONDS) scripts/test.sh

sim-long: build
	@scripts/sim-sweep.sh --jobs $(JOBS) 1 $(SIM_LONG_SEEDS) --quiet --keep-going

bench: build
	@bench/vs-redis
	@bench/cluster-vs-redis
	@if [ -x build/bench_raft_core ]; then bench/raft-core; fi
	@bench/sim-speed

clean:
	rm -rf build build-asan build-fuzz build-cov
