#!/usr/bin/env bash
# Issue 17's storage faults through the harness, under traffic:
#   tests/harness/fault-storage.sh postgres      the journal's PostgreSQL stopped for DOWN seconds (default 8; `pg_ctl
#                                                stop -m fast`: open connections terminated) and started again. A
#                                                one-node server on its private PostgreSQL (XMPP_NODES=1).
#   tests/harness/fault-storage.sh sqlite-full   the embedded default (SQLite) with its data folder on a small
#                                                filesystem this script mounts (tmpfs, root only), filled to the last
#                                                byte for DOWN seconds and then freed.
# The server itself is never restarted. One client sends chat messages without pause (XEP-0198, each with its own id)
# to an account that is offline, so that every message goes to the offline store, a journal write. Checks:
#   - the sender's connection stays up (the server does not drop its clients because its storage failed);
#   - nothing acknowledged is lost: every message the server acknowledged (an <a h/> covering it) is delivered to the
#     recipient when it logs in, or was bounced to the sender with an error (the store could not take it), and every
#     one is in the sender's message archive (XEP-0313) afterwards;
#   - the errors are clear and prompt: bounces are type 'wait' or 'cancel' stanza errors that name a condition, none
#     later than BOUNCE_LIMIT seconds (default 15) after its message; a roster set (RFC 6121 §2.3) during the fault is
#     answered; a login during the fault succeeds or is refused with <temporary-auth-failure/>, never hangs;
#   - recovery without a restart: every message sent from RECOVER seconds (default 15) after the fault ends is stored
#     and delivered, none bounced, and a roster set then succeeds.
#
# Environment: XMPP_PORT (default 37423 for postgres, 37433 for sqlite-full), XMPP_WORKDIR (default
# $ROOT/.work/fault-storage-MODE-PORT, removed on success), XMPP_BUILD_CONFIG (as server.sh), DOWN, RECOVER,
# BOUNCE_LIMIT, DISK_MIB (sqlite-full: the filesystem's size, default 64).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SERVER="$ROOT/tests/harness/server.sh"
MODE="${1:-}"
case "$MODE" in
  postgres) export XMPP_NODES=1 XMPP_PORT="${XMPP_PORT:-37423}" ;;
  sqlite-full)
    unset XMPP_NODES; export XMPP_PORT="${XMPP_PORT:-37433}"
    [ "$(id -u)" = 0 ] || { echo "fault-storage.sh: sqlite-full mounts a filesystem: run it as root" >&2; exit 1; } ;;
  *) echo "usage: tests/harness/fault-storage.sh postgres|sqlite-full" >&2; exit 2 ;;
esac
export XMPP_TLS_REQUIRED=false XMPP_HOST="${XMPP_HOST:-127.0.0.1}" XMPP_DOMAIN="${XMPP_DOMAIN:-localhost}"
export XMPP_WORKDIR="${XMPP_WORKDIR:-$ROOT/.work/fault-storage-$MODE-$XMPP_PORT}"
unset XMPP_PG # the private PostgreSQL: this script stops it
PG_DIR="$XMPP_WORKDIR/pg"
DISK="$XMPP_WORKDIR/data" # sqlite-full: the server's data folder (Xmpp:DataDir), a filesystem of its own

status=1
cleanup() {
  "$SERVER" stop >/dev/null 2>&1 || true
  if [ "$MODE" = postgres ]; then ACTORS_PG_DIR="$PG_DIR" "$ROOT/tests/postgres.sh" stop >/dev/null 2>&1 || true; fi
  if [ "$MODE" = sqlite-full ] && mountpoint -q "$DISK"; then
    [ "$status" -eq 0 ] || cp -r "$DISK" "$XMPP_WORKDIR/data-copy" 2>/dev/null || true
    umount "$DISK" || true
  fi
  if [ "$status" -eq 0 ] && [ -z "${XMPP_KEEP_LOGS:-}" ]; then rm -rf "$XMPP_WORKDIR"; else echo "fault-storage.sh: logs kept in $XMPP_WORKDIR" >&2; fi
}
trap cleanup EXIT

if [ "$MODE" = sqlite-full ]; then
  rm -rf "$XMPP_WORKDIR"; mkdir -p "$DISK"
  mount -t tmpfs -o "size=${DISK_MIB:-64}m" tmpfs "$DISK" || { echo "fault-storage.sh: cannot mount a tmpfs on $DISK" >&2; exit 1; }
  FAULT_ON="dd if=/dev/zero of='$DISK/filler' bs=64k 2>/dev/null; sync; true" # until the filesystem is full
  FAULT_OFF="rm -f '$DISK/filler'"
  WHAT="the data folder's filesystem"
