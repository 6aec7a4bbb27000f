#!/usr/bin/env bash
# Harness for external suites and load tools: one private Actors server instance, driven from outside.
#
#   tests/harness/server.sh start | stop | pid | info | adduser USER PASS | bulk-users N PREFIX PASS [START]
#   with XMPP_NODES=N also: node-stop I (graceful) | node-kill I (SIGKILL) | node-start I   (I: 1-based)
#
# Environment:
#   XMPP_WORKDIR       all state, logs and the PID file (default: ./.work/harness)
#   XMPP_DOMAIN        served domain (default localhost)
#   XMPP_HOST          127.x address to bind (default 127.0.0.1)
#   XMPP_PORT          c2s port with STARTTLS (default 5222); direct TLS (XEP-0368) is on XMPP_DIRECT_TLS_PORT (default XMPP_PORT+1)
#   XMPP_HTTP_PORT     HTTP host port (default XMPP_PORT+58, 5280): XMPP over WebSocket (RFC 7395) at WS_URL, BOSH
#                      (XEP-0206) at BOSH_URL, XEP-0156 host-meta; plain HTTP with the host trusted as a TLS-terminating
#                      proxy (Xmpp:Http:TrustedProxies), so clients on it count as secure; XEP-0363 HTTP upload
#                      (UPLOAD_SERVICE) puts and serves files at http://HOST:HTTP_PORT/upload/...
#   XMPP_TLS_REQUIRED  true (default) or false: false also allows SASL PLAIN without TLS (load tools on loopback)
#   XMPP_REGISTRATION  false (default) or true: XEP-0077 in-band registration
#   XMPP_LOOPBACK_LIMITS  false (default) or true: the per-address caps (connections per address, connection rate,
#                      concurrent SASL exchanges, login attempts counted from <auth/>) apply to loopback clients too
#                      (Xmpp:Limits:ExemptLoopback=false), for hostile-client runs from this host
#   XMPP_COMPONENT_PORT    XEP-0114 component port (default XMPP_PORT+125, 5347 for 5222)
#   XMPP_COMPONENT_DOMAIN  the component the harness configures (default component.XMPP_DOMAIN)
#   XMPP_COMPONENT_SECRET  its handshake secret (default component-secret)
#   XMPP_METRICS_PORT  the operator's endpoint (default XMPP_PORT+70, 5292): Prometheus metrics at METRICS_URL,
#                      health at /health/live and /health/ready
#   XMPP_ADMINS        bare JIDs, comma-separated, of the server's administrators (Xmpp:Plugins:admin:Admins; default
#                      admin@XMPP_DOMAIN; create the account with `adduser`): they run the XEP-0133 commands and sign in
#                      to the web admin page at ADMIN_URL (http://HOST:HTTP_PORT/admin/, on the HTTP port: no port of its own)
#   XMPP_TRACING_OTLP  an OpenTelemetry collector's OTLP endpoint: stanzas' traces across actors are recorded and pushed
#                      there (Xmpp:Tracing:OtlpEndpoint; default empty: no tracing); XMPP_TRACING_PROTOCOL grpc (default)
#                      or http/protobuf (then the endpoint's full path, http://HOST:4318/v1/traces)
#   XMPP_S2S_PORT      server-to-server port (RFC 6120; default XMPP_PORT+47, 5269 for 5222)
#   XMPP_S2S_ROUTES    static server-to-server routes, domain=host:port,... (asked before DNS; default none);
#                      domain=tls:host:port for a peer's XEP-0368 direct TLS port
#   XMPP_S2S_TLS_PORT  XEP-0368 direct TLS server-to-server port (default XMPP_PORT+55, 5277 for 5222)
#   XMPP_S2S_TLS_REQUIRED  true (default) or false: STARTTLS mandatory on s2s streams (Xmpp:S2s:RequireTls); peers
#                      with self-signed certificates (two harness instances) authenticate with dialback over TLS
#   XMPP_S2S_TRUSTED_CERTS  PEM files, comma-separated, trusted to verify peers' certificates (SASL EXTERNAL, XEP-0178)
#   XMPP_S2S_BIDI      true (default) or false: XEP-0288 bidirectional s2s streams (Xmpp:S2s:Bidi): one connection
#                      carries both directions when the peer offers or asks for it
#   XMPP_CLIENT_CAS    PEM files, comma-separated, of the authorities whose client certificates log in with SASL EXTERNAL
#                      on client streams (XEP-0178; JIDs from id-on-xmppAddr); empty (default): none asked for
#   XMPP_MQTT_PORT     the MQTT 5 bridge's port (default XMPP_PORT-3339, 1883 for 5222): MQTT clients log in with an
#                      account's JID and password; topic T is node T of pubsub.XMPP_DOMAIN (README, "MQTT bridge")
#   XMPP_MQTTS_PORT    the MQTT bridge's MQTT over TLS port (default XMPP_PORT+3661, 8883 for 5222), presenting the server's
#                      own certificate (Xmpp:Tls, or the self-signed one under WORKDIR/data/tls)
#   XMPP_PROXY65_PORT  the XEP-0065 SOCKS5 bytestreams proxy's port on HOST (default XMPP_PORT+2555, 7777 for 5222): the
#                      service proxy.XMPP_DOMAIN announces it as <streamhost host='HOST' port='PROXY65_PORT'/>
#   XMPP_TURN_PORT     the built-in STUN/TURN server's port, UDP and TCP on XMPP_HOST (default XMPP_PORT-1744, 3478 for
#                      5222): RFC 8489 Binding, RFC 8656 allocations with TURN REST credentials from XMPP_TURN_SECRET,
#                      which XEP-0215 (extdisco) hands out to the server's users; peers on loopback are allowed
#   XMPP_TURNS_PORT    the same server over TLS (turns:, RFC 8656 §3.1) on XMPP_HOST (default XMPP_PORT-1901, 3321 for
#                      5222), presenting the server's own certificate (Xmpp:Tls, or the self-signed one); TCP relays
#                      (RFC 6062) over it and over TURN_PORT's TCP
#   XMPP_TURN_SECRET   its TURN REST shared secret (default turn-secret; coturn's -W / static-auth-secret)
#   XMPP_BUILD_CONFIG  Release (default) or Debug
#   XMPP_EXTRA_ARGS    more --Key=value settings for every node, after the harness's own (a bench turning a plugin's
#                      feature off to match another server's module set, e.g. --Xmpp:Mam:Default=never)
#   XMPP_NODES         N: a local cluster of N nodes serving XMPP_DOMAIN (issue 10). Node I listens for clients on
#                      XMPP_PORT+2(I-1) (direct TLS on the next port), HTTP on XMPP_HTTP_PORT+(I-1), Akka.Remote on
#                      XMPP_PORT+300+I; metrics on XMPP_METRICS_PORT+100(I-1), server-to-server on
#                      XMPP_S2S_PORT+100(I-1), the MQTT bridge on XMPP_MQTT_PORT+100(I-1), the XEP-0065 proxy on
#                      XMPP_PROXY65_PORT+100(I-1), STUN/TURN on XMPP_TURN_PORT+100(I-1) and over TLS on
#                      XMPP_TURNS_PORT+100(I-1) (node 1 on the single server's ports; `info` prints node 1's
#                      METRICS_URL, S2S_PORT, MQTT_PORT, PROXY65_PORT, TURN_PORT and TURNS_PORT, and every node's in
#                      C2S_PORTS, PROXY65_PORTS, TURN_PORTS, TURNS_PORTS); every node lists
#                      every node as a seed; the XEP-0114 component listener is on node 1. State under
#                      XMPP_WORKDIR/nodeI. Unset: one server, as before.
#   XMPP_PG            the cluster's PostgreSQL connection string; unset: a private PostgreSQL initialised and started
#                      in XMPP_WORKDIR/pg (tests/postgres.sh), stopped by `stop`
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORKDIR="${XMPP_WORKDIR:-$ROOT/.work/harness}"
DOMAIN="${XMPP_DOMAIN:-localhost}"
HOST="${XMPP_HOST:-127.0.0.1}"
PORT="${XMPP_PORT:-5222}"
DIRECT_TLS_PORT="${XMPP_DIRECT_TLS_PORT:-$((PORT + 1))}"
HTTP_PORT="${XMPP_HTTP_PORT:-$((PORT + 58))}"
TLS_REQUIRED="${XMPP_TLS_REQUIRED:-true}"
REGISTRATION="${XMPP_REGISTRATION:-false}"
LOOPBACK_LIMITS="${XMPP_LOOPBACK_LIMITS:-false}"
COMPONENT_PORT="${XMPP_COMPONENT_PORT:-$((PORT + 125))}"
COMPONENT_DOMAIN="${XMPP_COMPONENT_DOMAIN:-component.$DOMAIN}"
COMPONENT_SECRET="${XMPP_COMPONENT_SECRET:-component-secret}"
# (+70: clear of the other ports of instances a few ports apart, as tests/interop/run.sh starts them, and of cluster nodes' HTTP ports)
METRICS_PORT="${XMPP_METRICS_PORT:-$((PORT + 70))}"
S2S_PORT="${XMPP_S2S_PORT:-$((PORT + 47))}"
S2S_ROUTES="${XMPP_S2S_ROUTES:-}"
S2S_TLS_PORT="${XMPP_S2S_TLS_PORT:-$((PORT + 55))}"
S2S_TLS_REQUIRED="${XMPP_S2S_TLS_REQUIRED:-true}"
S2S_TRUSTED_CERTS="${XMPP_S2S_TRUSTED_CERTS:-}"
S2S_BIDI="${XMPP_S2S_BIDI:-true}"
CLIENT_CAS="${XMPP_CLIENT_CAS:-}"
TRACING_OTLP="${XMPP_TRACING_OTLP:-}"
TRACING_PROTOCOL="${XMPP_TRACING_PROTOCOL:-grpc}"
MQTT_PORT="${XMPP_MQTT_PORT:-$((PORT - 3339))}"
MQTTS_PORT="${XMPP_MQTTS_PORT:-$((PORT + 3661))}"
PROXY65_PORT="${XMPP_PROXY65_PORT:-$((PORT + 2555))}"
TURN_PORT="${XMPP_TURN_PORT:-$((PORT - 1744))}"
TURNS_PORT="${XMPP_TURNS_PORT:-$((PORT - 1901))}"
TURN_SECRET="${XMPP_TURN_SECRET:-turn-secret}"
EXTRA_ARGS="${XMPP_EXTRA_ARGS:-}"
ADMINS="${XMPP_ADMINS:-admin@$DOMAIN}"
CONFIG="${XMPP_BUILD_CONFIG:-Release}"
BIN_DIR="$ROOT/artifacts/server-$CONFIG"
DLL="$BIN_DIR/actors-server.dll"
PID_FILE="$WORKDIR/server.pid"
LOG="$WORKDIR/server.log"

