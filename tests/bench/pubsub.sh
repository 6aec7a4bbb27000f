#!/usr/bin/env bash
# PubSub figures for docs/benchmarks.md (issue 11, "Fan-out"), this server beside ejabberd 23.01 and Prosody 0.12
# (Debian packages), each started in turn through the shared harness's adapters (../shared/bench/servers/<s>.sh:
# private instances on loopback with pubsub.<domain>; their provisioned users are reused). One JSON line per server
# and run in $BENCH_WORKDIR/pubsub.jsonl.
#
#   tests/bench/pubsub.sh fanout   # tests/bench/pubsubfanout.py: BENCH_SUBS subscribers (1000), closed-loop publishes,
#                                  # CPU per notification over the window; BENCH_ONCE=1: one publish, time to the last
#   tests/bench/pubsub.sh nodes    # tests/bench/pubsubnodes.py: BENCH_NODES nodes (100000) with one item each, made by
#                                  # BENCH_OWNERS accounts (100; on ejabberd and Prosody u0 alone), RSS per node after the
#                                  # creates and after BENCH_REST seconds (60)
#   BENCH_SERVERS="actors ejabberd prosody" BENCH_RUNS=1 (order reversed every other run)
#   BENCH_WORKDIR=/tmp/xmppbench (the shared harness's), BENCH_PYTHON=/usr/bin/python3
# For `nodes`, ejabberd and Prosody get one owner: Prosody lets only its admin (u0) create nodes, and ejabberd's
# mod_pubsub answered creates from 100 accounts at once with wait-type internal-server-errors (92 % of them). This
# server's idle nodes leave memory after Xmpp:PubSub:IdleSeconds=BENCH_IDLE (30), before the rested
# reading.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH="${BENCH_HOME:-$(d="$ROOT"; while [ "$d" != / ] && [ ! -f "$d/../shared/bench/loadgen.py" ]; do d="$(dirname "$d")"; done; cd "$d/../shared/bench" && pwd)}"
export BENCH_WORKDIR="${BENCH_WORKDIR:-${TMPDIR:-/tmp}/xmppbench}"
export ACTORS_HARNESS="$ROOT/tests/harness/server.sh"
MODE="${1:-}"
SERVERS="${BENCH_SERVERS:-actors ejabberd prosody}"
RUNS="${BENCH_RUNS:-1}"
PY="${BENCH_PYTHON:-/usr/bin/python3}"
PASS="${BENCH_PASSWORD:-benchpass}"
OUT="$BENCH_WORKDIR/pubsub.jsonl"
case "$MODE" in
  fanout) USERS=$(( ${BENCH_SUBS:-1000} + 1 ))
          TOOL=("$ROOT/tests/bench/pubsubfanout.py" --n "$USERS" --duration "${BENCH_SECONDS:-10}" ${BENCH_ONCE:+--once}) ;;
  nodes)  USERS="${BENCH_OWNERS:-100}"
          TOOL=("$ROOT/tests/bench/pubsubnodes.py" --nodes "${BENCH_NODES:-100000}" --rest "${BENCH_REST:-60}")
          export Xmpp__PubSub__IdleSeconds="${BENCH_IDLE:-30}" ;;
  *) echo "usage: $0 fanout|nodes" >&2; exit 2 ;;
esac
mkdir -p "$BENCH_WORKDIR"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

started=""
trap 'for s in $started; do "$BENCH/servers/$s.sh" stop || true; done' EXIT
trap 'exit 130' INT TERM
for r in $(seq 1 "$RUNS"); do
  order="$SERVERS"; [ $((r % 2)) -eq 0 ] && order="$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')"
  for s in $order; do
    "$BENCH/servers/$s.sh" start; started="$s"
    have="$(cat "$BENCH_WORKDIR/users_$s" 2>/dev/null || echo 0)"
    if [ "$have" -lt "$USERS" ]; then
      "$BENCH/servers/$s.sh" bulk-users $((USERS - have)) u "$PASS" "$have"; echo "$USERS" > "$BENCH_WORKDIR/users_$s"
    fi
    read -r host port domain _ < <("$BENCH/servers/$s.sh" info)
    echo "# $s run $r: load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    owners=(); [ "$MODE" = nodes ] && owners=(--owners "$(case "$s" in actors*) echo "$USERS" ;; *) echo 1 ;; esac)")
    "$PY" "${TOOL[@]}" "${owners[@]}" --host "$host" --port "$port" --domain "$domain" --password "$PASS" --server "$s" \
       --server-pid "$("$BENCH/servers/$s.sh" pid | head -1)" --out "$OUT" || true
    "$BENCH/servers/$s.sh" stop; started=""
  done
done
echo "results: $OUT" >&2
