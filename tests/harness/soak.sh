#!/usr/bin/env bash
# Issue 17's soak: one server on its embedded defaults (SQLite) under steady traffic and connection churn for SECONDS
# (default 180; the figure in docs/reliability.md is from `tests/harness/soak.sh 3600`). Traffic:
#   - steady: 10 pairs of clients (XEP-0198), each sender 10 chat messages a second to its partner, all the run long;
#   - churn: two loops that log in again and again (half over STARTTLS, half plain; each login a new resource of one of
#     50 accounts), ask for the roster, send one message to an offline account and wait for its acknowledgement, then
#     leave, alternately with </stream:stream> and by dropping the socket without a word (RST);
#   - the offline account logs in every 10 s for 2 s (XEP-0198) and takes what was stored for it.
# Checks:
#   - nothing lost: every steady message arrives, in order, once; every churn message the server acknowledged reaches
#     the offline account;
#   - nothing left behind: once the churn stops, the server counts only the steady clients' connections and sessions
#     again (its metrics) within 20 s;
#   - memory flat: the server's RSS (sampled every 5 s) in the run's last fifth exceeds the fifth after its warm-up
#     (the first fifth, at least 30 s) by no more than SOAK_RSS_SLACK_MIB (default 32) plus 15 %; the least-squares
#     slope over everything after the warm-up is printed in MiB per hour.
# Prints one JSON line with the figures (also in $XMPP_WORKDIR/soak.json while the folder is kept).
#
#   tests/harness/soak.sh [SECONDS]
#
# Environment: XMPP_PORT (default 27443), XMPP_WORKDIR (default $ROOT/.work/soak-PORT, removed on success unless
# XMPP_KEEP_LOGS is set), XMPP_BUILD_CONFIG (as server.sh), SOAK_RSS_SLACK_MIB, SOAK_CHURN_WORKERS (the churn loops, 2).
set -euo pipefail
SECONDS_TOTAL="${1:-180}"
# below Linux's ephemeral range (32768-60999) with every port derived from it (XMPP_PORT-3339 to XMPP_PORT+3661): the
# churn's thousands of client connections leave local ports in TIME_WAIT that a listener there could not bind
CLUSTER_SCRIPT=soak CLUSTER_PORT=27443 CLUSTER_NODES=1
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh" # ROOT, SERVER, the environment, status and the exit trap

"$SERVER" start
"$SERVER" bulk-users 20 soaks pw >/dev/null
"$SERVER" bulk-users 50 soakc pw >/dev/null
"$SERVER" adduser soakoff pw >/dev/null
pid="$("$SERVER" pid | head -1)"
metrics="$("$SERVER" info | sed -n 's/^METRICS_URL=//p')"

PYTHONPATH="$ROOT/tests/harness" /usr/bin/python3 - "$XMPP_HOST" "$XMPP_DOMAIN" "$XMPP_PORT" "$pid" "$metrics" \
  "$SECONDS_TOTAL" "${SOAK_RSS_SLACK_MIB:-32}" "$XMPP_WORKDIR/soak.json" "${SOAK_CHURN_WORKERS:-2}" <<'PY'
import json, sys, threading, time, urllib.request
import xml.etree.ElementTree as ET
import xmpp_raw

host, domain, port, pid, metrics_url = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
total, slack_mib, out, churn_workers = float(sys.argv[6]), float(sys.argv[7]), sys.argv[8], int(sys.argv[9])
SM = xmpp_raw.SM
PAIRS, ACCOUNTS = 10, 50
t0 = time.time()
end = t0 + total
failures = []

def rss_mib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

def gauges():
    """The server's connection and session gauges (its Prometheus endpoint)."""
    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
    found = {}
    for line in text.splitlines():
        for name in ("xmpp_c2s_connections_active", "xmpp_c2s_sessions_active"):
            if line.startswith(name) and not line.startswith(name + "_"):
                found[name] = found.get(name, 0) + float(line.rsplit(" ", 1)[1])
    return int(found.get("xmpp_c2s_connections_active", -1)), int(found.get("xmpp_c2s_sessions_active", -1))

def user(prefix, i):
    return f"{prefix}{i}"

