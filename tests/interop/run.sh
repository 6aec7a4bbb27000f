#!/usr/bin/env bash
# Interop suite: drives private Actors servers with a third-party client library (slixmpp).
#
#   tests/interop/run.sh [pytest args...]
#
# Starts two servers through tests/harness/server.sh, each with its own XMPP_WORKDIR under
# $ROOT/.work/interop-<port>:
#   main  XMPP_PORT (35222; direct TLS on +1), TLS required, no registration
#   open  INTEROP_OPEN_PORT (35224; direct TLS on +1), XMPP_TLS_REQUIRED=false, XMPP_REGISTRATION=true
# creates the test accounts on both, runs `/usr/bin/python3 -m pytest -q tests/interop`, always
# stops both servers, and exits with pytest's status.
#
# Environment: XMPP_HOST (127.0.0.1), XMPP_DOMAIN (localhost), XMPP_PORT (35222),
# INTEROP_OPEN_PORT (35224; 0 skips the second server and its tests), INTEROP_FEDERATION_PORT (35228: an
# actors.test instance federating with a private Prosody on 127.0.0.2 and a private ejabberd on 127.0.0.3, those of
# them that are installed; 0 skips it), INTEROP_KEEP_WORKDIR=1 keeps
# the work directories (logs) after the run, INTEROP_DEBUG=1 logs the XML streams.
# Needs Debian's python3-slixmpp and python3-pytest for /usr/bin/python3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SERVER="$ROOT/tests/harness/server.sh"
PYTHON=/usr/bin/python3

export XMPP_HOST="${XMPP_HOST:-127.0.0.1}"
export XMPP_DOMAIN="${XMPP_DOMAIN:-localhost}"
export XMPP_PORT="${XMPP_PORT:-35222}"
export XMPP_DIRECT_TLS_PORT="$((XMPP_PORT + 1))"
export INTEROP_OPEN_PORT="${INTEROP_OPEN_PORT:-35224}"

# Accounts (must match USERS in tests/interop/xmpp_helpers.py).
USERS=(alice:alice-pw bob:bob-pw carol:carol-pw dave:dave-pw)

"$PYTHON" -c 'import slixmpp, pytest' 2>/dev/null \
  || { echo "run.sh: $PYTHON needs slixmpp and pytest (apt-get install -y python3-slixmpp python3-pytest)" >&2; exit 2; }

port_busy() { (exec 3<>"/dev/tcp/$XMPP_HOST/$1") 2>/dev/null; }

STARTED=()
# Run server.sh for the instance on port $1 with extra environment from the remaining arguments.
instance() {
  local port="$1"; shift
  env XMPP_WORKDIR="$ROOT/.work/interop-$port" XMPP_PORT="$port" XMPP_DIRECT_TLS_PORT="$((port + 1))" "$@"
}

