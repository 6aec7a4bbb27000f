#!/usr/bin/env bash
# TURN relay throughput and CPU per packet: the built-in server (plugin turn, started by tests/harness/server.sh) and
# coturn's turnserver, one after the other in one run, both loaded by coturn's turnutils_uclient in client-to-client
# mode (-y: each client's peer is another client's relayed address, so every message crosses the relay twice: client
# -> server -> relay socket -> server -> client), over UDP with channels.
#
#   tests/Actors.Benchmarks/Turn/turn-bench.sh [CLIENTS] [MESSAGES] [LENGTH] [INTERVAL_MS]   (default 6 4000 100 1)
#   TURN_BENCH_FLAGS=-T tests/Actors.Benchmarks/Turn/turn-bench.sh ...   RFC 6062 TCP relays instead (uclient -T: TCP
#                                                                        control and data connections, TCP peers)
#
# uclient uses one user for all its clients, and -y makes about 1.5 allocations per client: 6 clients (9 allocations)
# stay within the harness's per-user quota of 10.
#
# Prints, per server: messages sent and received, wall seconds, relayed messages/s and server CPU ms per relayed
# message (user+system ticks of the server process from /proc, before and after the run, once the process is idle after
# its start). Needs: coturn (Debian
# package: the turnserver daemon and turnutils_uclient), dotnet. State under /tmp/turn-bench.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
CLIENTS="${1:-6}"
MESSAGES="${2:-4000}"
LENGTH="${3:-100}"
INTERVAL="${4:-1}"
SECRET=bench-secret
WORK=/tmp/turn-bench
XMPP_PORT_BENCH="${TURN_BENCH_XMPP_PORT:-47322}"
OURS_PORT=$((XMPP_PORT_BENCH - 1744))
COTURN_PORT="${TURN_BENCH_COTURN_PORT:-45590}"
TICK=$(getconf CLK_TCK)
mkdir -p "$WORK"

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# wait until process $1 is idle (at most 1 tick in a second, up to 30 s): the server's start-up (JIT, plugin loading)
# is not charged to the relay
settle() {
  local last now
  last=$(ticks "$1")
  for _ in $(seq 1 30); do
    sleep 1
    now=$(ticks "$1")
    [ $((now - last)) -le 1 ] && return 0
    last=$now
  done
}

# one uclient load against 127.0.0.1:$1, measuring process $2; prints one result line labelled $3
load() {
  local port="$1" pid="$2" label="$3" before after start end out
  before=$(ticks "$pid")
  start=$(date +%s.%N)
  # shellcheck disable=SC2086 # the flags are words
  out=$(turnutils_uclient ${TURN_BENCH_FLAGS:-} -y -c -m "$CLIENTS" -n "$MESSAGES" -l "$LENGTH" -z "$INTERVAL" -p "$port" -L 127.0.0.1 \
        -u bench@localhost -W "$SECRET" -e 127.0.0.1 127.0.0.1 2>&1) || true
  end=$(date +%s.%N)
  after=$(ticks "$pid")
  echo "$out" > "$WORK/$label.uclient.log"
  local sent recv lost
  sent=$(echo "$out" | sed -n 's/.*start_mclient: tot_send_msgs=\([0-9]*\), tot_recv_msgs=\([0-9]*\).*/\1/p' | tail -1)
  recv=$(echo "$out" | sed -n 's/.*start_mclient: tot_send_msgs=\([0-9]*\), tot_recv_msgs=\([0-9]*\).*/\2/p' | tail -1)
  lost=$(echo "$out" | sed -n 's/.*Total lost packets \([0-9]*\) .*/\1/p' | tail -1)
  awk -v l="$label" -v s="$sent" -v r="$recv" -v lost="$lost" -v t0="$start" -v t1="$end" -v c0="$before" -v c1="$after" -v hz="$TICK" 'BEGIN {
    wall = t1 - t0; cpu = (c1 - c0) / hz;
    printf "%-8s sent %7d received %7d lost %5s  wall %6.2f s  relayed %8.0f msg/s  server CPU %6.2f s  %.4f ms CPU per relayed message\n",
      l, s, r, lost, wall, r / wall, cpu, (r > 0 ? cpu * 1000 / r : 0) }'
}

echo "uclient ${TURN_BENCH_FLAGS:-}: $CLIENTS clients x $MESSAGES messages of $LENGTH bytes, every $INTERVAL ms; load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- ours (release build, harness configuration: TURN on with loopback peers)
export XMPP_WORKDIR="$WORK/harness" XMPP_PORT="$XMPP_PORT_BENCH" XMPP_TLS_REQUIRED=false XMPP_TURN_SECRET="$SECRET"
"$ROOT/tests/harness/server.sh" stop >/dev/null 2>&1 || true # a fresh server: no allocations left from an earlier run
"$ROOT/tests/harness/server.sh" start >/dev/null
OURS_PID=$("$ROOT/tests/harness/server.sh" pid)
settle "$OURS_PID"
load "$OURS_PORT" "$OURS_PID" actors
"$ROOT/tests/harness/server.sh" stop >/dev/null

# ---- coturn (the same credentials scheme and loopback peers)
turnserver -n --listening-ip=127.0.0.1 --listening-port="$COTURN_PORT" --relay-ip=127.0.0.1 --realm=localhost \
  --use-auth-secret --static-auth-secret="$SECRET" --allow-loopback-peers --no-tls --no-dtls --no-cli \
  --log-file="$WORK/coturn.log" --simple-log --pidfile="$WORK/coturn.pid" >/dev/null 2>&1 &
COTURN_PID=$!
trap 'kill "$COTURN_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$COTURN_PORT") 2>/dev/null && break; sleep 0.2; done
settle "$COTURN_PID"
load "$COTURN_PORT" "$COTURN_PID" coturn
kill "$COTURN_PID"; wait "$COTURN_PID" 2>/dev/null || true
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