die() { echo "server.sh: $*" >&2; exit 1; }

# the administrators, and the web admin page on the HTTP listener (issue 16)
admin_args() {
  local jid i=0
  echo "--Xmpp:Http:Admin:Enabled=true"
  for jid in ${ADMINS//,/ }; do
    echo "--Xmpp:Plugins:admin:Admins:$i=$jid"
    i=$((i + 1))
  done
}

NODES="${XMPP_NODES:-}"
if [ -n "$NODES" ]; then
  case "$NODES" in ''|*[!0-9]*) die "XMPP_NODES must be a number of nodes (got $NODES)";; esac
  [ "$NODES" -ge 1 ] && [ "$NODES" -le 9 ] || die "XMPP_NODES must be 1 to 9"
fi
PG_DIR="$WORKDIR/pg"

case "$HOST" in 127.*) ;; *) die "XMPP_HOST must be a 127.x address (got $HOST)";; esac
case "$TLS_REQUIRED" in true|false) ;; *) die "XMPP_TLS_REQUIRED must be true or false";; esac
for route in ${S2S_ROUTES//,/ }; do
  case "$route" in ?*=?*) ;; *) die "XMPP_S2S_ROUTES: '$route' is not domain=host:port";; esac
done
case "$LOOPBACK_LIMITS" in true|false) ;; *) die "XMPP_LOOPBACK_LIMITS must be true or false";; esac
case "$S2S_TLS_REQUIRED" in true|false) ;; *) die "XMPP_S2S_TLS_REQUIRED must be true or false";; esac
case "$S2S_BIDI" in true|false) ;; *) die "XMPP_S2S_BIDI must be true or false";; esac

