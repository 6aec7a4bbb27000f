#!/usr/bin/env bash
# Issue 10's capacity model (docs/scaling.md) needs what one login and one chat message cost the shared journal: this
# runs a local cluster (server.sh with XMPP_NODES) on its own PostgreSQL and counts the rows PostgreSQL inserted,
# updated and deleted (pg_stat_user_tables, per table) over
#   1. a login storm of N accounts (bind, roster, initial presence, a ping; then each stream closed), and
#   2. P chat pairs exchanging messages for S seconds (closed loop; every pair spans two nodes), after their own logins,
# with the shared load generator (../shared/bench/loadgen.py). Prints one JSON line: rows per login and per delivered
# message (the chat's logins taken off at the storm's rate), per table, and the server CPU per message.
#
#   tests/bench/cluster-journal.sh [N] [PAIRS] [SECONDS]        (defaults 2000 200 10)
#
# Environment: BENCH_NODES (3), BENCH_ARCHIVE (always: the server's default, XEP-0313 archiving on; never: off, like
# the anchors' default configurations), XMPP_PORT (29623), BENCH_PYTHON (/usr/bin/python3).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
N="${1:-2000}"; PAIRS="${2:-200}"; CHAT_SECONDS="${3:-10}"
PY="${BENCH_PYTHON:-/usr/bin/python3}"
LOADGEN="$ROOT/../shared/bench/loadgen.py"
[ -f "$LOADGEN" ] || { echo "cluster-journal.sh: no load generator at $LOADGEN (../shared beside the repository)" >&2; exit 1; }
W="$ROOT/.work/bench-cluster-journal"
rm -rf "$W"; mkdir -p "$W"
export ACTORS_PG_DIR="$W/pg"
url="$("$ROOT/tests/postgres.sh" start)"
export XMPP_PG="$url" XMPP_NODES="${BENCH_NODES:-3}" XMPP_WORKDIR="$W/server" XMPP_PORT="${XMPP_PORT:-29623}"
export XMPP_TLS_REQUIRED=false XMPP_HOST=127.0.0.1 XMPP_DOMAIN=localhost
export XMPP_EXTRA_ARGS="--Xmpp:Mam:Default=${BENCH_ARCHIVE:-always}"
SERVER="$ROOT/tests/harness/server.sh"
cleanup() { "$SERVER" stop >/dev/null 2>&1 || true; "$ROOT/tests/postgres.sh" stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

pg_port="$(sed -nE 's/.*Port=([0-9]+).*/\1/p' <<< "$url")"
read_stats() {
  PGPASSWORD=actors psql -h 127.0.0.1 -p "$pg_port" -U actors -d actors -At -F ' ' -c \
    "select relname, n_tup_ins, n_tup_upd, n_tup_del from pg_stat_user_tables order by relname"
}
stats() {  # table ins upd del, one a line, once the writes behind the load have ended: backends report their counts
  # within 10 s of going idle, and the archive writes behind the deliveries
  local before after
  after="$(read_stats)"
  while before="$after"; sleep 11; after="$(read_stats)"; [ "$before" != "$after" ]; do :; done
  echo "$after"
}

"$SERVER" start
"$SERVER" bulk-users "$N" jb pw >/dev/null
ports="$("$SERVER" info | sed -n 's/^C2S_PORTS=//p')"
pids="$("$SERVER" pid | paste -sd, -)"
load() { "$PY" "$LOADGEN" run --host 127.0.0.1 --port "${ports%%,*}" --ports "$ports" --domain localhost --prefix jb \
  --password pw --mech SCRAM-SHA-1 --concurrency 100 --server-pids "$pids" --hold 0 "$@"; }

# a first storm, not counted: each account's entities start and recover once (a node's first logins also JIT)
load --n "$N" --chat-pairs 0 > "$W/warmup.json"
s0="$(stats)"
load --n "$N" --chat-pairs 0 > "$W/storm.json"
s1="$(stats)"
# what the storm journaled, by event type (the journal table's manifest column)
PGPASSWORD=actors psql -h 127.0.0.1 -p "$pg_port" -U actors -d actors -At -F ' ' -c \
  "select manifest, count(*) from (select manifest from journal order by ordering desc limit $N) t group by manifest" \
  > "$W/storm-events.txt"
load --n $((2 * PAIRS)) --port-block "$PAIRS" --chat-pairs "$PAIRS" --chat-duration "$CHAT_SECONDS" --chat-rates 0 \
  --window 4 > "$W/chat.json"
s2="$(stats)"

"$PY" - "$N" "$PAIRS" "$W/storm.json" "$W/chat.json" "${BENCH_NODES:-3}" "${BENCH_ARCHIVE:-always}" \
  "$s0" "$s1" "$s2" "$(cat "$W/storm-events.txt")" <<'PY'
import json, sys
n, pairs, storm_file, chat_file, nodes, archive = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
def parse(text):
    rows = {}
    for line in text.splitlines():
        name, ins, upd, dele = line.split()
        rows[name] = (int(ins), int(upd), int(dele))
    return rows
s0, s1, s2 = (parse(t) for t in sys.argv[7:10])
storm_events = dict(line.rsplit(" ", 1) for line in sys.argv[10].splitlines() if line)
def diff(a, b):
    out = {}
    for name in b:
        d = tuple(y - x for x, y in zip(a.get(name, (0, 0, 0)), b[name]))
        if any(d):
            out[name] = d
    return out
storm, chat = diff(s0, s1), diff(s1, s2)
storm_res = json.loads(open(storm_file).read().strip().splitlines()[-1])
chat_res = json.loads(open(chat_file).read().strip().splitlines()[-1])
logins = storm_res["storm"]["ok"]
delivered = sum(c.get("delivered_total", 0) for c in chat_res.get("chat", []))
total = lambda d: sum(sum(v) for v in d.values())
per_login = total(storm) / max(1, logins)
chat_rows = total(chat) - per_login * 2 * pairs
cpu = [c.get("server_cpu_us_per_msg") for c in chat_res.get("chat", [])]
print(json.dumps({
    "nodes": nodes, "archive": archive, "logins": logins, "delivered": delivered,
    "rows_per_login": round(per_login, 2), "rows_per_message": round(chat_rows / max(1, delivered), 3),
    "storm_journal_events": storm_events,
    "storm_rows_by_table": {k: {"ins": v[0], "upd": v[1], "del": v[2]} for k, v in storm.items()},
    "chat_rows_by_table": {k: {"ins": v[0], "upd": v[1], "del": v[2]} for k, v in chat.items()},
    "server_cpu_us_per_msg": cpu,
}))
PY
