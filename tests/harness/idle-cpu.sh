#!/usr/bin/env bash
# Idle CPU with N idle sessions: the CPU-seconds a server consumes over WINDOW seconds while N logged-in sessions
# (bound, roster fetched, available) stay silent, read from /proc/<pid>/stat (utime+stime of the server PID and its
# direct children, like the bench's load generator). Servers are measured one after another in the same run, with
# the shared bench's adapters (../shared/bench/servers) and load generator; CPU-seconds, unlike wall-clock rates,
# stay comparable when other work shares the machine.
#
#   BENCH_WORKDIR=/tmp/xb BENCH_PYTHON=/usr/bin/python3 tests/harness/idle-cpu.sh "ejabberd actors" 10000 60
#
# Environment: BENCH_HOME (default: ../shared/bench next to the project root), SETTLE (seconds between the last
# login and the window, default 20), BENCH_PASSWORD / BENCH_PREFIX as bench.sh, THREADS=1 (also print, on stderr,
# the window's CPU per thread name of the server process, from /proc/<pid>/task/*/schedstat, in nanoseconds: what the
# idle CPU went to; the clock-tick figures of /proc/<pid>/task/*/stat round each thread down to 10 ms).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SERVERS="${1:-ejabberd actors}"
N="${2:-10000}"
WINDOW="${3:-60}"
SETTLE="${SETTLE:-20}"
B="${BENCH_HOME:-$ROOT/../shared/bench}"
export BENCH_WORKDIR="${BENCH_WORKDIR:-${TMPDIR:-/tmp}/xmppbench}"
PY="${BENCH_PYTHON:-python3}"
PASS="${BENCH_PASSWORD:-benchpass}"; PREFIX="${BENCH_PREFIX:-u}"
[ -x "$B/bench.sh" ] || { echo "idle-cpu.sh: no bench at $B (set BENCH_HOME)" >&2; exit 2; }
mkdir -p "$BENCH_WORKDIR"
cd "$ROOT" # the actors adapter finds tests/harness/server.sh here

cpu_ticks() { # utime+stime of $1 and its direct children, in clock ticks
  local total=0 p
  for p in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    [ -r "/proc/$p/stat" ] || continue
    total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

thread_ticks() { # one line per thread of $1: tid name nanoseconds on CPU (schedstat: exact, unlike stat's clock ticks)
  local t
  for t in /proc/"$1"/task/*; do
    [ -r "$t/schedstat" ] || continue
    echo "${t##*/} $(tr ' ' '_' < "$t/comm" 2>/dev/null) $(cut -d' ' -f1 < "$t/schedstat" 2>/dev/null)"
  done
}

thread_report() { # $1 $2: thread_ticks before and after; prints CPU-ms per thread name, largest first
  awk 'NR == FNR { before[$1] = $3; next }
    { d = $3 - before[$1]; if (d > 0) { ms[$2] += d / 1e6; n[$2]++; total += d / 1e6 } }
    END { for (k in ms) printf "  %8.1f ms  %s (%d threads)\n", ms[k], k, n[k]; printf "  %8.1f ms  all threads listed\n", total }' "$1" "$2" | sort -rn
}

established() { ss -Htn state established "( sport = :$1 )" 2>/dev/null | wc -l; }

HZ=$(getconf CLK_TCK)
for s in $SERVERS; do
  "$B/servers/$s.sh" start >&2
  have=$(cat "$BENCH_WORKDIR/users_$s" 2>/dev/null || echo 0)
  if [ "$have" -lt "$N" ]; then
    "$B/servers/$s.sh" bulk-users $((N - have)) "$PREFIX" "$PASS" "$have" >&2
    echo "$N" > "$BENCH_WORKDIR/users_$s"
  fi
  read -r host port domain _ < <("$B/servers/$s.sh" info)
  pid=$("$B/servers/$s.sh" pid | head -1)
  "$PY" "$B/loadgen.py" run --host "$host" --port "$port" --domain "$domain" --n "$N" --prefix "$PREFIX" \
    --password "$PASS" --mech PLAIN --server-pid "$pid" --hold $((SETTLE + WINDOW + 120)) --idle-pct 0 \
    --label "idle-cpu $s" > "$BENCH_WORKDIR/idle-cpu-$s.json" 2>&1 &
  gen=$!
  for _ in $(seq 600); do [ "$(established "$port")" -ge "$N" ] && break; sleep 1; done
  online=$(established "$port")
  sleep "$SETTLE"
  [ "${THREADS:-0}" = 1 ] && thread_ticks "$pid" > "$BENCH_WORKDIR/threads-$s.0"
  c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
  sleep "$WINDOW"
  c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
  if [ "${THREADS:-0}" = 1 ]; then
    thread_ticks "$pid" > "$BENCH_WORKDIR/threads-$s.1"
    echo "idle-cpu.sh: $s, CPU per thread over the window ($(wc -l < "$BENCH_WORKDIR/threads-$s.0") threads at its start," \
         "$(wc -l < "$BENCH_WORKDIR/threads-$s.1") at its end; the CPU of threads that ended within it is not listed):" >&2
    thread_report "$BENCH_WORKDIR/threads-$s.0" "$BENCH_WORKDIR/threads-$s.1" >&2
  fi
  after=$(established "$port")
  kill "$gen" 2>/dev/null || true
  wait "$gen" 2>/dev/null || true
  "$B/servers/$s.sh" stop >&2
  echo "$s $online $after $c0 $c1 $t0 $t1" | awk -v hz="$HZ" '{cpu = ($5 - $4) / hz; wall = $7 - $6;
    printf "{\"server\":\"%s\",\"sessions_before\":%d,\"sessions_after\":%d,\"window_s\":%.1f,\"cpu_s\":%.2f,\"pct_of_a_core\":%.2f}\n",
           $1, $2, $3, wall, cpu, 100 * cpu / wall}'
done
