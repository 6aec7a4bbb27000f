#!/usr/bin/env bash
# Issue 10's scale-out figure: RSS per idle session on one node against a cluster of NODES nodes holding NODES times
# the sessions (users spread over the nodes' c2s ports). Unlike the shared harness's hold (which reads RSS as soon as the
# CPU is idle, before the server's idle heap trim has run on every node), each size holds its sessions for HOLD seconds
# (default 40) before reading every node's RSS, so that the garbage of the login storm is not counted as session memory.
# Prints one JSON line per size: nodes, sessions, RSS before the storm and after the hold (summed over the nodes), KiB
# per session, server CPU per login.
#
#   tests/bench/cluster-scale.sh [PER_NODE] [NODES]        (defaults 5000 3)
#
# Environment: HOLD (40), BENCH_PYTHON (/usr/bin/python3), XMPP_PORT (29423). Archive off and the journal's refresh at
# the product default, as for the anchors.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PER_NODE="${1:-5000}"; NODES="${2:-3}"; HOLD="${HOLD:-40}"
PY="${BENCH_PYTHON:-/usr/bin/python3}"
LOADGEN="$ROOT/../shared/bench/loadgen.py"
W="$ROOT/.work/bench-cluster-scale"
SERVER="$ROOT/tests/harness/server.sh"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
export XMPP_TLS_REQUIRED=false XMPP_HOST=127.0.0.1 XMPP_DOMAIN=localhost XMPP_PORT="${XMPP_PORT:-29423}"
export XMPP_EXTRA_ARGS="--Xmpp:Mam:Default=never --Xmpp:Persistence:RefreshInterval=00:00:00.5"
trap '"$SERVER" stop >/dev/null 2>&1 || true' EXIT

for nodes in 1 "$NODES"; do
  n=$((PER_NODE * nodes))
  rm -rf "$W"; export XMPP_WORKDIR="$W"
  if [ "$nodes" -gt 1 ]; then export XMPP_NODES="$nodes"; else unset XMPP_NODES; fi
  "$SERVER" start >/dev/null
  "$SERVER" bulk-users "$n" sc pw >/dev/null
  ports="$("$SERVER" info | sed -n 's/^C2S_PORTS=//p')"; ports="${ports:-$XMPP_PORT}"
  pids="$("$SERVER" pid | paste -sd, -)"
  "$PY" "$LOADGEN" run --host 127.0.0.1 --port "${ports%%,*}" --ports "$ports" --domain localhost --prefix sc --password pw \
    --n "$n" --mech SCRAM-SHA-1 --concurrency 200 --server-pids "$pids" --chat-pairs 0 --hold "$HOLD" --idle-pct 0 \
    --scram-cache "$ROOT/.work/bench-cluster-scale-scram.json" | tail -n 1 | "$PY" -c "
import json, sys
d = json.loads(sys.stdin.read())
before, after = d['rss_kib_start'], d['rss_kib_after_hold']
print(json.dumps({'nodes': $nodes, 'sessions': d['hold']['online'], 'rss_before_kib': before, 'rss_after_hold_kib': after,
                  'kib_per_session': round((after - before) / max(1, d['hold']['online']), 2),
                  'cpu_ms_per_login': d['storm'].get('server_cpu_ms_per_login'), 'logins_per_s': d['storm']['logins_per_s']}))"
  "$SERVER" stop >/dev/null
done
