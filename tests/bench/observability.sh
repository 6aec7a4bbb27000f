#!/usr/bin/env bash
# Server CPU per chat message with metrics and tracing off vs on (issue 16: at most 5 % more), through the project's
# harness and ../shared/bench's load generator. Alternates off/on each round (on/off in even rounds), a fresh server
# per run; prints each run's CPU µs per message and the medians.
#
#   tests/bench/observability.sh [ROUNDS=3]
#
#   off: XMPP_METRICS_PORT=-1, no tracing (no meter listener, no ActivitySource listener)
#   on:  the harness's metrics endpoint (Prometheus, scraped every 5 s as a Prometheus would) and traces of every
#        stanza (Xmpp:Tracing:SampleRatio 1) pushed with OTLP/HTTP to a local sink that reads and discards them
#
# Environment: BENCH_N (400 sessions), BENCH_PAIRS (200), BENCH_SECONDS (15), BENCH_PORT (c2s port, 17223; the metrics
# endpoint on BENCH_PORT+70, the OTLP sink on BENCH_PORT+201), BENCH_WORKDIR (/tmp/actors-obs-bench), BENCH_PYTHON.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ROUNDS="${1:-3}"
N="${BENCH_N:-400}"
PAIRS="${BENCH_PAIRS:-200}"
SECONDS_CHAT="${BENCH_SECONDS:-15}"
PORT="${BENCH_PORT:-17223}"
SINK_PORT=$((PORT + 201))
W="${BENCH_WORKDIR:-/tmp/actors-obs-bench}"
PY="${BENCH_PYTHON:-python3}"
# ../shared beside the project's checkout (a worktree under wt/ has it two levels up)
LOADGEN="${LOADGEN:-}"
for candidate in "$ROOT/../shared/bench/loadgen.py" "$ROOT/../../shared/bench/loadgen.py"; do
  [ -z "$LOADGEN" ] && [ -f "$candidate" ] && LOADGEN="$candidate"
done
[ -f "$LOADGEN" ] || { echo "no load generator at $LOADGEN (set LOADGEN)" >&2; exit 1; }
mkdir -p "$W"
OUT="$W/results.jsonl"

# the OTLP sink: answers every POST with 200 after reading its body
"$PY" - "$SINK_PORT" >"$W/sink.log" 2>&1 <<'PYEOF' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PYEOF
SINK_PID=$!
SCRAPER_PID=""
cleanup() {
  [ -n "$SCRAPER_PID" ] && kill "$SCRAPER_PID" 2>/dev/null || true
  kill "$SINK_PID" 2>/dev/null || true
  for mode in off on; do XMPP_WORKDIR="$W/$mode" XMPP_PORT="$PORT" "$ROOT/tests/harness/server.sh" stop >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

h() {  # h MODE VERB...: the harness with this mode's configuration
  local mode="$1"; shift
  if [ "$mode" = on ]; then
    env XMPP_WORKDIR="$W/on" XMPP_PORT="$PORT" XMPP_TLS_REQUIRED=false \
      XMPP_TRACING_OTLP="http://127.0.0.1:$SINK_PORT/v1/traces" XMPP_TRACING_PROTOCOL=http/protobuf "$ROOT/tests/harness/server.sh" "$@"
  else
    env XMPP_WORKDIR="$W/off" XMPP_PORT="$PORT" XMPP_TLS_REQUIRED=false XMPP_METRICS_PORT=-1 "$ROOT/tests/harness/server.sh" "$@"
  fi
}

for mode in off on; do
  if [ ! -f "$W/$mode/.users" ]; then
    h "$mode" start >/dev/null
    h "$mode" bulk-users "$N" obs secret 0 >/dev/null
    touch "$W/$mode/.users"
    h "$mode" stop >/dev/null
  fi
done

for r in $(seq 1 "$ROUNDS"); do
  order="off on"; [ $((r % 2)) -eq 0 ] && order="on off"
  for mode in $order; do
    h "$mode" start >/dev/null
    if [ "$mode" = on ]; then
      (while sleep 5; do curl -s -o /dev/null "http://127.0.0.1:$((PORT + 70))/metrics" || true; done) &
      SCRAPER_PID=$!
    fi
    "$PY" "$LOADGEN" run --host 127.0.0.1 --port "$PORT" --domain localhost --n "$N" --prefix obs --password secret \
      --server-pid "$(h "$mode" pid)" --server "actors-$mode" --label "observability $mode r$r" --hold 0 \
      --chat-pairs "$PAIRS" --chat-duration "$SECONDS_CHAT" --out "$OUT" >/dev/null
    if [ -n "$SCRAPER_PID" ]; then kill "$SCRAPER_PID" 2>/dev/null || true; SCRAPER_PID=""; fi
    h "$mode" stop >/dev/null
    tail -n 1 "$OUT" | "$PY" -c 'import json,sys; r=json.loads(sys.stdin.read()); c=r["chat"][0]; print(r["label"], "cpu_us_per_msg", c["server_cpu_us_per_msg"], "msgs/s", c.get("delivered_per_s", c.get("rate")))'
  done
done

"$PY" - "$OUT" <<'PYEOF'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if not r.get("label", "").startswith("observability") or "chat" not in r: continue
    runs.setdefault(r["server"], []).append(r["chat"][0]["server_cpu_us_per_msg"])
off, on = statistics.median(runs["actors-off"]), statistics.median(runs["actors-on"])
print(f"median CPU µs per message: off {off:.2f} ({len(runs['actors-off'])} runs), on {on:.2f} ({len(runs['actors-on'])} runs): {100 * (on - off) / off:+.1f} %")
PYEOF