# The server's configuration, as command-line overrides (see README: Configuration).
server_args() {
  local plain=false exempt=true
  [ "$TLS_REQUIRED" = false ] && plain=true
  [ "$LOOPBACK_LIMITS" = true ] && exempt=false
  echo "--Xmpp:Domain=$DOMAIN --Xmpp:BindAddress=$HOST --Xmpp:C2sPort=$PORT --Xmpp:DirectTlsPort=$DIRECT_TLS_PORT" \
       "--Xmpp:DataDir=$WORKDIR/data --Xmpp:Tls:Required=$TLS_REQUIRED --Xmpp:Auth:AllowPlainWithoutTls=$plain" \
       "--Xmpp:Registration:Enabled=$REGISTRATION --Xmpp:Limits:ExemptLoopback=$exempt" \
       "--Xmpp:Http:Port=$HTTP_PORT --Xmpp:Http:TrustedProxies:0=127.0.0.1 --Xmpp:Http:TrustedProxies:1=$HOST" \
       "--Xmpp:PubSub:NodeCreation=Accounts" \
       "--Xmpp:Metrics:Port=$METRICS_PORT --Xmpp:Metrics:BindAddress=$HOST" \
       "--Xmpp:Plugins:mqtt:Enabled=true --Xmpp:Plugins:mqtt:Port=$MQTT_PORT --Xmpp:Plugins:mqtt:TlsPort=$MQTTS_PORT" \
       "--Xmpp:Plugins:mqtt:BindAddress=$HOST" \
       "--Xmpp:Plugins:proxy65:Enabled=true --Xmpp:Plugins:proxy65:Port=$PROXY65_PORT" \
       "--Xmpp:Plugins:proxy65:BindAddress=$HOST --Xmpp:Plugins:proxy65:Host=$HOST" \
       "--Xmpp:Turn:Enabled=true --Xmpp:Turn:Port=$TURN_PORT --Xmpp:Turn:BindAddress=$HOST --Xmpp:Turn:Secret=$TURN_SECRET" \
       "--Xmpp:Turn:TlsPort=$TURNS_PORT --Xmpp:Turn:AllowLoopbackPeers=true" \
       "--Xmpp:Components:Port=$COMPONENT_PORT --Xmpp:Components:$COMPONENT_DOMAIN:Secret=$COMPONENT_SECRET" \
       "--Xmpp:S2s:Port=$S2S_PORT --Xmpp:S2s:TlsPort=$S2S_TLS_PORT --Xmpp:S2s:RequireTls=$S2S_TLS_REQUIRED --Xmpp:S2s:Bidi=$S2S_BIDI"
  local route cert i=0
  for route in ${S2S_ROUTES//,/ }; do
    echo "--Xmpp:S2s:Routes:${route%%=*}=${route#*=}"
  done
  for cert in ${S2S_TRUSTED_CERTS//,/ }; do
    echo "--Xmpp:S2s:TrustedCertificates:$i=$cert"
    i=$((i + 1))
  done
  i=0
  for cert in ${CLIENT_CAS//,/ }; do
    echo "--Xmpp:Tls:ClientCertificateAuthorities:$i=$cert"
    i=$((i + 1))
  done
  if [ -n "$TRACING_OTLP" ]; then echo "--Xmpp:Tracing:OtlpEndpoint=$TRACING_OTLP --Xmpp:Tracing:OtlpProtocol=$TRACING_PROTOCOL"; fi
  if [ -n "$EXTRA_ARGS" ]; then echo "$EXTRA_ARGS"; fi
  admin_args
}

# ---- a local cluster (XMPP_NODES) ---------------------------------------------------------------------------------
node_dir() { echo "$WORKDIR/node$1"; }
# why a start failed, from its log: the server's own error line or the unhandled exception's message first (a stack
# trace's last lines alone do not say what failed), then the last lines
start_failure() {
  local cause
  cause="$(grep -m 3 -E '^(error:|Unhandled exception)| fail: ' "$1" | cut -c1-400)"
  [ -z "$cause" ] || printf '%s\n' "$cause"
  echo "last lines of $1:"; tail -n 20 "$1"
}
node_port() { echo $((PORT + 2 * ($1 - 1))); }
node_tls_port() { echo $(($(node_port "$1") + 1)); }
node_http_port() { echo $((HTTP_PORT + $1 - 1)); }
node_remote_port() { echo $((PORT + 300 + $1)); }
# a stride of 100 keeps every node's ports clear of the others' (c2s +0..+17, HTTP +58..+66, remote +301..+309)
node_metrics_port() { echo $((METRICS_PORT + 100 * ($1 - 1))); }
node_s2s_port() { echo $((S2S_PORT + 100 * ($1 - 1))); }
node_mqtt_port() { echo $((MQTT_PORT + 100 * ($1 - 1))); }
node_proxy65_port() { echo $((PROXY65_PORT + 100 * ($1 - 1))); }
node_turn_port() { echo $((TURN_PORT + 100 * ($1 - 1))); }
node_turns_port() { echo $((TURNS_PORT + 100 * ($1 - 1))); }

check_node() {
  case "${1:-}" in ''|*[!0-9]*) die "node number expected (1 to $NODES)";; esac
  [ "$1" -ge 1 ] && [ "$1" -le "$NODES" ] || die "no node $1 (XMPP_NODES=$NODES)"
}

pg_url() {
  if [ -n "${XMPP_PG:-}" ]; then echo "$XMPP_PG"; else ACTORS_PG_DIR="$PG_DIR" "$ROOT/tests/postgres.sh" url; fi
}

# node I's configuration: the single server's, with its own ports and data folder, the cluster and the shared journal
node_args() {
  local i="$1" plain=false exempt=true seeds="" n
  [ "$TLS_REQUIRED" = false ] && plain=true
  [ "$LOOPBACK_LIMITS" = true ] && exempt=false
  for n in $(seq 1 "$NODES"); do seeds="$seeds --Xmpp:Cluster:SeedNodes:$((n - 1))=$HOST:$(node_remote_port "$n")"; done
  local component="--Xmpp:Components:Port=-1"
  [ "$i" = 1 ] && component="--Xmpp:Components:Port=$COMPONENT_PORT"
  echo "--Xmpp:Domain=$DOMAIN --Xmpp:BindAddress=$HOST --Xmpp:C2sPort=$(node_port "$i") --Xmpp:DirectTlsPort=$(node_tls_port "$i")" \
       "--Xmpp:DataDir=$(node_dir "$i")/data --Xmpp:Tls:Required=$TLS_REQUIRED --Xmpp:Auth:AllowPlainWithoutTls=$plain" \
       "--Xmpp:Registration:Enabled=$REGISTRATION --Xmpp:Limits:ExemptLoopback=$exempt" \
       "--Xmpp:Http:Port=$(node_http_port "$i") --Xmpp:Http:TrustedProxies:0=127.0.0.1 --Xmpp:Http:TrustedProxies:1=$HOST" \
       "--Xmpp:PubSub:NodeCreation=Accounts" \
       "--Xmpp:Metrics:Port=$(node_metrics_port "$i") --Xmpp:Metrics:BindAddress=$HOST" \
       "--Xmpp:Plugins:mqtt:Enabled=true --Xmpp:Plugins:mqtt:Port=$(node_mqtt_port "$i") --Xmpp:Plugins:mqtt:BindAddress=$HOST" \
       "--Xmpp:Plugins:proxy65:Enabled=true --Xmpp:Plugins:proxy65:Port=$(node_proxy65_port "$i")" \
       "--Xmpp:Plugins:proxy65:BindAddress=$HOST --Xmpp:Plugins:proxy65:Host=$HOST" \
       "--Xmpp:Turn:Enabled=true --Xmpp:Turn:Port=$(node_turn_port "$i") --Xmpp:Turn:BindAddress=$HOST --Xmpp:Turn:Secret=$TURN_SECRET" \
       "--Xmpp:Turn:TlsPort=$(node_turns_port "$i") --Xmpp:Turn:AllowLoopbackPeers=true" \
       "--Xmpp:S2s:Port=$(node_s2s_port "$i")" \
       "$component --Xmpp:Components:$COMPONENT_DOMAIN:Secret=$COMPONENT_SECRET" \
       "--Xmpp:Persistence:Provider=PostgreSQL --Xmpp:Persistence:RefreshInterval=00:00:00.100" \
       "--Xmpp:Cluster:Enabled=true --Xmpp:Cluster:Hostname=$HOST --Xmpp:Cluster:Port=$(node_remote_port "$i")" \
       "--Xmpp:Cluster:StableAfterSeconds=5 $seeds"
  if [ -n "$TRACING_OTLP" ]; then echo "--Xmpp:Tracing:OtlpEndpoint=$TRACING_OTLP --Xmpp:Tracing:OtlpProtocol=$TRACING_PROTOCOL"; fi
  if [ -n "$EXTRA_ARGS" ]; then echo "$EXTRA_ARGS"; fi
  admin_args
}

node_pid() {
  local f; f="$(node_dir "$1")/server.pid"
  [ -f "$f" ] || return 1
  local pid; pid="$(cat "$f")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

node_ready() {
  local i="$1"
  (exec 3<>"/dev/tcp/$HOST/$(node_port "$i")") 2>/dev/null && (exec 3<>"/dev/tcp/$HOST/$(node_http_port "$i")") 2>/dev/null \
    && (exec 3<>"/dev/tcp/$HOST/$(node_metrics_port "$i")") 2>/dev/null && (exec 3<>"/dev/tcp/$HOST/$(node_mqtt_port "$i")") 2>/dev/null \
    && [ -S "$(node_dir "$i")/data/admin.sock" ]
}

# starts node I in the background (the connection string goes in the environment, not on the command line)
node_launch() {
  local i="$1" dir url; dir="$(node_dir "$i")"
  mkdir -p "$dir"
  node_pid "$i" >/dev/null && return 0
  url="$(pg_url)"
  # shellcheck disable=SC2046
  (cd "$dir" && Xmpp__Persistence__ConnectionString="$url" exec setsid dotnet "$DLL" $(node_args "$i") >>"$dir/server.log" 2>&1 < /dev/null) &
  echo $! > "$dir/server.pid"
}

node_wait() {
  local i="$1" pid dir; dir="$(node_dir "$i")"; pid="$(cat "$dir/server.pid")"
  for _ in $(seq 1 900); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "server.sh: node $i exited during start; $(start_failure "$dir/server.log")" >&2
      rm -f "$dir/server.pid"; return 1
    fi
    node_ready "$i" && return 0
    sleep 0.1
  done
  echo "server.sh: node $i did not accept connections within 90 s; $(start_failure "$dir/server.log")" >&2
  kill -KILL "$pid" 2>/dev/null || true; rm -f "$dir/server.pid"; return 1
}

node_stop() {
  local i="$1" pid dir; dir="$(node_dir "$i")"
  pid="$(node_pid "$i")" || { rm -f "$dir/server.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  # graceful: sessions get <system-shutdown/>, the node leaves the cluster and hands its shards over
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || { rm -f "$dir/server.pid"; return 0; }; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/server.pid"
}

cluster_cli() {
  ensure_built
  local dir; dir="$(node_dir 1)"
  mkdir -p "$dir"
  # shellcheck disable=SC2046
  (cd "$dir" && Xmpp__Persistence__ConnectionString="$(pg_url)" dotnet "$DLL" "$@" $(node_args 1))
}

cluster_main() {
  case "${1:-}" in
    start)
      mkdir -p "$WORKDIR"
      ensure_built
      if [ -z "${XMPP_PG:-}" ]; then ACTORS_PG_DIR="$PG_DIR" "$ROOT/tests/postgres.sh" start >/dev/null || die "PostgreSQL did not start"; fi
      # node 1 first (the first seed forms the cluster), then the others together
      node_launch 1
      node_wait 1 || exit 1
      for i in $(seq 2 "$NODES"); do node_launch "$i"; done
      for i in $(seq 2 "$NODES"); do node_wait "$i" || exit 1; done
      ;;
    stop)
      for i in $(seq "$NODES" -1 1); do node_stop "$i"; done
      if [ -z "${XMPP_PG:-}" ] && [ -d "$PG_DIR" ]; then ACTORS_PG_DIR="$PG_DIR" "$ROOT/tests/postgres.sh" stop || true; fi
      ;;
    pid)
      local any=1
      for i in $(seq 1 "$NODES"); do node_pid "$i" && any=0; done
      [ "$any" = 0 ] || die "not running"
      ;;
    node-stop)
      check_node "${2:-}"; node_stop "$2"
      ;;
    node-kill)
      # a crash: SIGKILL to the node's process (setsid made it the leader of its own process group: the whole group),
      # no shutdown, no leave; returns once it is gone
      check_node "${2:-}"
      if pid="$(node_pid "$2")"; then
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      fi
      rm -f "$(node_dir "$2")/server.pid"
      ;;
    node-start)
      check_node "${2:-}"
      ensure_built
      node_launch "$2"
      node_wait "$2" || exit 1
      ;;
    adduser)
      [ $# -eq 3 ] || die "usage: server.sh adduser USER PASS"
      cluster_cli user add "$2" "$3" >/dev/null
      sleep 0.3 # the other nodes' directories follow the journal every 100 ms
      ;;
    bulk-users)
      [ $# -ge 4 ] && [ $# -le 5 ] || die "usage: server.sh bulk-users N PREFIX PASS [START]"
      cluster_cli user bulk "$2" "$3" "$4" "${5:-0}"
      sleep 0.5
      ;;
    info)
      local ports="" tls="" proxy65="" turn="" turns="" i
      for i in $(seq 1 "$NODES"); do
        ports="$ports${ports:+,}$(node_port "$i")"; tls="$tls${tls:+,}$(node_tls_port "$i")"
        proxy65="$proxy65${proxy65:+,}$(node_proxy65_port "$i")"; turn="$turn${turn:+,}$(node_turn_port "$i")"
        turns="$turns${turns:+,}$(node_turns_port "$i")"
      done
      echo "NODES=$NODES"
      echo "C2S_PORTS=$ports"
      echo "DIRECT_TLS_PORTS=$tls"
      echo "DOMAIN=$DOMAIN"
      echo "HOST=$HOST"
      echo "C2S_PORT=$(node_port 1)"
      echo "DIRECT_TLS_PORT=$(node_tls_port 1)"
      echo "HTTP_PORT=$(node_http_port 1)"
      echo "WS_URL=ws://$HOST:$(node_http_port 1)/xmpp-websocket"
      echo "BOSH_URL=http://$HOST:$(node_http_port 1)/http-bind"
      echo "TLS_REQUIRED=$TLS_REQUIRED"
      echo "REGISTRATION=$REGISTRATION"
      echo "MUC_SERVICE=conference.$DOMAIN"
      echo "PUBSUB=pubsub.$DOMAIN"
      echo "COMPONENT_PORT=$COMPONENT_PORT"
      echo "COMPONENT_DOMAIN=$COMPONENT_DOMAIN"
      echo "COMPONENT_SECRET=$COMPONENT_SECRET"
      echo "S2S_PORT=$(node_s2s_port 1)"
      echo "S2S_BIDI=$S2S_BIDI"
      echo "UPLOAD_SERVICE=upload.$DOMAIN"
      echo "METRICS_URL=http://$HOST:$(node_metrics_port 1)/metrics"
      echo "ADMIN_URL=http://$HOST:$(node_http_port 1)/admin/"
      echo "ADMINS=$ADMINS"
      echo "MQTT_PORT=$(node_mqtt_port 1)"
      echo "LOOPBACK_LIMITS=$LOOPBACK_LIMITS"
      echo "TURN_PORT=$(node_turn_port 1)"
      echo "TURN_PORTS=$turn"
      echo "TURNS_PORT=$(node_turns_port 1)"
      echo "TURNS_PORTS=$turns"
      echo "TURN_SECRET=$TURN_SECRET"
      echo "THING_REGISTRY=discovery.$DOMAIN"
      echo "PROXY65_SERVICE=proxy.$DOMAIN"
      echo "PROXY65_PORT=$(node_proxy65_port 1)"
      echo "PROXY65_PORTS=$proxy65"
      echo "WORKDIR=$WORKDIR"
      ;;
    *)
      echo "usage: XMPP_NODES=N server.sh start|stop|pid|info|adduser USER PASS|bulk-users N PREFIX PASS [START]|node-stop I|node-kill I|node-start I" >&2
      exit 2
      ;;
  esac
}

