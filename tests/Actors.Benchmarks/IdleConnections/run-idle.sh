#!/usr/bin/env bash
# Idle-connection memory: ours vs Akka.Streams graph (plain TCP), and ours with direct TLS,
# N = 1,000 and 10,000, 3 runs each.
# Usage: tests/Actors.Benchmarks/IdleConnections/run-idle.sh [runs] [out.log]
set -euo pipefail
cd "$(dirname "$0")/../../.."
runs=${1:-3}
out=${2:-/tmp/idle-results.log}
ulimit -n 20000
dotnet build -c Release tests/Actors.Benchmarks -v q -nologo >/dev/null
bin=tests/Actors.Benchmarks/bin/Release/net10.0/Actors.Benchmarks
: > "$out"
for n in 1000 10000; do
  for run in $(seq 1 "$runs"); do
    for spec in "ours" "streams" "ours --tls"; do
      # shellcheck disable=SC2086
      "$bin" idle --mode $spec --n "$n" | tee -a "$out"
    done
  done
done
echo "--- medians (KiB per idle connection) ---"
python3 - "$out" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if not line.startswith("RESULT"): continue
    kv = dict(p.split("=") for p in line.split()[1:])
    key = (kv["mode"], int(kv["n"]))
    rows.setdefault(key, []).append(kv)
print(f"{'mode':8} {'N':>6} {'runs':>4} {'heap med':>9} {'heap range':>16} {'RSS med':>8} {'RSS range':>16} {'open ms med':>11} {'retained heap med':>17}")
order = {"ours": 0, "streams": 1, "ours+tls": 2}
for (mode, n), rs in sorted(rows.items(), key=lambda x: (x[0][1], order.get(x[0][0], 9))):
    h = [float(r["heapKiBPerConn"]) for r in rs]
    s = [float(r["rssKiBPerConn"]) for r in rs]
    o = [float(r["openMs"]) for r in rs]
    k = [float(r["heapRetainedKiBPerConnAfterClose"]) for r in rs]
    print(f"{mode:8} {n:>6} {len(rs):>4} {statistics.median(h):9.2f} {min(h):7.2f}–{max(h):7.2f} {statistics.median(s):8.2f} {min(s):7.2f}–{max(s):7.2f} {statistics.median(o):11.0f} {statistics.median(k):17.2f}")
PY
