#!/usr/bin/env bash
# File transfer figures for docs/benchmarks.md (issue 14, "Performance"), one run, all on loopback:
#   1. a plain loopback TCP copy of BENCH_MB (the limit);
#   2. XEP-0363 HTTP upload (PUT) and download (GET) of BENCH_MB through this server (tests/harness/server.sh, plain
#      HTTP on XMPP_PORT+58), with the server's CPU per MB;
#   3. a XEP-0065 SOCKS5 relay of BENCH_MB through this server's proxy65 plugin, Prosody's mod_proxy65 and ejabberd's
#      mod_proxy65 (Debian `prosody` and `ejabberd`, private instances), side by side, with each server's CPU per MB.
# Every figure is one JSON line from tests/bench/filetransfer.py; note the load average printed first.
#
#   tests/bench/filetransfer.sh   # BENCH_MB=100 BENCH_RUNS=3 BENCH_WORKDIR=.work/bench-filetransfer ACTORS_PORT=21222 PROSODY_PORT=21422
# (each measurement BENCH_RUNS times in a row on one server process; take the medians)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/tests/bench/peer-lib.sh" # peer_wait, peer_stop
WORK="${BENCH_WORKDIR:-$ROOT/.work/bench-filetransfer}"
MB="${BENCH_MB:-100}"
RUNS="${BENCH_RUNS:-3}"
PY=/usr/bin/python3
TOOL="$ROOT/tests/bench/filetransfer.py"
ACTORS_PORT="${ACTORS_PORT:-21222}"
PROSODY_PORT="${PROSODY_PORT:-21422}"
PROSODY_PROXY_PORT="$((PROSODY_PORT + 1))"
EJABBERD_PORT="${EJABBERD_PORT:-21622}"
EJABBERD_PROXY_PORT="$((EJABBERD_PORT + 1))"
HOST=127.0.0.1

actors() { env XMPP_WORKDIR="$WORK/actors" XMPP_PORT="$ACTORS_PORT" XMPP_TLS_REQUIRED=false "$ROOT/tests/harness/server.sh" "$@"; }

prosody_start() {
  local w="$WORK/prosody"
  mkdir -p "$w/data"
  cat > "$w/prosody.cfg.lua" <<CFG
pidfile = "$w/prosody.pid"
data_path = "$w/data"
daemonize = false
run_as_root = true -- a private benchmark instance
log = { warn = "$w/prosody.log" }
interfaces = { "$HOST" }
c2s_ports = { $PROSODY_PORT }
s2s_ports = { }
c2s_direct_tls_ports = { }
http_ports = { }
https_ports = { }
proxy65_ports = { $PROSODY_PROXY_PORT }
proxy65_interfaces = { "$HOST" }
network_backend = "epoll"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
modules_enabled = { "roster", "saslauth", "disco", "ping" }
modules_disabled = { "tls", "s2s", "offline" }
VirtualHost "localhost"
Component "proxy.localhost" "proxy65"
  proxy65_address = "$HOST"
CFG
  prosodyctl --config "$w/prosody.cfg.lua" register alice localhost alice-pw >/dev/null 2>&1 || true
  setsid prosody --config "$w/prosody.cfg.lua" -F >"$w/stdout.log" 2>&1 < /dev/null &
  echo $! > "$w/runner.pid"
  peer_wait 10 "$HOST" "$PROSODY_PORT" "$PROSODY_PROXY_PORT" && return 0
  echo "filetransfer.sh: prosody did not start; see $w" >&2
  return 1
}

prosody_stop() { peer_stop "$WORK/prosody/runner.pid" 5; }

