#!/usr/bin/env bash
# The fleet's figures (docs/benchmarks.md, "IoT fleet"): one server at a time, a private instance on loopback, the
# simulator and the dashboard of samples/ driving it.
#   samples/Fleet/measure.sh actors|ejabberd [DEVICES] [RATE] [SECONDS]
# Phases (each a fresh fleet process, and from 2. on each a fresh server process on the same data):
#   1. accounts: DEVICES devices and the dashboard, by XEP-0077 in-band registration (both servers allow it here)
#   2. idle XMPP: DEVICES devices log in over XMPP (SCRAM-SHA-1, STARTTLS), publish one reading, then stay idle;
#      the server's RSS before and after, divided by the devices connected: RSS per connected idle device
#   3. idle MQTT: the same devices over MQTT 5 (the actors bridge; ejabberd's mod_mqtt), one reading each, idle
#   4. load: the dashboard subscribes to every device's node, then the XMPP fleet publishes RATE readings per device
#      per minute for SECONDS; the server's CPU time (utime+stime, /proc) over the window divided by the readings the
#      dashboard received in it: server CPU per reading delivered; and the readings/s acknowledged
# Prints one line of figures (also appended as JSON to $FLEET_WORKDIR/results.jsonl).
# Environment: FLEET_WORKDIR (default /tmp/fleet-measure), FLEET_PORT/FLEET_MQTT_PORT (actors 17222/17883,
# ejabberd 27222/27883), FLEET_SETTLE (seconds to let the server settle before reading RSS, 10), FLEET_IDLE (seconds
# the connected fleet stays idle before the idle RSS reading, default FLEET_SETTLE; 150 lets this server passivate the
# devices' idle nodes and stores, 2 minutes after their last use), FLEET_TRACE (actors
# only: a file to write a 20 s dotnet-trace CPU sample of the load window to; the tracing itself costs CPU, so the
# run's figures are then not ones to publish), FLEET_PERF (a file to write 20 s of `perf record -g` of the server in
# the load window to; with DOTNET_PerfMapEnabled=1 in the environment the server writes /tmp/perf-PID.map for it).
set -euo pipefail
SERVER="${1:?usage: measure.sh actors|ejabberd [DEVICES] [RATE] [SECONDS]}"
DEVICES="${2:-10000}"
RATE="${3:-6}"
SECONDS_LOAD="${4:-60}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
W="${FLEET_WORKDIR:-/tmp/fleet-measure}/$SERVER"
SETTLE="${FLEET_SETTLE:-10}"
IDLE="${FLEET_IDLE:-$SETTLE}" # seconds the connected fleet stays idle before the RSS reading
DOMAIN=localhost
case "$SERVER" in
  actors) PORT="${FLEET_PORT:-17222}"; MQTT_PORT="${FLEET_MQTT_PORT:-17883}" ;;
  ejabberd) PORT="${FLEET_PORT:-27222}"; MQTT_PORT="${FLEET_MQTT_PORT:-27883}" ;;
  *) echo "measure.sh: actors or ejabberd" >&2; exit 2 ;;