cleanup() {
  local status=$?
  if [ -n "${PROSODY_WORKDIR:-}" ]; then
    "$ROOT/tests/interop/prosody/run-prosody.sh" stop "$PROSODY_WORKDIR" || true
    if [ "${INTEROP_KEEP_WORKDIR:-0}" != 1 ] && [ "$status" -eq 0 ]; then rm -rf "$PROSODY_WORKDIR"; fi
  fi
  if [ -n "${EJABBERD_WORKDIR:-}" ]; then
    "$ROOT/tests/interop/ejabberd/run-ejabberd.sh" stop "$EJABBERD_WORKDIR" || true
    if [ "${INTEROP_KEEP_WORKDIR:-0}" != 1 ] && [ "$status" -eq 0 ]; then rm -rf "$EJABBERD_WORKDIR"; fi
  fi
  for port in "${STARTED[@]}"; do
    instance "$port" "$SERVER" stop || true
    if [ "${INTEROP_KEEP_WORKDIR:-0}" != 1 ] && [ "$status" -eq 0 ]; then rm -rf "$ROOT/.work/interop-$port"; fi
  done
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_instance() {
  local port="$1"; shift
  for p in "$port" "$((port + 1))"; do
    port_busy "$p" && { echo "run.sh: port $p on $XMPP_HOST is in use; set XMPP_PORT / INTEROP_OPEN_PORT" >&2; exit 2; }
  done
  rm -rf "$ROOT/.work/interop-$port"
  STARTED+=("$port")
  instance "$port" "$@" "$SERVER" start
  for u in "${USERS[@]}"; do
    instance "$port" "$@" "$SERVER" adduser "${u%%:*}" "${u#*:}"
  done
}

start_instance "$XMPP_PORT" XMPP_TLS_REQUIRED=true XMPP_REGISTRATION=false
if [ "$INTEROP_OPEN_PORT" != 0 ]; then
  start_instance "$INTEROP_OPEN_PORT" XMPP_TLS_REQUIRED=false XMPP_REGISTRATION=true
fi

# Federation with Prosody and ejabberd (Debian packages `prosody`, `ejabberd`; each skipped when not installed, all with
# INTEROP_FEDERATION_PORT=0): a third instance serving actors.test (client TLS optional, s2s TLS required, static routes
# to the peers), a private Prosody serving prosody.test on 127.0.0.2 with a static route back, and a private ejabberd
# serving ejabberd.test on 127.0.0.3 that finds actors.test as a hosts entry of its private inetrc; all use their
# default s2s settings (STARTTLS required) with self-signed certificates, so they authenticate with dialback over TLS.
export INTEROP_FEDERATION_PORT="${INTEROP_FEDERATION_PORT:-35228}"
if [ "$INTEROP_FEDERATION_PORT" != 0 ] && { command -v prosody >/dev/null || [ -x /usr/sbin/ejabberdctl ]; }; then
  export FED_DOMAIN=actors.test FED_PORT="$INTEROP_FEDERATION_PORT" FED_S2S_PORT="$((INTEROP_FEDERATION_PORT + 47))"
  FED_ROUTES=""
  if command -v prosody >/dev/null; then
    export PROSODY_DOMAIN=prosody.test PROSODY_HOST=127.0.0.2 PROSODY_C2S_PORT="${PROSODY_C2S_PORT:-35422}" PROSODY_S2S_PORT="${PROSODY_S2S_PORT:-35469}"
    export PROSODY_BIDI_DOMAIN=bidi.prosody.test
    PROSODY_WORKDIR="$ROOT/.work/interop-prosody"
    rm -rf "$PROSODY_WORKDIR"
    PROSODY_EXTRA_HOST="$PROSODY_BIDI_DOMAIN" "$ROOT/tests/interop/prosody/run-prosody.sh" start "$PROSODY_WORKDIR" "$PROSODY_DOMAIN" \
      "$PROSODY_HOST" "$PROSODY_C2S_PORT" "$PROSODY_S2S_PORT" "$FED_DOMAIN" "$XMPP_HOST" "$FED_S2S_PORT"
    FED_ROUTES="$PROSODY_DOMAIN=$PROSODY_HOST:$PROSODY_S2S_PORT,$PROSODY_BIDI_DOMAIN=$PROSODY_HOST:$PROSODY_S2S_PORT"
    # Prosody's self-signed certificate is trusted here, so its streams to us authenticate with SASL EXTERNAL
    # (XEP-0178) and need no dialback connection back; ours to it (it does not trust ours) use dialback over TLS
    FED_TRUSTED="$PROSODY_WORKDIR/$PROSODY_DOMAIN.crt"
  fi
  if [ -x /usr/sbin/ejabberdctl ]; then
    export EJABBERD_DOMAIN=ejabberd.test EJABBERD_HOST=127.0.0.3 EJABBERD_C2S_PORT="${EJABBERD_C2S_PORT:-35522}" EJABBERD_S2S_PORT="${EJABBERD_S2S_PORT:-35569}"
    EJABBERD_WORKDIR="$ROOT/.work/interop-ejabberd"
    rm -rf "$EJABBERD_WORKDIR"
    "$ROOT/tests/interop/ejabberd/run-ejabberd.sh" start "$EJABBERD_WORKDIR" "$EJABBERD_DOMAIN" "$EJABBERD_HOST" "$EJABBERD_C2S_PORT" \
      "$EJABBERD_S2S_PORT" "$FED_DOMAIN" "$XMPP_HOST" "$FED_S2S_PORT"
    FED_ROUTES="${FED_ROUTES:+$FED_ROUTES,}$EJABBERD_DOMAIN=$EJABBERD_HOST:$EJABBERD_S2S_PORT"
  fi
  start_instance "$FED_PORT" XMPP_DOMAIN="$FED_DOMAIN" XMPP_TLS_REQUIRED=false XMPP_REGISTRATION=false \
    XMPP_S2S_PORT="$FED_S2S_PORT" XMPP_S2S_ROUTES="$FED_ROUTES" XMPP_S2S_TRUSTED_CERTS="${FED_TRUSTED:-}"
  export FED_LOG="$ROOT/.work/interop-$FED_PORT/server.log"
fi

cd "$ROOT"
set +e
"$PYTHON" -m pytest -q -p no:cacheprovider tests/interop "$@"
status=$?
set -e
if [ "$status" -ne 0 ]; then
  for port in "${STARTED[@]}"; do echo "run.sh: server log kept in $ROOT/.work/interop-$port/server.log" >&2; done
fi
exit "$status"