fi
"$SERVER" start
for u in pga pgb pgc; do "$SERVER" adduser "$u" pw; done
port="$("$SERVER" info | sed -n 's/^C2S_PORTS=//p' | cut -d, -f1)"; port="${port:-$XMPP_PORT}"
if [ "$MODE" = postgres ]; then
  pg="ACTORS_PG_DIR='$PG_DIR' ACTORS_PG_PORT='$(cat "$PG_DIR/port")' '$ROOT/tests/postgres.sh'"
  FAULT_ON="$pg stop"
  FAULT_OFF="$pg start >/dev/null"
  WHAT="PostgreSQL"
fi

PYTHONPATH="$ROOT/tests/harness" /usr/bin/python3 - "$XMPP_HOST" "$XMPP_DOMAIN" "$port" "$FAULT_ON" "$FAULT_OFF" "$WHAT" "$MODE" \
  "${DOWN:-8}" "${RECOVER:-15}" "${BOUNCE_LIMIT:-15}" <<'PY'
import subprocess, sys, threading, time
import xmpp_raw

host, domain, port, fault_on, fault_off, what, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
down, recover, bounce_limit = float(sys.argv[8]), float(sys.argv[9]), float(sys.argv[10])
C = xmpp_raw.C
t0 = time.time()

a = xmpp_raw.Client(host, domain, "pga", port, sm=True)
sent_at = {}   # body -> time sent
order = []     # bodies in the order sent
stop = threading.Event()

def send():
    n = 0
    while not stop.is_set() and not a.closed:
        body = f"m{n}"
        n += 1
        sent_at[body] = time.time()
        order.append(body)
        a.send(f"<message to='pgb@{domain}' type='chat' id='{body}'><body>{body}</body></message><r xmlns='{xmpp_raw.SM}'/>")
        time.sleep(0.1)

seen = {}  # id of a bounce -> when it was first seen (a poll every 0.1 s)
def watch():
    while not stop.is_set() or len(seen) < sum(1 for e in list(a.stanzas) if e.get("type") == "error"):
        with a.cond:
            for e in a.stanzas:
                if e.tag == C + "message" and e.get("type") == "error" and e.get("id") not in seen:
                    seen[e.get("id")] = time.time()
        time.sleep(0.1)

sender, watcher = threading.Thread(target=send, daemon=True), threading.Thread(target=watch, daemon=True)
sender.start(); watcher.start()
time.sleep(3)
down_at = time.time()
print(f"{down_at - t0:.1f} s: {what} fails (sender at {len(order)} messages)", flush=True)
subprocess.run(fault_on, shell=True, check=True)
time.sleep(1)
# an IQ that needs the journal (a roster set, RFC 6121 §2.3) is answered while it is away: a result or an error
a.send("<iq type='set' id='roster-down'><query xmlns='jabber:iq:roster'><item jid='down@example.net'/></query></iq>")
# a login while it is away ends clearly (in, or refused) rather than hanging
login_down = "in"
try:
    xmpp_raw.Client(host, domain, "pgc", port).close()
except AssertionError as e:
    login_down = f"refused ({e})"
    # RFC 6120 §6.5.12: a failure of the server's own is <temporary-auth-failure/>; <not-authorized/> would tell the
    # client that its credentials are wrong
    assert "temporary-auth-failure" in str(e), f"a login while the storage failed was refused for the wrong reason: {e}"
except (OSError, EOFError) as e:
    login_down = f"closed ({e!r})"
    assert not isinstance(e, TimeoutError) and "timed out" not in str(e), f"a login while the storage failed hung: {e!r}"
time.sleep(max(0.0, down - (time.time() - down_at)))
subprocess.run(fault_off, shell=True, check=True)
up_at = time.time()
print(f"{up_at - t0:.1f} s: {what} is back", flush=True)
time.sleep(recover)
a.send("<iq type='set' id='roster-up'><query xmlns='jabber:iq:roster'><item jid='up@example.net'/></query></iq>")
time.sleep(10)
stop.set()
sender.join()
assert not a.closed, "the sender's connection closed while the storage failed"
a.send(f"<r xmlns='{xmpp_raw.SM}'/>")
a.wait(lambda: a.acked - 1 >= len(order), 30, "the last acknowledgement")  # h counts the initial presence too
time.sleep(bounce_limit)  # bounces still under way arrive

with a.cond:
    errors = [e for e in a.stanzas if e.tag == C + "message" and e.get("type") == "error"]
bounced = {}
for e in errors:
    err = e.find(C + "error")
    conditions = [c.tag.split("}")[1] for c in (err if err is not None else []) if c.tag.startswith("{urn:ietf:params:xml:ns:xmpp-stanzas}") and not c.tag.endswith("}text")]
    assert err is not None and err.get("type") in ("wait", "cancel") and conditions, f"an unclear bounce: {xmpp_raw.ET.tostring(e)!r}"
    bounced[e.get("id")] = conditions[0]

