#!/usr/bin/env bash
# s2s benchmark (issue 12): messages/s and server CPU per message over one federated link, this server
# (actors.test, release build through tests/harness/server.sh) against each peer: a second instance of this server,
# Prosody and ejabberd (Debian packages, private instances through tests/interop/*/run-*.sh with their default
# s2s: STARTTLS required, self-signed certificates, dialback over TLS), in both directions; and, as the pair to compare
# with two instances of this server, two ejabberd instances federating with each other (peer `ejabberd-pair`).
#
#   tests/bench/s2s.sh [MESSAGES (20000)] [WINDOW (500)] [PEERS ("actors prosody ejabberd")]
#   BENCH_S2S_RATE=R tests/bench/s2s.sh MESSAGES 0 "actors ejabberd-pair"   # a fixed rate: latency p50/p99
#
# One JSON line per run (tests/bench/s2s.py): msgs_per_s, lost, cpu_us_per_msg of each server process and their sum;
# with BENCH_S2S_RATE, messages go at that fixed rate (WINDOW is ignored) and latency_ms has p50, p99 and max. Ports:
# BENCH_S2S_PORT (37222) for this server's c2s (s2s on +47), +100 for the second instance; Prosody on 127.0.0.2
# (37422, 37469), ejabberd on 127.0.0.3 (37522, 37569); the ejabberd pair on 127.0.0.4 and 127.0.0.5 (37622/37669,
# 37722/37769). Everything stops at the end; workdirs under .work/bench-s2s.
# BENCH_S2S_ARCHIVE=off (the default) runs this server with --Xmpp:Mam:Default=never: the peers here archive nothing
# (run-ejabberd.sh loads no mod_mam; Prosody's run-prosody.sh no mod_mam), and this server's default archives every
# chat message on both sides (XEP-0313), a journal write per message each; =default keeps this server's default.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MESSAGES="${1:-20000}" WINDOW="${2:-500}" PEERS="${3:-actors prosody ejabberd}"
BASE="${BENCH_S2S_PORT:-37222}"
WORK="$ROOT/.work/bench-s2s"
SERVER="$ROOT/tests/harness/server.sh"
rm -rf "$WORK"; mkdir -p "$WORK"
A_PORT=$BASE A_S2S=$((BASE + 47)) B_PORT=$((BASE + 100)) B_S2S=$((BASE + 147))
P_C2S=$((BASE + 200)) P_S2S=$((BASE + 247)) E_C2S=$((BASE + 300)) E_S2S=$((BASE + 347))
EA_C2S=$((BASE + 400)) EA_S2S=$((BASE + 447)) EB_C2S=$((BASE + 500)) EB_S2S=$((BASE + 547))
PACING=(--window "$WINDOW"); [ -z "${BENCH_S2S_RATE:-}" ] || PACING=(--rate "$BENCH_S2S_RATE")
EJ="$ROOT/tests/interop/ejabberd/run-ejabberd.sh"
case "${BENCH_S2S_ARCHIVE:-off}" in
  off) ARCHIVE_ARGS="--Xmpp:Mam:Default=never" ;; default) ARCHIVE_ARGS="" ;;
  *) echo "s2s.sh: BENCH_S2S_ARCHIVE is off or default" >&2; exit 2 ;;
esac
ROUTES="actors2.test=127.0.0.1:$B_S2S,prosody.test=127.0.0.2:$P_S2S,ejabberd.test=127.0.0.3:$E_S2S"

instance() { # PORT DOMAIN ROUTES COMMAND...
  local port="$1" domain="$2" routes="$3"; shift 3
  env XMPP_EXTRA_ARGS="$ARCHIVE_ARGS" XMPP_WORKDIR="$WORK/actors-$port" XMPP_PORT="$port" XMPP_DOMAIN="$domain" XMPP_TLS_REQUIRED=false \
    XMPP_S2S_PORT="$((port + 47))" XMPP_S2S_ROUTES="$routes" "$SERVER" "$@"
}
cleanup() {
  instance "$A_PORT" actors.test "$ROUTES" stop >/dev/null 2>&1 || true
  instance "$B_PORT" actors2.test "" stop >/dev/null 2>&1 || true
  "$ROOT/tests/interop/prosody/run-prosody.sh" stop "$WORK/prosody" || true
  for e in ejabberd ejabberd-a ejabberd-b; do "$EJ" stop "$WORK/$e" || true; done
}
trap cleanup EXIT

instance "$A_PORT" actors.test "$ROUTES" start >/dev/null
instance "$A_PORT" actors.test "$ROUTES" adduser bob bob-pw >/dev/null
A_PID="$(instance "$A_PORT" actors.test "$ROUTES" pid)"
run() { # SENDER RECEIVER PID...
  local from="$1" to="$2"; shift 2
  local pids=(); for p in "$@"; do pids+=(--pid "$p"); done
  /usr/bin/python3 "$ROOT/tests/bench/s2s.py" --sender "$from" --receiver "$to" --messages "$MESSAGES" "${PACING[@]}" "${pids[@]}"
}
for peer in $PEERS; do
  case "$peer" in
    ejabberd-pair) # two ejabberd instances, each the other's peer: the figure to set beside actors.test <-> actors2.test
      EJABBERD_LOGLEVEL=warning "$EJ" start "$WORK/ejabberd-a" ejabberd-a.test 127.0.0.4 "$EA_C2S" "$EA_S2S" ejabberd-b.test 127.0.0.5 "$EB_S2S"
      EJABBERD_LOGLEVEL=warning EJABBERD_ACCOUNTS="bob:bob-pw" "$EJ" start "$WORK/ejabberd-b" ejabberd-b.test 127.0.0.5 "$EB_C2S" "$EB_S2S" ejabberd-a.test 127.0.0.4 "$EA_S2S"
      EA="127.0.0.4:$EA_C2S:alice@ejabberd-a.test:alice-pw" EB="127.0.0.5:$EB_C2S:bob@ejabberd-b.test:bob-pw"
      EA_PID="$(cat "$WORK/ejabberd-a/runner.pid")" EB_PID="$(cat "$WORK/ejabberd-b/runner.pid")"
      echo '{"peer": "ejabberd-pair", "direction": "ejabberd-a->ejabberd-b"}'
      run "$EA" "$EB" "ejabberd-a=$EA_PID" "ejabberd-b=$EB_PID"
      echo '{"peer": "ejabberd-pair", "direction": "ejabberd-b->ejabberd-a"}'
      run "$EB" "$EA" "ejabberd-a=$EA_PID" "ejabberd-b=$EB_PID"
      "$EJ" stop "$WORK/ejabberd-a"; "$EJ" stop "$WORK/ejabberd-b"
      continue ;;
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
  run "$OURS" "$PEER" "actors=$A_PID" "$NAME=$PEER_PID"
  echo "{\"peer\": \"$NAME\", \"direction\": \"$NAME->actors\"}"
  run "$PEER" "$OURS" "actors=$A_PID" "$NAME=$PEER_PID"
done
