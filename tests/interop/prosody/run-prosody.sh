#!/usr/bin/env bash
# Starts a private Prosody (Debian package `prosody`) as a federation peer for tests/interop/test_rfc6120_s2s_peers.py:
#   run-prosody.sh start WORKDIR DOMAIN HOST C2S_PORT S2S_PORT PEER_DOMAIN PEER_HOST PEER_S2S_PORT | stop WORKDIR
# Prosody's s2s defaults: TLS required both ways (s2s_require_encryption), certificates verified but not required to be
# valid (s2s_secure_auth = false), so with self-signed certificates on both sides the servers authenticate with dialback
# over TLS (XEP-0344); a self-signed certificate for DOMAIN made here with openssl; a static route to the peer
# (mod_static_s2s_routes next to this script); accounts created with prosodyctl. Clients use plain TCP. XEP-0288
# bidirectional streams on (mod_s2s_bidi, Prosody 0.12's own). PROSODY_EXTRA_HOST (optional) is a second VirtualHost,
# named in the same certificate, with the same alice account: a domain pair of its own for a test that needs a fresh
# s2s connection.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case "${1:-}" in
  start)
    WORKDIR="$2" DOMAIN="$3" HOST="$4" C2S="$5" S2S="$6" PEER="$7" PEER_HOST="$8" PEER_PORT="$9"
    EXTRA="${PROSODY_EXTRA_HOST:-}"
    mkdir -p "$WORKDIR/data"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj "/CN=$DOMAIN" \
      -addext "subjectAltName=DNS:$DOMAIN${EXTRA:+,DNS:$EXTRA}" -keyout "$WORKDIR/$DOMAIN.key" -out "$WORKDIR/$DOMAIN.crt" 2>/dev/null
    cat > "$WORKDIR/prosody.cfg.lua" <<CFG
pidfile = "$WORKDIR/prosody.pid"
data_path = "$WORKDIR/data"
plugin_paths = { "$HERE" }
daemonize = false
run_as_root = true -- CI runs as root; the test owns this private instance
log = { ${PROSODY_LOG_LEVEL:-debug} = "$WORKDIR/prosody.log" }
interfaces = { "$HOST" }
c2s_ports = { $C2S }
s2s_ports = { $S2S }
c2s_direct_tls_ports = { }
s2s_direct_tls_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
ssl = { certificate = "$WORKDIR/$DOMAIN.crt", key = "$WORKDIR/$DOMAIN.key" }
modules_enabled = { "roster", "saslauth", "tls", "dialback", "s2s_bidi", "disco", "ping", "presence", "message", "iq", "static_s2s_routes" }
static_s2s_routes = { ["$PEER"] = { "$PEER_HOST", $PEER_PORT } }
VirtualHost "$DOMAIN"
CFG
    if [ -n "$EXTRA" ]; then echo "VirtualHost \"$EXTRA\"" >> "$WORKDIR/prosody.cfg.lua"; fi
    for host in "$DOMAIN" $EXTRA; do
      prosodyctl --config "$WORKDIR/prosody.cfg.lua" register alice "$host" alice-pw >/dev/null 2>&1 || true
    done
    setsid prosody --config "$WORKDIR/prosody.cfg.lua" -F >"$WORKDIR/stdout.log" 2>&1 < /dev/null &
    echo $! > "$WORKDIR/runner.pid"
    for _ in $(seq 1 100); do
      (exec 3<>"/dev/tcp/$HOST/$C2S") 2>/dev/null && (exec 3<>"/dev/tcp/$HOST/$S2S") 2>/dev/null && exit 0
      sleep 0.1
    done
    echo "run-prosody.sh: prosody did not listen on $HOST:$C2S/$S2S; see $WORKDIR" >&2; tail -20 "$WORKDIR/stdout.log" "$WORKDIR/prosody.log" >&2 || true
    exit 1
    ;;
  stop)
    WORKDIR="$2"
    [ -f "$WORKDIR/runner.pid" ] || exit 0
    pid="$(cat "$WORKDIR/runner.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    ;;
  *) echo "usage: run-prosody.sh start WORKDIR DOMAIN HOST C2S_PORT S2S_PORT PEER_DOMAIN PEER_HOST PEER_S2S_PORT | stop WORKDIR" >&2; exit 2 ;;
esac
