#!/usr/bin/env bash
# Issue 17's hostile scenarios (tests/bench/hostile.py: flood, unauth, register, guess, slowloris) against this server,
# Prosody and ejabberd in one run, one server at a time, on loopback. Each server runs with its own protections as
# shipped, not a load test's tuning:
#   actors   the defaults, with XMPP_LOOPBACK_LIMITS=true (the per-address caps apply to loopback clients: every
#            attacker here is one) and in-band registration on (off by default)
#   prosody  Debian's default protections: mod_limits with its packaged c2s rate (10kb/s), its defaults otherwise;
#            allow_registration = true
#   ejabberd Debian's default protections: shaper normal (3000 B/s, burst 20000) on c2s, max_user_sessions 10,
#            mod_fail2ban, mod_register with its default registration_timeout (600 s per address)
# Message archiving (XEP-0313), which this server does by default and the anchors' configurations here do not:
# BENCH_ARCHIVE=default (as above), off (this server's archive off too: --Xmpp:Mam:Default=never, the same work as the
# anchors') or all (ejabberd's mod_mam and Prosody's mod_mam on too, archiving every message: Prosody's in its internal
# storage, ejabberd's in SQLite, which needs Debian's erlang-p1-sqlite3 and sqlite3).
# All three without TLS (plain SASL on loopback), so that the attackers' cost is the same everywhere. The 60 accounts
# the scenarios use are registered in-band, each from a loopback address of its own (127.0.1.N), so that no server's
# registration throttle stands in the way of provisioning.
#
#   tests/bench/hostile.sh   # BENCH_SERVERS="actors prosody ejabberd" BENCH_ONLY="flood unauth register guess slowloris"
#                            # BENCH_WORKDIR=.work/bench-hostile ACTORS_PORT=46631 PROSODY_PORT=46731 EJABBERD_PORT=46831
#                            # BENCH_ARCHIVE=default|off|all
# Results: one JSON line per server and scenario in $BENCH_WORKDIR/hostile.jsonl (and on stdout).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/tests/bench/peer-lib.sh" # peer_wait, peer_stop, peer_cert, peer_ejabberd_libs
WORK="${BENCH_WORKDIR:-$ROOT/.work/bench-hostile}"
SERVERS="${BENCH_SERVERS:-actors prosody ejabberd}"
ONLY="${BENCH_ONLY:-flood unauth register guess slowloris}"
SHARED_BENCH="${SHARED_BENCH:-$ROOT/../shared/bench}"
[ -f "$SHARED_BENCH/loadgen.py" ] || SHARED_BENCH=/work/shared/bench
PY=/usr/bin/python3
ACTORS_PORT="${ACTORS_PORT:-46631}"
PROSODY_PORT="${PROSODY_PORT:-46731}"
EJABBERD_PORT="${EJABBERD_PORT:-46831}"
HOST=127.0.0.1
DOMAIN=localhost
PASSWORD=benchpass
PREFIX=h
USERS=60
OUT="$WORK/hostile.jsonl"
ARCHIVE="${BENCH_ARCHIVE:-default}"
case "$ARCHIVE" in default|off|all) ;; *) echo "hostile.sh: BENCH_ARCHIVE is default, off or all" >&2; exit 2 ;; esac
ACTORS_ARCHIVE_ARGS=""; PROSODY_MAM=""; EJABBERD_MAM=""
[ "$ARCHIVE" = off ] && ACTORS_ARCHIVE_ARGS="--Xmpp:Mam:Default=never"
if [ "$ARCHIVE" = all ]; then
  PROSODY_MAM=', "mam"'
  # ejabberd's SQL archive on SQLite (its mnesia backend is "not recommended" in its own log): Debian's
  # erlang-p1-sqlite3, the schema from the package's lite.sql
  EJABBERD_MAM='  mod_mam:
    db_type: sql
    default: always'
fi
mkdir -p "$WORK"

actors() { env XMPP_WORKDIR="$WORK/actors" XMPP_PORT="$ACTORS_PORT" XMPP_TLS_REQUIRED=false XMPP_REGISTRATION=true \
             XMPP_LOOPBACK_LIMITS=true XMPP_EXTRA_ARGS="$ACTORS_ARCHIVE_ARGS" "$ROOT/tests/harness/server.sh" "$@"; }

