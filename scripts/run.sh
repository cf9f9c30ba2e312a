#!/usr/bin/env bash
# `make run`: a three-node cairn cluster on 127.0.0.1 ports 7001, 7002 and
# 7003 (peer ports 17001-17003), in the foreground.  Ctrl-C stops all three.
#
# Each node logs to build/run/node-N.log.  The cluster secret is drawn fresh
# for every run.  Environment: DURABILITY (memory or fsync, default memory),
# NODES (default 3), BASE_PORT (default 7001).
set -euo pipefail
cd "$(dirname "$0")/.."

NODES=${NODES:-3}
BASE_PORT=${BASE_PORT:-7001}
DURABILITY=${DURABILITY:-memory}
rundir=build/run
mkdir -p "$rundir"
secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

peers=""
for i in $(seq 1 "$NODES"); do
    peers+="${peers:+,}$i@127.0.0.1:$((BASE_PORT + i - 1))"
done

pids=()
stop_all() {
    trap - INT TERM EXIT
    echo
    echo "cairn: stopping the cluster"
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

for i in $(seq 1 "$NODES"); do
    port=$((BASE_PORT + i - 1))
    mkdir -p "$rundir/node-$i"
    build/cairn-server --port "$port" --node-id "$i" --cluster-peers "$peers" \
        --cluster-secret "$secret" --durability "$DURABILITY" \
        --dir "$rundir/node-$i" --logfile "$rundir/node-$i.log" "$@" &
    pids+=($!)
done

# Wait (bounded: 10 s) until every node answers and a leader is elected.
leader=""
for _ in $(seq 1 100); do
    leader=$(redis-cli -p "$BASE_PORT" cluster nodes 2>/dev/null |
        awk '/master/ { split($2, a, "@"); print a[1]; exit }')
    [ -n "$leader" ] && break
    sleep 0.1
done

cat <<MSG
cairn: ${NODES}-node cluster on 127.0.0.1 ports ${BASE_PORT}-$((BASE_PORT + NODES - 1)) (durability ${DURABILITY})
cairn: leader ${leader:-not elected yet}; logs in ${rundir}/
cairn: any node serves any client:
         redis-cli -p ${BASE_PORT} set greeting hello
         redis-cli -p $((BASE_PORT + 1)) get greeting
         redis-cli -p ${BASE_PORT} cluster nodes
         redis-benchmark -p ${BASE_PORT} -t set,get -q
cairn: Ctrl-C stops all nodes
MSG

# Stay in the foreground until Ctrl-C or until a node exits by itself.
set +e
wait -n "${pids[@]}"
status=$?
echo "cairn: a node exited (status ${status}); see ${rundir}/*.log"
exit "$status"