b = xmpp_raw.Client(host, domain, "pgb", port)
before = -1
while True:  # the offline messages have all arrived once nothing new came for 3 s
    time.sleep(3)
    now = len(b.bodies("m"))
    if now == before:
        break
    before = now
received = b.bodies("m")

# the sender's message archive (XEP-0313) kept every message it sent, though the database was away meanwhile
MAM, RSM = "urn:xmpp:mam:2", "http://jabber.org/protocol/rsm"
archived, after, page = set(), None, 0
while True:
    page += 1
    qid = f"mam{page}"
    rsm = f"<set xmlns='{RSM}'><max>50</max>" + (f"<after>{after}</after>" if after else "") + "</set>"
    a.send(f"<iq type='set' id='{qid}'><query xmlns='{MAM}' queryid='{qid}'>{rsm}</query></iq>")
    a.wait(lambda: any(e.tag == C + "iq" and e.get("id") == qid for e in a.stanzas), 30, "an archive page")
    with a.cond:
        fin_iq = next(e for e in a.stanzas if e.tag == C + "iq" and e.get("id") == qid)
        for e in a.stanzas:
            r = e.find(f"{{{MAM}}}result")
            if e.tag == C + "message" and r is not None and r.get("queryid") == qid:
                body = r.findtext(".//{jabber:client}body") or ""
                if body.startswith("m"):
                    archived.add(body)
    assert fin_iq.get("type") == "result", f"an archive query failed: {xmpp_raw.ET.tostring(fin_iq)!r}"
    fin = fin_iq.find(f"{{{MAM}}}fin")
    after = fin.findtext(f"{{{RSM}}}set/{{{RSM}}}last") if fin is not None else None
    if fin is None or fin.get("complete") == "true" or not after or page > 100:
        break
not_archived = [m for m in order if m not in archived]

b.send("<iq type='get' id='roster-get'><query xmlns='jabber:iq:roster'/></iq>")
b.wait(lambda: any(e.get("id") == "roster-get" for e in b.stanzas), 15, "the roster")
b.close()

def iq(client, id):
    with client.cond:
        return next((e for e in client.stanzas if e.tag == C + "iq" and e.get("id") == id), None)
a.wait(lambda: iq(a, "roster-up") is not None, 15, "the answer to a roster set after the storage came back")
down_answer, up_answer = iq(a, "roster-down"), iq(a, "roster-up")
assert down_answer is not None, "a roster set while the storage failed got no answer"
assert up_answer.get("type") == "result", f"a roster set after the storage came back failed: {xmpp_raw.ET.tostring(up_answer)!r}"
roster_down = down_answer.get("type") if down_answer.get("type") == "result" else \
    "error " + next((c.tag.split("}")[1] for c in (down_answer.find(C + "error") or [])), "?")
a.close()

delivered = set(received)
lost = [m for m in order if m not in delivered and m not in bounced]
both = [m for m in order if m in delivered and m in bounced]
late = sorted((round(seen[m] - sent_at[m], 1), m) for m in bounced if m in seen and seen[m] - sent_at[m] > bounce_limit)
after = [m for m in order if sent_at[m] >= up_at + recover]
failed_after = [m for m in after if m not in delivered]
during = [m for m in order if down_at <= sent_at[m] < up_at]
assert len(after) > 50, f"too little traffic after the recovery window to judge: {len(after)}"
assert not lost, f"acknowledged, never delivered and never bounced: {lost[:20]} ({len(lost)} of {len(order)})"
assert not both, f"delivered and bounced as well: {both[:20]}"
assert not not_archived, f"sent and acknowledged, missing from the sender's archive (XEP-0313): {not_archived[:20]} ({len(not_archived)} of {len(order)})"
assert not late, f"bounced more than {bounce_limit:.0f} s after it was sent (seconds, message): {late[:20]}"
assert not failed_after, (f"not delivered though sent {recover:.0f} s or more after the fault ended: {failed_after[:20]} "
                          f"({len(failed_after)} of {len(after)}; bounced as {sorted(set(bounced.get(m, '-') for m in failed_after))})")
first_ok_after = next((sent_at[m] - up_at for m in order if sent_at[m] >= up_at and m in delivered), float("nan"))
slowest = max((seen[m] - sent_at[m] for m in bounced if m in seen), default=0.0)
conditions = sorted(set(bounced.values()))
print(f"fault-storage.sh {mode}: {what} failing {down:.0f} s under traffic; {len(order)} messages acknowledged, "
      f"{len(delivered)} delivered, {len(bounced)} bounced ({', '.join(conditions) or 'none'}; the slowest after "
      f"{slowest:.1f} s), none lost, all {len(archived)} in the sender's archive; {len(during)} sent during the fault; stored again from {first_ok_after:.1f} s "
      f"after it ended; a roster set during it: {roster_down}; a login during it: {login_down}")
PY
status=0