# ---- steady pairs ----------------------------------------------------------------------------------------------
senders = [xmpp_raw.Client(host, domain, user("soaks", 2 * i), port, sm=True, resource="steady") for i in range(PAIRS)]
receivers = [xmpp_raw.Client(host, domain, user("soaks", 2 * i + 1), port, sm=True, resource="steady") for i in range(PAIRS)]
sent = [0] * PAIRS
received = [[] for _ in range(PAIRS)]
churning = threading.Event(); churning.set()

def take(client, prefix):
    """The bodies with this prefix the client got since the last take (the rest of its stanzas are dropped)."""
    with client.cond:
        got, client.stanzas = client.stanzas, []
    return [e.findtext(xmpp_raw.C + "body") for e in got if e.tag == xmpp_raw.C + "message" and e.get("type") != "error"
            and (e.findtext(xmpp_raw.C + "body") or "").startswith(prefix)]

def steady(i):
    s, peer = senders[i], f"{user('soaks', 2 * i + 1)}@{domain}/steady"
    n = 0
    while time.time() < end:
        for _ in range(10):
            s.send(f"<message to='{peer}' type='chat'><body>p{i}-{n}</body></message>")
            n += 1
            time.sleep(0.1)
        s.send(f"<r xmlns='{SM}'/>")
        received[i].extend(take(receivers[i], "p"))
    sent[i] = n

# ---- churn -----------------------------------------------------------------------------------------------------
churn_acked, churn_logins, churn_errors = set(), [0], []
acked_at = {}    # body: seconds into the run its acknowledgement came (printed for lost ones)
drains = []      # (start, end, bodies it had received by then) of the offline account's logins
lock = threading.Lock()

def churn(worker):
    k = 0
    while churning.is_set() and time.time() < end:
        k += 1
        account = user("soakc", (worker * 7919 + k) % ACCOUNTS)
        body = f"o{worker}-{k}"
        try:
            c = xmpp_raw.Client(host, domain, account, port, sm=True, resource=f"w{worker}k{k}", tls=(k % 2 == 0))
            c.send(f"<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>")
            c.send(f"<message to='soakoff@{domain}' type='chat'><body>{body}</body></message><r xmlns='{SM}'/>")
            c.wait(lambda: any(e.get("id") == "roster" for e in c.stanzas) and c.acked >= 2, 30, "the roster and the ack")
            with lock:
                churn_acked.add(body)
                acked_at[body] = round(time.time() - t0, 2)
                churn_logins[0] += 1
            if k % 2 == 0:
                c.close()
            else:
                c.abort()  # dropped without a word: RST
        except (OSError, AssertionError, EOFError, ET.ParseError) as e:
            churn_errors.append(f"{time.time() - t0:.1f} s: {account}: {type(e).__name__}: {e}"
                                + "".join(f" ({note})" for note in getattr(e, "__notes__", [])))
            if len(churn_errors) > 20:
                return
        time.sleep(0.02)

offline_got = set()
def drain(online=2.0, quiet=None):
    """The offline account online for `online` seconds (or until `quiet` seconds pass without a stanza), with XEP-0198:
    what the server wrote that this client had not acknowledged when it left goes back to the mailbox. Its bodies are
    taken once its reader stopped, so that everything it received (and acknowledged) is counted."""
    start = time.time()
    c = xmpp_raw.Client(host, domain, "soakoff", port, resource="drain", sm=True)
    last, count = time.time(), -1
    while True:
        with c.cond:
            n = len(c.stanzas)
        if n != count:
            count, last = n, time.time()
        if (time.time() - last >= quiet) if quiet is not None else (time.time() - start >= online):
            break
        time.sleep(0.2)
    c.close()
    offline_got.update(take(c, "o"))
    drains.append((round(start - t0, 2), round(time.time() - t0, 2), len(offline_got)))

def offline():
    # often enough that the mailbox (1,000 messages by default) never fills at the churn's rate: a full mailbox bounces
    while churning.is_set() and time.time() < end:
        time.sleep(10)
        try:
            drain()
        except (OSError, AssertionError, EOFError, ET.ParseError) as e:
            churn_errors.append(f"{time.time() - t0:.1f} s: drain: {e}")

