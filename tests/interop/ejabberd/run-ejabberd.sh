#!/usr/bin/env bash
# Starts a private ejabberd (Debian package `ejabberd`), the one configuration every test that drives ejabberd uses: the
# federation peer of tests/interop/test_rfc6120_s2s_peers.py and the XEP-0227 exporter of
# tests/Actors.Plugins.Tests/Ejabberd.cs.
#   run-ejabberd.sh start WORKDIR DOMAIN HOST C2S_PORT S2S_PORT [PEER_DOMAIN PEER_HOST PEER_S2S_PORT] | stop WORKDIR
#   EJABBERD_ACCOUNTS="user:password ..."  accounts registered at start (default: alice:alice-pw)
#   EJABBERD_EVAL="Erlang expressions."     evaluated in the node once it runs (tests add their own hooks)
# The BEAM runs directly (no ejabberdctl, no Erlang distribution, no epmd), with its config, Mnesia spool and logs in
# WORKDIR. Clients: STARTTLS offered, not required; SCRAM-stored passwords. Server-to-server: STARTTLS required both
# ways (s2s_use_starttls: required), a self-signed certificate for DOMAIN made here with openssl, so peers authenticate
# with dialback (mod_s2s_dialback) over TLS (XEP-0344). ejabberd has no static routes, and its resolver asks SRV
# records of the BEAM's DNS client (inet_res) and addresses of the C library (net:getaddrinfo, /etc/hosts). So the BEAM
# runs in a private mount namespace (unshare; as a user namespace's root when not run as root: no root needed) where
# WORKDIR/hosts, naming PEER_DOMAIN's address, is bind-mounted over /etc/hosts, and its private inetrc (ERL_INETRC)
# reads no /etc/resolv.conf (no nameserver: SRV queries fail at once, and RFC 6120 §3.2.2's fallback to the domain
# itself on outgoing_s2s_port follows). No DNS server, no network, nothing changed outside the namespace.
set -euo pipefail
case "${1:-}" in
  start)
    WORKDIR="$2" DOMAIN="$3" HOST="$4" C2S="$5" S2S="$6" PEER="${7:-}" PEER_HOST="${8:-}" PEER_PORT="${9:-5269}"
    mkdir -p "$WORKDIR/spool" "$WORKDIR/log"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj "/CN=$DOMAIN" \
      -addext "subjectAltName=DNS:$DOMAIN" -keyout "$WORKDIR/key.pem" -out "$WORKDIR/cert.pem" 2>/dev/null
    cat "$WORKDIR/cert.pem" "$WORKDIR/key.pem" > "$WORKDIR/server.pem"
    printf '{resolv_conf, ""}.\n{lookup, [file, dns]}.\n' > "$WORKDIR/inetrc"
    { echo "127.0.0.1 localhost"; [ -z "$PEER" ] || echo "$PEER_HOST $PEER"; } > "$WORKDIR/hosts"
    chmod 644 "$WORKDIR/hosts"
    cat > "$WORKDIR/ejabberd.yml" <<CFG
hosts:
  - "$DOMAIN"
loglevel: ${EJABBERD_LOGLEVEL:-info}
certfiles:
  - "$WORKDIR/server.pem"
listen:
  -
    port: $C2S
    ip: "$HOST"
    module: ejabberd_c2s
    starttls: true
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
auth_password_format: scram
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
modules:
  mod_roster: {}
  mod_vcard: {}
  mod_private: {}
  mod_offline: {}
  mod_disco: {}
  mod_ping: {}
  mod_s2s_dialback: {}
CFG
    EVAL=""
    for account in ${EJABBERD_ACCOUNTS:-alice:alice-pw}; do
      EVAL+="ok = ejabberd_auth:try_register(<<\"${account%%:*}\">>, <<\"$DOMAIN\">>, <<\"${account#*:}\">>), "
    done
    EVAL+="file:write_file(\"$WORKDIR/registered\", <<>>), ${EJABBERD_EVAL:-ok}."
    CTL="$(command -v ejabberdctl || echo /usr/sbin/ejabberdctl)"
    ERL_LIBS="$(sed -n "s/^ERL_LIBS='\(.*\)'/\1/p" "$CTL" | head -1)"
    export ERL_LIBS="${ERL_LIBS:-/usr/lib/x86_64-linux-gnu}"
    (
      cd "$WORKDIR"
      export EJABBERD_CONFIG_PATH="$WORKDIR/ejabberd.yml" EJABBERD_LOG_PATH="$WORKDIR/log/ejabberd.log" \
             ERL_CRASH_DUMP="$WORKDIR/log/erl_crash.dump" ERL_CRASH_DUMP_BYTES=0 ERL_INETRC="$WORKDIR/inetrc"
      unset EJABBERD_PID_PATH
      NAMESPACE=(unshare --mount)
      [ "$(id -u)" = 0 ] || NAMESPACE=(unshare --user --map-root-user --mount)
      exec setsid "${NAMESPACE[@]}" sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$WORKDIR/hosts" erl -noinput -noshell +K true -mnesia dir "\"$WORKDIR/spool\"" -s ejabberd -eval "$EVAL" \
        >"$WORKDIR/stdout.log" 2>&1 < /dev/null
    ) &
    echo $! > "$WORKDIR/runner.pid"
    for _ in $(seq 1 450); do
      if [ -f "$WORKDIR/registered" ] && (exec 3<>"/dev/tcp/$HOST/$C2S") 2>/dev/null && (exec 3<>"/dev/tcp/$HOST/$S2S") 2>/dev/null; then
        exit 0
      fi
      kill -0 "$(cat "$WORKDIR/runner.pid")" 2>/dev/null || break
      sleep 0.2
    done
    echo "run-ejabberd.sh: ejabberd did not start on $HOST:$C2S/$S2S; see $WORKDIR" >&2
    tail -20 "$WORKDIR/stdout.log" "$WORKDIR/log/ejabberd.log" >&2 || true
    "$0" stop "$WORKDIR"
    exit 1
    ;;
  stop)
    WORKDIR="$2"
    [ -f "$WORKDIR/runner.pid" ] || exit 0
    pid="$(cat "$WORKDIR/runner.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    ;;
  *) echo "usage: run-ejabberd.sh start WORKDIR DOMAIN HOST C2S_PORT S2S_PORT [PEER_DOMAIN PEER_HOST PEER_S2S_PORT] | stop WORKDIR" >&2; exit 2 ;;
esac
