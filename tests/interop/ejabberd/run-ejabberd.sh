#!/usr/bin/env bash
# Starts a private ejabberd (Debian package `ejabberd`) as a federation peer for tests/interop/test_rfc6120_s2s_ejabberd.py:
#   run-ejabberd.sh start WORKDIR DOMAIN HOST C2S_PORT S2S_PORT PEER_DOMAIN PEER_HOST PEER_S2S_PORT | stop WORKDIR
# The BEAM runs directly (no ejabberdctl, no Erlang distribution, no epmd), with its own config, spool and logs in WORKDIR.
# Server-to-server: STARTTLS required both ways (s2s_use_starttls: required), a self-signed certificate for DOMAIN made
# here with openssl, dialback (mod_s2s_dialback) for peers whose certificates do not verify (XEP-0344). ejabberd has
# no static routes and resolves with inet_res only (no hosts file): a private inetrc (ERL_INETRC) points it at
# tiny_dns.py on HOST:DNS_PORT (S2S_PORT+1), which answers PEER_DOMAIN's A record with PEER_HOST and nothing else,
# and outgoing streams go to PEER_S2S_PORT (outgoing_s2s_port). Clients use plain TCP; alice (alice-pw) is registered in-band (XEP-0077).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case "${1:-}" in
  start)
    WORKDIR="$2" DOMAIN="$3" HOST="$4" C2S="$5" S2S="$6" PEER="$7" PEER_HOST="$8" PEER_PORT="$9"
    mkdir -p "$WORKDIR/spool" "$WORKDIR/log"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj "/CN=$DOMAIN" \
      -addext "subjectAltName=DNS:$DOMAIN" -keyout "$WORKDIR/key.pem" -out "$WORKDIR/cert.pem" 2>/dev/null
    cat "$WORKDIR/cert.pem" "$WORKDIR/key.pem" > "$WORKDIR/server.pem"
    DNS_PORT=$((S2S + 1))
    setsid /usr/bin/python3 "$HERE/tiny_dns.py" "$HOST" "$DNS_PORT" "$PEER" "$PEER_HOST" >"$WORKDIR/dns.log" 2>&1 < /dev/null &
    echo $! > "$WORKDIR/dns.pid"
    IFS=. read -r a b c d <<< "$HOST"
    cat > "$WORKDIR/inetrc" <<RC
{nameserver, {$a,$b,$c,$d}, $DNS_PORT}.
{lookup, [dns]}.
RC
    cat > "$WORKDIR/ejabberd.yml" <<CFG
hosts:
  - "$DOMAIN"
loglevel: info
certfiles:
  - "$WORKDIR/server.pem"
listen:
  -
    port: $C2S
    ip: "$HOST"
    module: ejabberd_c2s
    starttls: false
  -
    port: $S2S
    ip: "$HOST"
    module: ejabberd_s2s_in
s2s_use_starttls: required
outgoing_s2s_port: $PEER_PORT
outgoing_s2s_families:
  - ipv4
s2s_dns_timeout: 2
s2s_dns_retries: 1
auth_method: internal
auth_password_format: plain
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
  mod_s2s_dialback: {}
  mod_register:
    access: register
    ip_access: all
CFG
    CTL="$(command -v ejabberdctl)"
    export ERL_LIBS="$(sed -n "s/^ERL_LIBS='\(.*\)'/\1/p" "$CTL" | head -1)"
    (
      cd "$WORKDIR"
      export EJABBERD_CONFIG_PATH="$WORKDIR/ejabberd.yml" EJABBERD_LOG_PATH="$WORKDIR/log/ejabberd.log" \
             ERL_CRASH_DUMP="$WORKDIR/log/erl_crash.dump" ERL_CRASH_DUMP_BYTES=0 ERL_INETRC="$WORKDIR/inetrc"
      unset EJABBERD_PID_PATH
      exec setsid erl -noinput -noshell +K true -mnesia dir "\"$WORKDIR/spool\"" -s ejabberd >"$WORKDIR/stdout.log" 2>&1 < /dev/null
    ) &
    echo $! > "$WORKDIR/runner.pid"
    for _ in $(seq 1 300); do
      if (exec 3<>"/dev/tcp/$HOST/$C2S") 2>/dev/null && (exec 3<>"/dev/tcp/$HOST/$S2S") 2>/dev/null; then
        # XEP-0077 in-band registration of alice, before any authentication
        /usr/bin/python3 - "$HOST" "$C2S" "$DOMAIN" <<'PY'
import socket, sys, time
host, port, domain = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=10)
s.sendall(f"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' version='1.0'>".encode())
buf = b""
deadline = time.time() + 10
while b"</stream:features>" not in buf and time.time() < deadline:
    buf += s.recv(4096)
s.sendall(b"<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>alice</username><password>alice-pw</password></query></iq>")
buf = b""
while b"reg1" not in buf and time.time() < deadline:
    buf += s.recv(4096)
if b"type='result'" not in buf and b'type="result"' not in buf and b"conflict" not in buf:
    sys.exit("registration of alice failed: " + buf.decode(errors="replace"))
s.close()
PY
        exit 0
      fi
      sleep 0.2
    done
    echo "run-ejabberd.sh: ejabberd did not listen on $HOST:$C2S/$S2S; see $WORKDIR" >&2
    tail -20 "$WORKDIR/stdout.log" "$WORKDIR/log/ejabberd.log" >&2 || true
    exit 1
    ;;
  stop)
    WORKDIR="$2"
    [ -f "$WORKDIR/dns.pid" ] && kill -TERM "$(cat "$WORKDIR/dns.pid")" 2>/dev/null || true
    [ -f "$WORKDIR/runner.pid" ] || exit 0
    pid="$(cat "$WORKDIR/runner.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    ;;
  *) echo "usage: run-ejabberd.sh start WORKDIR DOMAIN HOST C2S_PORT S2S_PORT PEER_DOMAIN PEER_HOST PEER_S2S_PORT | stop WORKDIR" >&2; exit 2 ;;
esac