# ---- samples ---------------------------------------------------------------------------------------------------
samples = []  # (seconds, RSS MiB)
def sample():
    while time.time() < end:
        samples.append((time.time() - t0, rss_mib()))
        time.sleep(5)

threads = [threading.Thread(target=steady, args=(i,)) for i in range(PAIRS)]
threads += [threading.Thread(target=churn, args=(w,)) for w in range(churn_workers)]
threads += [threading.Thread(target=offline), threading.Thread(target=sample)]
for t in threads: t.start()
for t in threads: t.join()
churning.clear()

# ---- checks ----------------------------------------------------------------------------------------------------
time.sleep(2)
for i in range(PAIRS):
    senders[i].send(f"<r xmlns='{SM}'/>")
deadline = time.time() + 30
for i in range(PAIRS):
    while len(received[i]) < sent[i] and time.time() < deadline:
        time.sleep(0.2)
        received[i].extend(take(receivers[i], "p"))
    expected = [f"p{i}-{n}" for n in range(sent[i])]
    if received[i] != expected:
        missing = sorted(set(expected) - set(received[i]), key=lambda b: int(b.split("-")[1]))
        failures.append(f"pair {i}: {sent[i]} sent, {len(received[i])} received, missing {missing[:5]}"
                        + ("" if missing else " (out of order or twice)"))
drain(quiet=3)
lost = sorted(churn_acked - offline_got)
if lost:
    failures.append(f"churn: {len(lost)} of {len(churn_acked)} acknowledged messages never reached the offline account: "
                    f"{[(b, acked_at.get(b)) for b in lost[:8]]} (body, acknowledged at s); the offline account was online {drains}")
if churn_errors:
    failures.append(f"churn: {len(churn_errors)} logins failed: {churn_errors[:3]}"
                    + "".join(f"; {e}" for e in churn_errors[3:] if ": drain: " in e))

steady_count = 2 * PAIRS
deadline, now = time.time() + 20, None
while time.time() < deadline:
    now = gauges()
    if now == (steady_count, steady_count):
        break
    time.sleep(1)
if now != (steady_count, steady_count):
    failures.append(f"after the churn: {now[0]} connections and {now[1]} sessions counted, {steady_count} expected")

warm = max(30.0, total / 5)
after = [(t, r) for t, r in samples if t >= warm]
window = max(1, len(after) // 5)
def median(xs):
    xs = sorted(xs); return xs[len(xs) // 2]
first, last = median([r for _, r in after[:window]]), median([r for _, r in after[-window:]])
n = len(after)
mt, mr = sum(t for t, _ in after) / n, sum(r for _, r in after) / n
slope = sum((t - mt) * (r - mr) for t, r in after) / max(1e-9, sum((t - mt) ** 2 for t, _ in after)) * 3600
if last > first * 1.15 + slack_mib:
    failures.append(f"RSS grew from {first:.0f} MiB (after the warm-up) to {last:.0f} MiB at the end")

figures = {"seconds": total, "steady_messages": sum(sent), "churn_logins": churn_logins[0],
           "offline_messages": len(churn_acked), "rss_start_mib": round(samples[0][1], 1),
           "rss_after_warmup_mib": round(first, 1), "rss_end_mib": round(last, 1),
           "rss_peak_mib": round(max(r for _, r in samples), 1), "rss_slope_mib_per_hour": round(slope, 1),
           "samples": [[round(t), round(r, 1)] for t, r in samples],
           "lost": [[b, acked_at.get(b)] for b in lost], "offline_online": drains}
with open(out, "w") as f:
    json.dump(figures, f)
print(json.dumps({k: v for k, v in figures.items() if k not in ("samples", "lost", "offline_online")}))
for failure in failures:
    print("soak.sh: " + failure, file=sys.stderr)
if failures:
    sys.exit(1)
print(f"soak.sh: {total:.0f} s; {sum(sent)} steady messages and {len(churn_acked)} offline ones all delivered; "
      f"{churn_logins[0]} logins came and went; RSS {first:.0f} MiB after the warm-up, {last:.0f} MiB at the end "
      f"(slope {slope:+.1f} MiB/h)")
PY
status=0
