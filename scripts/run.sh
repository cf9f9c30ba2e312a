#!/usr/bin/env bash
# `make run`: one cairn node on 127.0.0.1:6379 in the foreground.
# Ctrl-C (SIGINT) shuts it down cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-6379}
cat <<MSG
cairn: starting one node on 127.0.0.1:${PORT} (Ctrl-C stops it)
cairn: connect with   redis-cli -p ${PORT}
cairn: benchmark with redis-benchmark -p ${PORT} -t set,get -q
MSG
exec build/cairn-server --port "$PORT" "$@"
