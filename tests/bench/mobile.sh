#!/usr/bin/env bash
# Issue 13's figures for docs/benchmarks.md ("Performance"), this server and ejabberd in one run, all on loopback:
#   1. RSS per idle WebSocket (RFC 7395) and per idle BOSH (XEP-0206) session: Actors.Benchmarks idle-web, BENCH_N
#      sessions, a fresh server process for each;
#   2. server CPU per chat message with archiving on and off: ../shared/bench/loadgen.py (BENCH_PAIRS pairs, closed
#      loop, BENCH_CHAT_SECONDS), this server with Xmpp:Mam:Default always vs never, ejabberd with and without mod_mam;
#   3. XEP-0198 resumption of BENCH_N sessions at once: Actors.Benchmarks resume (connections reset, then all resumed
#      together; time to all resumed, latency, server CPU per resumption).
# (The MAM page query on a 100,000-message archive is `Actors.Benchmarks archive-page 100000 1000`, the table alone.)
# Every figure is printed with the load average before it.
#
#   tests/bench/mobile.sh   # BENCH_N=1000 BENCH_PAIRS=100 BENCH_CHAT_SECONDS=10 BENCH_WORKDIR=.work/bench-mobile
#                           # ACTORS_PORT=46231 (HTTP on +58) EJABBERD_PORT=46431 (HTTP on +1) SHARED_BENCH=../shared/bench
# Needs Debian's ejabberd (the BEAM is run directly with a private config, as ../shared/bench/servers/ejabberd.sh does).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/tests/bench/peer-lib.sh" # peer_wait, peer_stop
WORK="${BENCH_WORKDIR:-$ROOT/.work/bench-mobile}"
N="${BENCH_N:-1000}"
PAIRS="${BENCH_PAIRS:-100}"
CHAT_SECONDS="${BENCH_CHAT_SECONDS:-10}"
SHARED_BENCH="${SHARED_BENCH:-$ROOT/../shared/bench}"
[ -f "$SHARED_BENCH/loadgen.py" ] || SHARED_BENCH=/work/shared/bench
PY=/usr/bin/python3
ACTORS_PORT="${ACTORS_PORT:-46231}"
ACTORS_HTTP_PORT="$((ACTORS_PORT + 58))"
EJABBERD_PORT="${EJABBERD_PORT:-46431}"
EJABBERD_HTTP_PORT="$((EJABBERD_PORT + 1))"
HOST=127.0.0.1
DOMAIN=localhost
PASSWORD=benchpass
ONLY="${BENCH_ONLY:-idle chat resume}"

BENCH="$ROOT/tests/Actors.Benchmarks/bin/Release/net10.0/Actors.Benchmarks"

actors() { env XMPP_WORKDIR="$WORK/actors" XMPP_PORT="$ACTORS_PORT" XMPP_TLS_REQUIRED=false "$ROOT/tests/harness/server.sh" "$@"; }

# ejabberd with WebSocket and BOSH on one HTTP listener, stream management, and mod_mam when $1 = mam
ejabberd_start() {
  local w="$WORK/ejabberd" mam=""
  mkdir -p "$w/spool" "$w/log"
  export ERL_LIBS; ERL_LIBS="$(peer_ejabberd_libs)"
  [ "${1:-}" = mam ] && mam=$'  mod_mam:\n    default: always\n    db_type: mnesia'
  cat > "$w/ejabberd.yml" <<CFG
hosts:
  - "$DOMAIN"
loglevel: warning
listen:
  -
    port: $EJABBERD_PORT
    ip: "$HOST"
    module: ejabberd_c2s
    starttls_required: false
    max_stanza_size: 262144
    backlog: 4096
  -
    port: $EJABBERD_HTTP_PORT
    ip: "$HOST"
    module: ejabberd_http
    request_handlers:
      /ws: ejabberd_http_ws
      /bosh: mod_bosh
auth_method: internal
auth_password_format: scram
registration_timeout: infinity
cache_size: 100000
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
  mod_bosh: {}
  mod_stream_mgmt:
    resume_timeout: 300
  mod_register:
    access: register
    ip_access: all
$mam
CFG
  (
    ulimit -n "$(ulimit -Hn)"
    cd "$w"
    export EJABBERD_CONFIG_PATH="$w/ejabberd.yml" EJABBERD_LOG_PATH="$w/log/ejabberd.log" ERL_CRASH_DUMP="$w/log/erl_crash.dump" ERL_CRASH_DUMP_BYTES=0
    unset EJABBERD_PID_PATH
    exec setsid erl -noinput -noshell +K true +P 1000000 +Q 300000 -mnesia dir "\"$w/spool\"" -s ejabberd >>"$w/stdout.log" 2>&1 < /dev/null
  ) &
  echo $! > "$w/runner.pid"
  peer_wait 120 "$HOST" "$EJABBERD_PORT" "$EJABBERD_HTTP_PORT" && return 0
  echo "mobile.sh: ejabberd did not start; see $w" >&2
  return 1
}