esac
die() { echo "measure.sh: $*" >&2; exit 1; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_port() { for _ in $(seq 1 360); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.5; done; return 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

rm -rf "$W"; mkdir -p "$W"
echo "measure.sh: building the simulator and the dashboard (Release)" >&2
dotnet build "$ROOT/samples/Dashboard/Dashboard.csproj" -c Release -o "$W/tools" -nologo -v quiet >&2 || die "build failed"
FLEET=(dotnet "$W/tools/fleet.dll" --host 127.0.0.1 --port "$PORT" --mqtt-port "$MQTT_PORT" --domain "$DOMAIN" --devices "$DEVICES" --report-every 10)
DASH=(dotnet "$W/tools/dashboard.dll" --host 127.0.0.1 --port "$PORT" --domain "$DOMAIN")

start_actors() {
  mkdir -p "$W/data"
  (cd "$W" && exec setsid dotnet "$W/server/actors-server.dll" --set Xmpp:DataDir="$W/data" --set Xmpp:C2sPort="$PORT" \
     --set Xmpp:DirectTlsPort=-1 --set Xmpp:Registration:Enabled=true --set Xmpp:Registration:MaxPerAddress=0 \
     --set Xmpp:Plugins:mqtt:Enabled=true --set Xmpp:Plugins:mqtt:Port="$MQTT_PORT" \
     >"$W/server.log" 2>&1 </dev/null) &
  echo $! > "$W/pid"
}

start_ejabberd() {
  local ctl erl_libs
  ctl="$(command -v ejabberdctl || echo /usr/sbin/ejabberdctl)"
  erl_libs="$(sed -n "s/^ERL_LIBS='\(.*\)'/\1/p" "$ctl" | head -1)"
  mkdir -p "$W/spool" "$W/log"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$DOMAIN" -keyout "$W/server.key" -out "$W/server.crt" >/dev/null 2>&1
  cat "$W/server.key" "$W/server.crt" > "$W/server.pem"
  cat > "$W/ejabberd.yml" <<CFG
hosts: ["$DOMAIN"]
loglevel: warning
certfiles: ["$W/server.pem"]
listen:
  - {port: $PORT, ip: "127.0.0.1", module: ejabberd_c2s, max_stanza_size: 262144, starttls: true, starttls_required: true, backlog: 4096}
  - {port: $MQTT_PORT, ip: "127.0.0.1", module: mod_mqtt, backlog: 4096}
auth_method: internal
auth_password_format: scram
registration_timeout: infinity
cache_size: 200000
shaper_rules: {}
acl: {local: {user_regexp: ""}}
access_rules:
  local: {allow: local}
  c2s: {allow: all}
  register: {allow: all}
  pubsub_createnode: {allow: all}
modules:
  mod_roster: {}
  mod_disco: {}
  mod_ping: {}
  mod_register: {access: register, ip_access: all}
  mod_pubsub: {host: "pubsub.@HOST@", access_createnode: pubsub_createnode, plugins: ["flat"]}
  mod_mqtt: {}
CFG
  (
    cd "$W"
    export EJABBERD_CONFIG_PATH="$W/ejabberd.yml" EJABBERD_LOG_PATH="$W/log/ejabberd.log" ERL_LIBS="$erl_libs" \
           ERL_CRASH_DUMP="$W/log/erl_crash.dump" ERL_CRASH_DUMP_BYTES=0
    exec setsid erl -noinput -noshell +K true +P 1000000 +Q 300000 -mnesia dir "\"$W/spool\"" -s ejabberd >"$W/server.log" 2>&1 </dev/null
  ) &
  echo $! > "$W/pid"
}

stop_server() {
  [ -f "$W/pid" ] || return 0
  local pid; pid="$(cat "$W/pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$W/pid"
}
trap stop_server EXIT
start_server() { # a fresh server process on the same data (accounts and nodes kept)
  stop_server
  "start_$SERVER"
  wait_port "$PORT" || { tail -30 "$W/server.log" >&2; die "$SERVER did not open port $PORT"; }
  wait_port "$MQTT_PORT" || { tail -30 "$W/server.log" >&2; die "$SERVER did not open MQTT port $MQTT_PORT"; }
  PID="$(cat "$W/pid")"
  sleep 2
  echo "measure.sh: $SERVER pid $PID on 127.0.0.1:$PORT (MQTT $MQTT_PORT); load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
}
[ "$SERVER" = actors ] && { dotnet build "$ROOT/hosts/Actors.Host.Server/Actors.Host.Server.csproj" -c Release -o "$W/server" -nologo -v quiet >&2 || die "server build failed"; }
start_server

# 1. accounts
"${FLEET[@]}" --register --rate 0 --duration 0.1 --concurrency 50 > "$W/register.log" 2>&1 || true
grep -E "^fleet: connected" "$W/register.log" >&2 || true
"${DASH[@]}" --register read nobody >/dev/null 2>&1 || true # registers the dashboard's account (the read-out itself fails)

# 2./3. idle devices: a fresh server process (as ../shared/bench does), its RSS, then with the fleet connected
idle() { # $1 share, $2 name
  start_server >&2
  sleep "$SETTLE"
  local before after connected pid
  before=$(rss_kib "$PID")
  "${FLEET[@]}" --mqtt-share "$1" --rate 0 --duration $((IDLE + SETTLE * 2)) > "$W/idle-$2.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do grep -qs "^fleet: connected" "$W/idle-$2.log" && break; sleep 1; done
  sleep "$IDLE"
  after=$(rss_kib "$PID")
  connected=$(sed -nE 's/^fleet: connected ([0-9]+) XMPP \+ ([0-9]+) MQTT.*/\1 \2/p' "$W/idle-$2.log" | awk '{print $1 + $2}')
  wait "$pid" || true
  echo "$before $after ${connected:-0}"
}
read -r X_BEFORE X_AFTER X_CONN < <(idle 0 xmpp)
read -r M_BEFORE M_AFTER M_CONN < <(idle 1 mqtt)
echo "measure.sh: idle XMPP: $X_CONN connected, RSS $X_BEFORE -> $X_AFTER KiB; idle MQTT: $M_CONN connected, RSS $M_BEFORE -> $M_AFTER KiB" >&2

# 4. load: the dashboard on every node, the XMPP fleet publishing
start_server
"${DASH[@]}" watch --devices "$DEVICES" --rows 0 > "$W/dashboard.log" 2>&1 &
DASH_PID=$!
for _ in $(seq 1 600); do grep -qs "^subscribed to" "$W/dashboard.log" && break; kill -0 "$DASH_PID" 2>/dev/null || break; sleep 1; done
grep "^subscribed to" "$W/dashboard.log" >&2 || die "the dashboard did not subscribe (see $W/dashboard.log)"
"${FLEET[@]}" --mqtt-share 0 --rate "$RATE" --duration "$SECONDS_LOAD" --json > "$W/load.log" 2>&1 &
FLEET_PID=$!
for _ in $(seq 1 600); do grep -qs "^fleet: connected" "$W/load.log" && break; sleep 1; done
sleep 5 # every device past its first reading and into its random phase
delivered() { sed -nE 's/.* readings ([0-9]+) \(.*/\1/p' "$W/dashboard.log" | tail -1; }
D0=$(delivered); C0=$(cpu_ticks "$PID"); T0=$(date +%s.%N)
if [ -n "${FLEET_TRACE:-}" ] && [ "$SERVER" = actors ]; then
  dotnet-trace collect -p "$PID" --profile dotnet-sampled-thread-time --duration 00:00:00:20 -o "$FLEET_TRACE" >"$W/trace.log" 2>&1 &
fi
if [ -n "${FLEET_PERF:-}" ]; then # CPU samples with call graphs (JIT frames named through /tmp/perf-PID.map)
  perf record -F 499 -g -p "$PID" -o "$FLEET_PERF" -- sleep 20 >"$W/perf.log" 2>&1 &
fi
sleep $((SECONDS_LOAD - 15))
D1=$(delivered); C1=$(cpu_ticks "$PID"); T1=$(date +%s.%N)
wait "$FLEET_PID" || true
kill "$DASH_PID" 2>/dev/null || true
HZ=$(getconf CLK_TCK)
python3 - "$SERVER" "$DEVICES" "$RATE" "$X_BEFORE" "$X_AFTER" "$X_CONN" "$M_BEFORE" "$M_AFTER" "$M_CONN" "$D0" "$D1" "$C0" "$C1" "$T0" "$T1" "$HZ" "$W/load.log" "${FLEET_WORKDIR:-/tmp/fleet-measure}/results.jsonl" <<'PY'
import json, sys
(server, devices, rate, xb, xa, xc, mb, ma, mc, d0, d1, c0, c1, t0, t1, hz, load, out) = sys.argv[1:]
xb, xa, xc, mb, ma, mc, d0, d1, c0, c1, hz = map(int, (xb, xa, xc, mb, ma, mc, d0, d1, c0, c1, hz))
seconds = float(t1) - float(t0)
summary = [json.loads(l) for l in open(load) if l.startswith("{")]
r = {
    "server": server, "devices": int(devices), "rate_per_min": float(rate),
    "xmpp_idle_connected": xc, "kib_per_idle_xmpp_device": round((xa - xb) / xc, 1) if xc else None,
    "mqtt_idle_connected": mc, "kib_per_idle_mqtt_device": round((ma - mb) / mc, 1) if mc else None,
    "delivered_per_s": round((d1 - d0) / seconds, 1),
    "cpu_us_per_reading_delivered": round((c1 - c0) / hz * 1e6 / (d1 - d0), 1) if d1 > d0 else None,
    "server_cpu_percent": round((c1 - c0) / hz / seconds * 100, 1),
    "acknowledged_per_s": summary[-1]["readingsPerSecond"] if summary else None,
    "publish_failures": summary[-1]["publishFailures"] if summary else None,
}
print(json.dumps(r))
open(out, "a").write(json.dumps(r) + "\n")
PY
