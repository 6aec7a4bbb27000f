#!/usr/bin/env bash
# MUC fan-out figures for docs/benchmarks.md (issue 15, "Performance"): BENCH_OCCUPANTS sessions in one room, one
# sender in a closed loop (tests/bench/mucfanout.py), against this server (tests/harness/server.sh, release build) and
# ejabberd 23.01's mod_muc (Debian `ejabberd`, a private instance with default room settings), one after the other,
# BENCH_RUNS times each, alternating the order. One JSON line per run in $BENCH_WORKDIR/muc.jsonl; note the load.
#
#   tests/bench/mucfanout.sh            # BENCH_SERVERS="actors ejabberd" BENCH_OCCUPANTS=100 BENCH_SECONDS=20 BENCH_RUNS=1
#                                       # BENCH_WORKDIR=.work/bench-muc ACTORS_PORT=21817 EJABBERD_PORT=21917
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/tests/bench/peer-lib.sh" # peer_wait, peer_stop
WORK="$(mkdir -p "${BENCH_WORKDIR:-$ROOT/.work/bench-muc}" && cd "${BENCH_WORKDIR:-$ROOT/.work/bench-muc}" && pwd)"
SERVERS="${BENCH_SERVERS:-actors ejabberd}"
N="${BENCH_OCCUPANTS:-100}"
SECONDS_="${BENCH_SECONDS:-20}"
RUNS="${BENCH_RUNS:-1}"
PY=/usr/bin/python3
TOOL="$ROOT/tests/bench/mucfanout.py"
LOADGEN="${BENCH_LOADGEN:-$(d="$ROOT"; while [ "$d" != / ] && [ ! -f "$d/../shared/bench/loadgen.py" ]; do d="$(dirname "$d")"; done; cd "$d/../shared/bench" && pwd)}"
ACTORS_PORT="${ACTORS_PORT:-21817}"
EJABBERD_PORT="${EJABBERD_PORT:-21917}"
DOMAIN=bench.local
HOST=127.0.0.1
PASS=benchpass

actors() { env XMPP_WORKDIR="$WORK/actors" XMPP_DOMAIN="$DOMAIN" XMPP_PORT="$ACTORS_PORT" XMPP_TLS_REQUIRED=false "$ROOT/tests/harness/server.sh" "$@"; }

ejabberd_config() {
  local w="$WORK/ejabberd"
  mkdir -p "$w/spool" "$w/log"
  peer_cert "$w" "$DOMAIN"
  cat > "$w/ejabberd.yml" <<CFG
hosts:
  - "$DOMAIN"
loglevel: warning
certfiles:
  - "$w/server.pem"
listen:
  -
    port: $EJABBERD_PORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: true
    starttls_required: false
auth_method: internal
registration_timeout: infinity
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  register:
    allow: all
modules:
  mod_roster: {}
  mod_disco: {}
  mod_ping: {}
  mod_register:
    access: register
    ip_access: all
  mod_muc:
    host: "conference.@HOST@"
    access_create: local
CFG
}

ejabberd_start() {
  local w="$WORK/ejabberd"
  ejabberd_config
  local libs; libs="$(peer_ejabberd_libs)"
  (cd "$w" && ERL_LIBS="$libs" EJABBERD_CONFIG_PATH="$w/ejabberd.yml" EJABBERD_LOG_PATH="$w/log/ejabberd.log" \
     exec erl -noinput -noshell +K true +P 1000000 -mnesia dir "\"$w/spool\"" -s ejabberd >>"$w/stdout.log" 2>&1) &
  echo $! > "$w/pid"
  peer_wait 300 "$HOST" "$EJABBERD_PORT" && return 0
  echo "ejabberd did not open $EJABBERD_PORT" >&2; ejabberd_stop; return 1
}

ejabberd_stop() { peer_stop "$WORK/ejabberd/pid" 30; }

measure() { # SERVER PORT PID
  echo "# $(date -u +%H:%M:%S) $1, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  BENCH_LOADGEN="$LOADGEN" "$PY" "$TOOL" --port "$2" --domain "$DOMAIN" --n "$N" --server-pid "$3" --server "$1" \
    --duration "$SECONDS_" --out "$WORK/muc.jsonl"
}

one() {
  case "$1" in
    actors)
      actors start >/dev/null
      [ -f "$WORK/actors/users" ] || { actors bulk-users "$N" u "$PASS" >/dev/null && touch "$WORK/actors/users"; }
      measure actors "$ACTORS_PORT" "$(actors pid)" || true
      actors stop >/dev/null ;;
    ejabberd)
      ejabberd_start || return 0
      [ -f "$WORK/ejabberd/users" ] || {
        BENCH_LOADGEN="$LOADGEN" "$PY" "$LOADGEN/loadgen.py" register --port "$EJABBERD_PORT" --domain "$DOMAIN" --n "$N" \
          --password "$PASS" --retries 3 >/dev/null && touch "$WORK/ejabberd/users"; }
      measure ejabberd "$EJABBERD_PORT" "$(cat "$WORK/ejabberd/pid")" || true
      ejabberd_stop ;;
    *) echo "unknown server $1" >&2; return 2 ;;
  esac
}

for r in $(seq 1 "$RUNS"); do
  order="$SERVERS"
  [ $((r % 2)) = 0 ] && order="$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')"
  for s in $order; do one "$s"; done
done