# ejabberd (Debian `ejabberd`): the BEAM run directly with a private config, as ../shared/bench/servers/ejabberd.sh does
ejabberd_start() {
  local w="$WORK/ejabberd"
  mkdir -p "$w/spool" "$w/log"
  export ERL_LIBS; ERL_LIBS="$(peer_ejabberd_libs)"
  cat > "$w/ejabberd.yml" <<CFG
hosts:
  - "localhost"
loglevel: warning
listen:
  -
    port: $EJABBERD_PORT
    ip: "$HOST"
    module: ejabberd_c2s
    starttls_required: false
auth_method: internal
auth_password_format: plain
acl:
  local:
    user_regexp: ""
access_rules:
  register:
    allow: all
modules:
  mod_disco: {}
  mod_register:
    access: register
    ip_access: all
  mod_proxy65:
    host: "proxy.@HOST@"
    ip: "$HOST"
    hostname: "$HOST"
    port: $EJABBERD_PROXY_PORT
    max_connections: infinity
CFG
  (
    cd "$w"
    export EJABBERD_CONFIG_PATH="$w/ejabberd.yml" EJABBERD_LOG_PATH="$w/log/ejabberd.log" ERL_CRASH_DUMP="$w/log/erl_crash.dump" ERL_CRASH_DUMP_BYTES=0
    unset EJABBERD_PID_PATH
    exec setsid erl -noinput -noshell +K true -mnesia dir "\"$w/spool\"" -s ejabberd >>"$w/stdout.log" 2>&1 < /dev/null
  ) &
  echo $! > "$w/runner.pid"
  peer_wait 60 "$HOST" "$EJABBERD_PORT" "$EJABBERD_PROXY_PORT" && return 0
  echo "filetransfer.sh: ejabberd did not start; see $w" >&2
  return 1
}

ejabberd_stop() { peer_stop "$WORK/ejabberd/runner.pid" 10; }

cleanup() { actors stop >/dev/null 2>&1 || true; prosody_stop; ejabberd_stop; }
trap cleanup EXIT

mkdir -p "$WORK"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), cores: $(nproc), BENCH_MB=$MB"
for _ in $(seq "$RUNS"); do "$PY" "$TOOL" copy --mb "$MB"; done

# the upload plugin's limits raised for one file of BENCH_MB (environment keys: .NET configuration)
export Xmpp__Plugins__upload__MaxFileSize="$((MB * 1000000 + 1000000))" Xmpp__Plugins__upload__QuotaBytes=0
actors start >/dev/null
actors adduser alice alice-pw >/dev/null 2>&1 || true  # kept from an earlier run
pid="$(actors pid)"
for _ in $(seq "$RUNS"); do
  "$PY" "$TOOL" upload --port "$ACTORS_PORT" --user alice --password alice-pw --service upload.localhost --pid "$pid" --mb "$MB" --label actors
done
for _ in $(seq "$RUNS"); do
  "$PY" "$TOOL" socks5 --port "$ACTORS_PORT" --user alice --password alice-pw --proxy proxy.localhost --pid "$pid" --mb "$MB" --label actors
done
actors stop >/dev/null

if command -v prosody >/dev/null; then
  prosody_start
  ppid="$(cat "$WORK/prosody/prosody.pid" 2>/dev/null || cat "$WORK/prosody/runner.pid")"
  for _ in $(seq "$RUNS"); do
    "$PY" "$TOOL" socks5 --port "$PROSODY_PORT" --user alice --password alice-pw --proxy proxy.localhost --pid "$ppid" --mb "$MB" --label prosody
  done
  prosody_stop
else
  echo "filetransfer.sh: prosody not installed (apt-get install -y prosody): its mod_proxy65 skipped" >&2
fi

if command -v ejabberdctl >/dev/null && command -v erl >/dev/null; then
  ejabberd_start
  epid="$(cat "$WORK/ejabberd/runner.pid")"
  for _ in $(seq "$RUNS"); do
    "$PY" "$TOOL" socks5 --port "$EJABBERD_PORT" --user alice --password alice-pw --proxy proxy.localhost --pid "$epid" --mb "$MB" --label ejabberd --register
  done
  ejabberd_stop
else
  echo "filetransfer.sh: ejabberd not installed (apt-get install -y ejabberd): its mod_proxy65 skipped" >&2
fi
