#!/usr/bin/env bash
# Issue 10 through the harness: a rolling restart of a 3-node cluster (XMPP_NODES=3 server.sh start) under traffic.
# Each node in turn is stopped gracefully (`server.sh node-stop I`: its clients get <system-shutdown/>) and started
# again (`node-start I`), while one client sends chat messages to another without pause. Both clients use XEP-0198;
# when their node goes they connect to another one, and the sender sends again what the server had not acknowledged.
# Checks that every message the server acknowledged (an <a h/> covering it) reaches the recipient (live, or from
# offline storage when it comes back). A message may arrive twice (XEP-0198 is at-least-once: what the recipient's
# session had sent but not had acknowledged when its node stopped is stored again); the count is printed.
#
#   tests/harness/cluster-rolling-restart.sh
#
# Environment: XMPP_PORT (default 28323: node I's c2s port is XMPP_PORT+2(I-1)), XMPP_WORKDIR (default
# $ROOT/.work/cluster-rolling-restart-PORT, removed on success), XMPP_BUILD_CONFIG, XMPP_PG (as server.sh).
set -euo pipefail
CLUSTER_SCRIPT=cluster-rolling-restart CLUSTER_PORT=28323
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh" # ROOT, SERVER, the environment, status and the exit trap

"$SERVER" start
for u in rolla rollb; do "$SERVER" adduser "$u" pw; done
ports="$("$SERVER" info | sed -n 's/^C2S_PORTS=//p')"

PYTHONPATH="$ROOT/tests/harness" /usr/bin/python3 - "$XMPP_HOST" "$XMPP_DOMAIN" "$ports" "$SERVER" <<'PY'
import collections, functools, subprocess, sys, threading, time
import xmpp_raw

host, domain, ports, server = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3].split(",")], sys.argv[4]
Client = functools.partial(xmpp_raw.Client, host, domain, sm=True)
down = set()  # nodes (0-based) being restarted: clients do not connect there
lock = threading.Lock()
t0 = time.time()
events = []  # (seconds, what): printed when a check fails
def event(what):
    events.append((round(time.time() - t0, 2), what))

def connect(user, avoid):
    """A client of user on a node that is up, not avoid (the node it was on), trying the others in turn."""
    deadline = time.time() + 120
    i = (avoid + 1) % len(ports)
    while time.time() < deadline:
        with lock:
            usable = i not in down
        if usable:
            try:
                return i, Client(user, ports[i])
            except (OSError, AssertionError, EOFError):
                pass
        i = (i + 1) % len(ports)
        time.sleep(0.2)
    raise AssertionError(f"{user}: no node accepted a connection within 120 s")

received = []  # every body the recipient got, over all its connections
recipient = {"node": 1}
r_node, r = connect("rollb", 0)
recipient["node"], recipient["client"] = r_node, r
sent, acked, resent = [], set(), set()
stop = threading.Event()      # the sender stops
finished = threading.Event()  # the recipient's bodies are taken: it stops following its client

def receive():
    """The recipient: follows its client; when the connection closes, takes its bodies and connects again."""
    while not finished.is_set():
        c = recipient["client"]
        with c.cond:
            c.cond.wait(0.2)
            closed = c.closed
        if closed and not finished.is_set():
            got = c.bodies("m")
            received.extend(got)
            event(f"recipient's connection to node {recipient['node'] + 1} closed after {got[-1] if got else 'nothing'}")
            node, client = connect("rollb", recipient["node"])
            recipient["node"], recipient["client"] = node, client
            event(f"recipient connected to node {node + 1}")

def send():
    """The sender: one message every 20 ms, <r/> after each; on a closed connection, connects elsewhere and sends again
    every message the old session did not acknowledge."""
    node, c = connect("rolla", 2)
    base, n = 0, 0  # base: index in `sent` of this session's first message (h counts the presence first)
    pending = []
    while not stop.is_set():
        if c.closed:
            with c.cond:
                done = max(0, c.acked - 1)  # messages of this session the server acknowledged
            for k in range(base, base + done):
                acked.add(sent_order[k])
            pending = sent_order[base + done:]
            event(f"sender's connection to node {node + 1} closed: acknowledged up to {sent_order[base + done - 1] if done else 'none'}, "
                  f"sends again {pending[0] + '..' + pending[-1] if pending else 'nothing'}")
            node, c = connect("rolla", node)
            event(f"sender connected to node {node + 1}")
            sent_order[:] = sent_order[:base + done]
            base = len(sent_order)
            for body in pending:
                resent.add(body)
                c.send(f"<message to='rollb@{domain}' type='chat'><body>{body}</body></message>")
                sent_order.append(body)
            c.send(f"<r xmlns='{xmpp_raw.SM}'/>")
            continue
        body = f"m{n}"
        n += 1
        try:
            c.send(f"<message to='rollb@{domain}' type='chat'><body>{body}</body></message><r xmlns='{xmpp_raw.SM}'/>")
            sent_order.append(body)
        except OSError:
            pass
        time.sleep(0.02)
    # the end: what the last session acknowledged
    c.send(f"<r xmlns='{xmpp_raw.SM}'/>")
    c.wait(lambda: c.acked - 1 >= len(sent_order) - base or c.closed, 30, "the last acknowledgement")
    for k in range(base, base + max(0, c.acked - 1)):
        acked.add(sent_order[k])
    sent.extend(sent_order)

sent_order = []
receiver, sender = threading.Thread(target=receive), threading.Thread(target=send)
receiver.start(); sender.start()
time.sleep(3)
for node in range(len(ports)):
    with lock:
        down.add(node)
    event(f"node {node + 1} stops (sender at m{len(sent_order)})")
    subprocess.run([server, "node-stop", str(node + 1)], check=True)
    event(f"node {node + 1} stopped")
    subprocess.run([server, "node-start", str(node + 1)], check=True)
    event(f"node {node + 1} started")
    with lock:
        down.discard(node)
    time.sleep(5)  # traffic through the restarted node's cluster before the next one goes
stop.set()
sender.join()
# the recipient connected (again, if its node went last) and quiet for 3 s: what was stored for it has arrived
deadline = time.time() + 180
while True:
    c = recipient["client"]
    if not c.closed:
        before = len(c.bodies("m"))
        time.sleep(3)
        if recipient["client"] is c and not c.closed and len(c.bodies("m")) == before:
            break
    elif time.time() > deadline:
        raise AssertionError("the recipient did not connect again within 180 s")
    else:
        time.sleep(0.5)
finished.set()
receiver.join(timeout=10)
received.extend(c.bodies("m"))
c.close()
counts = collections.Counter(received)
missing = sorted(acked - set(counts), key=lambda b: int(b[1:]))
twice = sum(1 for k in counts.values() if k > 1)
assert len(acked) > 100, f"too little traffic to judge: {len(acked)} acknowledged"
if missing:
    for at, what in events: print(at, what)
assert not missing, f"acknowledged but never delivered: {missing[:20]} ({len(missing)} of {len(acked)})"
print(f"cluster-rolling-restart.sh: 3 nodes restarted in turn under traffic; {len(acked)} messages acknowledged, "
      f"all delivered ({len(set(counts))} distinct received, {twice} of them more than once; {len(resent)} sent again "
      "after a node went)")
PY
status=0