ejabberd_stop() { peer_stop "$WORK/ejabberd/runner.pid" 15; }

ejabberd_users() {
  [ -f "$WORK/ejabberd/users" ] && return 0
  "$PY" "$SHARED_BENCH/loadgen.py" register --host "$HOST" --port "$EJABBERD_PORT" --domain "$DOMAIN" --n "$N" --prefix u \
    --password "$PASSWORD" --concurrency 50 >/dev/null
  touch "$WORK/ejabberd/users"
}

actors_users() {
  [ -f "$WORK/actors-users" ] && return 0
  actors bulk-users "$N" u "$PASSWORD" >/dev/null
  touch "$WORK/actors-users"
}

load() { echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"; }

cleanup() { actors stop >/dev/null 2>&1 || true; ejabberd_stop; }
trap cleanup EXIT

mkdir -p "$WORK"
ulimit -n "$(ulimit -Hn)"
dotnet build -c Release "$ROOT/tests/Actors.Benchmarks/Actors.Benchmarks.csproj" -nologo -v quiet >/dev/null
echo "cores: $(nproc), N=$N, pairs=$PAIRS, chat ${CHAT_SECONDS}s"

chat() { # label port pid
  "$PY" "$SHARED_BENCH/loadgen.py" run --host "$HOST" --port "$2" --domain "$DOMAIN" --n "$((PAIRS * 2))" --prefix u \
    --password "$PASSWORD" --concurrency 50 --hold 0 --chat-pairs "$PAIRS" --chat-duration "$CHAT_SECONDS" \
    --server-pid "$3" --label "$1" --server "$1" \
    | "$PY" -c 'import json,sys; r=json.loads(sys.stdin.readline()); c=r.get("chat",[{}])[0]; print(r.get("label"), "chat: %s us server CPU per message, %s msgs/s delivered, lost or pending %s%s" % (c.get("server_cpu_us_per_msg"), c.get("delivered_per_s"), c.get("lost_or_pending_after_drain"), (" FATAL " + r["fatal"]) if "fatal" in r else ""))'
}

for what in $ONLY; do
  case "$what" in
    idle)
      for transport in ws bosh; do
        actors start >/dev/null; actors_users
        url="ws://$HOST:$ACTORS_HTTP_PORT/ws"; [ "$transport" = bosh ] && url="http://$HOST:$ACTORS_HTTP_PORT/bosh"
        load; echo -n "actors $transport: "
        "$BENCH" idle-web --transport "$transport" --url "$url" --pid "$(actors pid)" --n "$N" --domain "$DOMAIN" --password "$PASSWORD" | tail -1
        actors stop >/dev/null

        ejabberd_start; ejabberd_users
        url="ws://$HOST:$EJABBERD_HTTP_PORT/ws"; [ "$transport" = bosh ] && url="http://$HOST:$EJABBERD_HTTP_PORT/bosh"
        load; echo -n "ejabberd $transport: "
        "$BENCH" idle-web --transport "$transport" --url "$url" --pid "$(cat "$WORK/ejabberd/runner.pid")" --n "$N" --domain "$DOMAIN" --password "$PASSWORD" | tail -1
        ejabberd_stop
      done
      ;;
    chat)
      for mode in always never; do
        Xmpp__Mam__Default="$mode" actors start >/dev/null; actors_users
        load; chat "actors-archiving-$mode" "$ACTORS_PORT" "$(actors pid)"
        actors stop >/dev/null
      done
      for mam in mam none; do
        ejabberd_start "$mam"; ejabberd_users
        load; chat "ejabberd-mod_mam-$mam" "$EJABBERD_PORT" "$(cat "$WORK/ejabberd/runner.pid")"
        ejabberd_stop
      done
      ;;
    resume)
      actors start >/dev/null; actors_users
      load; echo -n "actors resume: "
      "$BENCH" resume --host "$HOST" --port "$ACTORS_PORT" --pid "$(actors pid)" --n "$N" --domain "$DOMAIN" --password "$PASSWORD" | tail -1
      actors stop >/dev/null
      ejabberd_start; ejabberd_users
      load; echo -n "ejabberd resume: "
      "$BENCH" resume --host "$HOST" --port "$EJABBERD_PORT" --pid "$(cat "$WORK/ejabberd/runner.pid")" --n "$N" --domain "$DOMAIN" --password "$PASSWORD" | tail -1
      ejabberd_stop
      ;;
  esac
done