prosody_start() {
  local w="$WORK/prosody"
  rm -rf "$w"; mkdir -p "$w/data"; peer_cert "$w" "$DOMAIN"
  cat > "$w/prosody.cfg.lua" <<CFG
-- tests/bench/hostile.sh: Debian's default protections (mod_limits, its packaged rates), registration allowed
daemonize = false
run_as_root = true
data_path = "$w/data"
interfaces = { "127.0.0.1" }
c2s_ports = { $PROSODY_PORT }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
c2s_direct_tls_ports = { }
log = { warn = "$w/prosody.log", error = "$w/prosody.log" }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "register", "limits"$PROSODY_MAM }
default_archive_policy = true -- (mod_mam, when BENCH_ARCHIVE=all loads it: every message archived)
modules_disabled = { "s2s" }
limits = { c2s = { rate = "10kb/s"; }; s2sin = { rate = "30kb/s"; }; }
authentication = "internal_hashed"
storage = "internal"
allow_registration = true
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
ssl = { certificate = "$w/server.crt", key = "$w/server.key" }
VirtualHost "$DOMAIN"
CFG
  ( ulimit -n "$(ulimit -Hn)"; exec prosody -F --config "$w/prosody.cfg.lua" >>"$w/stdout.log" 2>&1 ) &
  echo $! > "$w/pid"
  peer_wait 30 "$HOST" "$PROSODY_PORT" || { tail -20 "$w/stdout.log" "$w/prosody.log" >&2; return 1; }
}

ejabberd_start() {
  local w="$WORK/ejabberd"
  rm -rf "$w"; mkdir -p "$w/spool" "$w/log"; peer_cert "$w" "$DOMAIN"
  local sql=""
  if [ -n "$EJABBERD_MAM" ]; then
    sqlite3 "$w/ejabberd.db" < "${EJABBERD_SQLITE_SCHEMA:-/usr/share/ejabberd/sql/lite.sql}"
    sql="sql_type: sqlite
sql_database: \"$w/ejabberd.db\""
  fi
  cat > "$w/ejabberd.yml" <<CFG
# tests/bench/hostile.sh: Debian's default protections (shapers, max_user_sessions, mod_fail2ban), registration allowed
$sql
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
    max_stanza_size: 262144
    shaper: c2s_shaper
    access: c2s
    starttls: true
    starttls_required: false
auth_method: internal
auth_password_format: scram
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
shaper:
  normal:
    rate: 3000
    burst_size: 20000
  fast: 200000
shaper_rules:
  max_user_sessions: 10
  c2s_shaper:
    normal: all
  s2s_shaper: fast
modules:
  mod_roster: {}
  mod_disco: {}
  mod_ping: {}
  mod_fail2ban: {}
  mod_register:
    access: register
$EJABBERD_MAM
CFG
  export ERL_LIBS; ERL_LIBS="$(peer_ejabberd_libs)"
  (
    ulimit -n "$(ulimit -Hn)"
    cd "$w"
    export EJABBERD_CONFIG_PATH="$w/ejabberd.yml" EJABBERD_LOG_PATH="$w/log/ejabberd.log" ERL_CRASH_DUMP="$w/log/erl_crash.dump" ERL_CRASH_DUMP_BYTES=0
    unset EJABBERD_PID_PATH
    exec erl -noinput -noshell +K true +P 1000000 +Q 300000 -mnesia dir "\"$w/spool\"" -s ejabberd >>"$w/stdout.log" 2>&1
  ) &
  echo $! > "$w/pid"
  peer_wait 90 "$HOST" "$EJABBERD_PORT" || { tail -20 "$w/stdout.log" "$w/log/ejabberd.log" >&2; return 1; }
}

port_of() { case "$1" in actors) echo "$ACTORS_PORT";; prosody) echo "$PROSODY_PORT";; ejabberd) echo "$EJABBERD_PORT";; esac; }

start() {
  case "$1" in
    actors) actors stop >/dev/null 2>&1 || true; rm -rf "$WORK/actors"; actors start >/dev/null ;;
    prosody) prosody_start ;;
    ejabberd) ejabberd_start ;;
  esac
}

stop() {
  case "$1" in
    actors) actors stop >/dev/null 2>&1 || true ;;
    *) peer_stop "$WORK/$1/pid" 30 ;;
  esac
}

pid_of() { case "$1" in actors) actors pid | head -1;; *) cat "$WORK/$1/pid";; esac; }

sources="$(seq -s, -f '127.0.1.%g' 1 "$USERS")"
trap 'for s in $SERVERS; do stop "$s"; done' EXIT
for server in $SERVERS; do
  echo "== $server"
  start "$server"
  port="$(port_of "$server")"
  "$PY" "$SHARED_BENCH/loadgen.py" register --host "$HOST" --port "$port" --domain "$DOMAIN" --n "$USERS" --prefix "$PREFIX" \
    --password "$PASSWORD" --concurrency 10 --src-ips "$sources" --timeout 20
  BENCH_LOADGEN="$SHARED_BENCH" "$PY" "$ROOT/tests/bench/hostile.py" --host "$HOST" --port "$port" --domain "$DOMAIN" \
    --prefix "$PREFIX" --password "$PASSWORD" --server-pid "$(pid_of "$server")" --server "$server$([ "$ARCHIVE" = default ] || echo " (archive $ARCHIVE)")" \
    --only "$ONLY" --out "$OUT" || true
  stop "$server"
done