# Build once (and again when a source is newer than the build); concurrent callers wait for one build.
ensure_built() {
  mkdir -p "$ROOT/artifacts"
  exec 9>"$ROOT/artifacts/.build.lock"
  flock 9
  if [ ! -f "$DLL" ] || [ -n "$(find "$ROOT/core" "$ROOT/hosts" "$ROOT/plugins" -newer "$DLL" \( -name '*.cs' -o -name '*.csproj' -o -name '*.json' -o -name '*.props' \) -print -quit 2>/dev/null)" ]; then
    echo "server.sh: building the server ($CONFIG)..." >&2
    dotnet build "$ROOT/hosts/Actors.Host.Server/Actors.Host.Server.csproj" -c "$CONFIG" -o "$BIN_DIR" -nologo -v quiet >&2 \
      || die "build failed"
    touch "$DLL"
  fi
  flock -u 9
}

running_pid() {
  [ -f "$PID_FILE" ] || return 1
  local pid; pid="$(cat "$PID_FILE")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

port_open() {
  (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null && (exec 3<>"/dev/tcp/$HOST/$HTTP_PORT") 2>/dev/null \
    && (exec 3<>"/dev/tcp/$HOST/$MQTT_PORT") 2>/dev/null && (exec 3<>"/dev/tcp/$HOST/$MQTTS_PORT") 2>/dev/null && (exec 3<>"/dev/tcp/$HOST/$PROXY65_PORT") 2>/dev/null && (exec 3<>"/dev/tcp/$HOST/$TURN_PORT") 2>/dev/null && (exec 3<>"/dev/tcp/$HOST/$TURNS_PORT") 2>/dev/null \
    && return 0 || return 1
}

cli() {
  ensure_built
  # shellcheck disable=SC2046
  (cd "$WORKDIR" && dotnet "$DLL" "$@" $(server_args))
}

if [ -n "$NODES" ]; then
  cluster_main "$@"
  exit $?
fi

case "${1:-}" in
  start)
    mkdir -p "$WORKDIR"
    if pid="$(running_pid)"; then echo "server.sh: already running (pid $pid)"; exit 0; fi
    ensure_built
    # a port taken at start is tried again twice, 3 s apart: the harness's fixed ports lie partly inside Linux's
    # ephemeral range (32768-60999), where an outgoing connection of another test may hold one for a moment (CI
    # lost an interop run to its HTTP port taken that way); a port still taken after that is an error
    for attempt in 1 2 3; do
      # shellcheck disable=SC2046
      (cd "$WORKDIR" && exec setsid dotnet "$DLL" $(server_args) >"$LOG" 2>&1 < /dev/null) &
      echo $! > "$PID_FILE"
      pid="$(cat "$PID_FILE")"
      for _ in $(seq 1 600); do
        kill -0 "$pid" 2>/dev/null || break
        if port_open && [ -S "$WORKDIR/data/admin.sock" ]; then break; fi
        sleep 0.1
      done
      kill -0 "$pid" 2>/dev/null && break # up (or hung: the wait below reports it)
      if [ "$attempt" -lt 3 ] && grep -q '^error: cannot listen' "$LOG"; then
        echo "server.sh: a port was taken ($(grep -m 1 '^error: cannot listen' "$LOG" | cut -c1-200)); trying again in 3 s" >&2
        sleep 3
      else
        break
      fi
    done
    for _ in $(seq 1 600); do
      if ! kill -0 "$pid" 2>/dev/null; then
        echo "server.sh: the server exited during start; $(start_failure "$LOG")" >&2; rm -f "$PID_FILE"; exit 1
      fi
      if port_open && [ -S "$WORKDIR/data/admin.sock" ]; then exit 0; fi
      sleep 0.1
    done
    echo "server.sh: the server did not accept connections within 60 s; $(start_failure "$LOG")" >&2
    kill -KILL "$pid" 2>/dev/null || true; rm -f "$PID_FILE"; exit 1
    ;;
  stop)
    pid="$(running_pid)" || { rm -f "$PID_FILE"; exit 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || { rm -f "$PID_FILE"; exit 0; }; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
    ;;
  pid)
    running_pid || die "not running"
    ;;
  adduser)
    [ $# -eq 3 ] || die "usage: server.sh adduser USER PASS"
    mkdir -p "$WORKDIR"
    cli user add "$2" "$3" >/dev/null
    ;;
  bulk-users)
    [ $# -ge 4 ] && [ $# -le 5 ] || die "usage: server.sh bulk-users N PREFIX PASS [START]"
    mkdir -p "$WORKDIR"
    cli user bulk "$2" "$3" "$4" "${5:-0}"
    ;;
  info)
    echo "DOMAIN=$DOMAIN"
    echo "HOST=$HOST"
    echo "C2S_PORT=$PORT"
    echo "DIRECT_TLS_PORT=$DIRECT_TLS_PORT"
    echo "HTTP_PORT=$HTTP_PORT"
    echo "WS_URL=ws://$HOST:$HTTP_PORT/xmpp-websocket"
    echo "BOSH_URL=http://$HOST:$HTTP_PORT/http-bind"
    echo "TLS_REQUIRED=$TLS_REQUIRED"
    echo "REGISTRATION=$REGISTRATION"
    echo "LOOPBACK_LIMITS=$LOOPBACK_LIMITS"
    echo "MUC_SERVICE=conference.$DOMAIN"
    echo "PUBSUB=pubsub.$DOMAIN"
    echo "COMPONENT_PORT=$COMPONENT_PORT"
    echo "COMPONENT_DOMAIN=$COMPONENT_DOMAIN"
    echo "COMPONENT_SECRET=$COMPONENT_SECRET"
    echo "S2S_PORT=$S2S_PORT"
    echo "S2S_TLS_PORT=$S2S_TLS_PORT"
    echo "S2S_BIDI=$S2S_BIDI"
    echo "UPLOAD_SERVICE=upload.$DOMAIN"
    echo "METRICS_URL=http://$HOST:$METRICS_PORT/metrics"
    echo "ADMIN_URL=http://$HOST:$HTTP_PORT/admin/"
    echo "ADMINS=$ADMINS"
    echo "MQTT_PORT=$MQTT_PORT"
    echo "MQTTS_PORT=$MQTTS_PORT"
    echo "TURN_PORT=$TURN_PORT"
    echo "TURNS_PORT=$TURNS_PORT"
    echo "TURN_SECRET=$TURN_SECRET"
    echo "THING_REGISTRY=discovery.$DOMAIN"
    echo "PROXY65_SERVICE=proxy.$DOMAIN"
    echo "PROXY65_PORT=$PROXY65_PORT"
    echo "WORKDIR=$WORKDIR"
    ;;
  *)
    echo "usage: server.sh start|stop|pid|info|adduser USER PASS|bulk-users N PREFIX PASS [START]" >&2
    exit 2
    ;;
esac
