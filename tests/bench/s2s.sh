#!/usr/bin/env bash
# s2s benchmark (issue 12): messages/s and server CPU per message over one federated link, this server
# (actors.test, release build through tests/harness/server.sh) against each peer: a second instance of this server,
# Prosody and ejabberd (Debian packages, private instances through tests/interop/*/run-*.sh with their default
# s2s: STARTTLS required, self-signed certificates, dialback over TLS), in both directions.
#
#   tests/bench/s2s.sh [MESSAGES (20000)] [WINDOW (500)] [PEERS ("actors prosody ejabberd")]
#
# One JSON line per run (tests/bench/s2s.py): msgs_per_s, lost, cpu_us_per_msg of each server process. Ports:
# BENCH_S2S_PORT (37222) for this server's c2s (s2s on +47), +100 for the second instance; Prosody on 127.0.0.2
# (37422, 37469), ejabberd on 127.0.0.3 (37522, 37569). Everything stops at the end; workdirs under .work/bench-s2s.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MESSAGES="${1:-20000}" WINDOW="${2:-500}" PEERS="${3:-actors prosody ejabberd}"
BASE="${BENCH_S2S_PORT:-37222}"
WORK="$ROOT/.work/bench-s2s"
SERVER="$ROOT/tests/harness/server.sh"
rm -rf "$WORK"; mkdir -p "$WORK"
A_PORT=$BASE A_S2S=$((BASE + 47)) B_PORT=$((BASE + 100)) B_S2S=$((BASE + 147))
P_C2S=$((BASE + 200)) P_S2S=$((BASE + 247)) E_C2S=$((BASE + 300)) E_S2S=$((BASE + 347))
ROUTES="actors2.test=127.0.0.1:$B_S2S,prosody.test=127.0.0.2:$P_S2S,ejabberd.test=127.0.0.3:$E_S2S"

instance() { # PORT DOMAIN ROUTES COMMAND...
  local port="$1" domain="$2" routes="$3"; shift 3
  env XMPP_WORKDIR="$WORK/actors-$port" XMPP_PORT="$port" XMPP_DOMAIN="$domain" XMPP_TLS_REQUIRED=false \
    XMPP_S2S_PORT="$((port + 47))" XMPP_S2S_ROUTES="$routes" "$SERVER" "$@"
}
cleanup() {
  instance "$A_PORT" actors.test "$ROUTES" stop >/dev/null 2>&1 || true
  instance "$B_PORT" actors2.test "" stop >/dev/null 2>&1 || true
  "$ROOT/tests/interop/prosody/run-prosody.sh" stop "$WORK/prosody" || true
  "$ROOT/tests/interop/ejabberd/run-ejabberd.sh" stop "$WORK/ejabberd" || true
}
trap cleanup EXIT

instance "$A_PORT" actors.test "$ROUTES" start >/dev/null
instance "$A_PORT" actors.test "$ROUTES" adduser bob bob-pw >/dev/null
A_PID="$(instance "$A_PORT" actors.test "$ROUTES" pid)"
for peer in $PEERS; do
  case "$peer" in
    actors)
      instance "$B_PORT" actors2.test "actors.test=127.0.0.1:$A_S2S" start >/dev/null
      instance "$B_PORT" actors2.test "" adduser alice alice-pw >/dev/null
      PEER_PID="$(instance "$B_PORT" actors2.test "" pid)" PEER="127.0.0.1:$B_PORT:alice@actors2.test:alice-pw" NAME=actors2 ;;
    prosody)
      PROSODY_LOG_LEVEL=warn "$ROOT/tests/interop/prosody/run-prosody.sh" start "$WORK/prosody" prosody.test 127.0.0.2 \
        "$P_C2S" "$P_S2S" actors.test 127.0.0.1 "$A_S2S"
      for _ in $(seq 1 50); do [ -s "$WORK/prosody/prosody.pid" ] && break; sleep 0.1; done
      PEER_PID="$(cat "$WORK/prosody/prosody.pid")" PEER="127.0.0.2:$P_C2S:alice@prosody.test:alice-pw" NAME=prosody ;;
    ejabberd)
      EJABBERD_LOGLEVEL=warning "$ROOT/tests/interop/ejabberd/run-ejabberd.sh" start "$WORK/ejabberd" ejabberd.test 127.0.0.3 \
        "$E_C2S" "$E_S2S" actors.test 127.0.0.1 "$A_S2S"
      PEER_PID="$(cat "$WORK/ejabberd/runner.pid")" PEER="127.0.0.3:$E_C2S:alice@ejabberd.test:alice-pw" NAME=ejabberd ;;
    *) echo "s2s.sh: unknown peer $peer" >&2; exit 2 ;;
  esac
  OURS="127.0.0.1:$A_PORT:bob@actors.test:bob-pw"
  echo "{\"peer\": \"$NAME\", \"direction\": \"actors->$NAME\"}"
  /usr/bin/python3 "$ROOT/tests/bench/s2s.py" --sender "$OURS" --receiver "$PEER" --messages "$MESSAGES" --window "$WINDOW" \
    --pid "actors=$A_PID" --pid "$NAME=$PEER_PID"
  echo "{\"peer\": \"$NAME\", \"direction\": \"$NAME->actors\"}"
  /usr/bin/python3 "$ROOT/tests/bench/s2s.py" --sender "$PEER" --receiver "$OURS" --messages "$MESSAGES" --window "$WINDOW" \
    --pid "actors=$A_PID" --pid "$NAME=$PEER_PID"
done
