#!/usr/bin/env bash
# Issue 10 through the harness: a 3-node cluster (XMPP_NODES=3 server.sh start), clients on nodes 1, 2 and 3, chat
# between the clients on nodes 1 and 2 running while `server.sh node-kill 3` SIGKILLs node 3. Checks that node 3's
# process is gone at once (a real SIGKILL: no shutdown, no leave), that every message between the survivors' clients,
# before, during and after the kill, arrives exactly once and in order, and that a message to the account whose client
# was on node 3 is kept (offline storage) and delivered when that account logs in again on a survivor.
#
#   tests/harness/cluster-node-kill.sh
#
# Environment: XMPP_PORT (default 26023: node I's c2s port is XMPP_PORT+2(I-1)), XMPP_WORKDIR (default
# $ROOT/.work/cluster-node-kill-PORT, removed on success: PostgreSQL's own user must read it), XMPP_BUILD_CONFIG (Release by default, as server.sh), XMPP_PG (as server.sh).
set -euo pipefail
CLUSTER_SCRIPT=cluster-node-kill CLUSTER_PORT=26023
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh" # ROOT, SERVER, the environment, status and the exit trap

"$SERVER" start
for u in killa killb killc; do "$SERVER" adduser "$u" pw; done
ports="$("$SERVER" info | sed -n 's/^C2S_PORTS=//p')"
pid3="$("$SERVER" pid | sed -n 3p)"
[ -n "$pid3" ] || { echo "cluster-node-kill.sh: no PID for node 3" >&2; exit 1; }

PYTHONPATH="$ROOT/tests/harness" /usr/bin/python3 - "$XMPP_HOST" "$XMPP_DOMAIN" "$ports" "$pid3" "$SERVER" <<'PY'
import functools, os, subprocess, sys, threading, time
import xmpp_raw

host, domain, ports, pid3, server = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3].split(",")], int(sys.argv[4]), sys.argv[5]
Client = functools.partial(xmpp_raw.Client, host, domain)

a, b, c = Client("killa", ports[0]), Client("killb", ports[1]), Client("killc", ports[2])
time.sleep(2)  # initial presences reach the accounts' entities
N = 200
def chat(sender, to, prefix):
    for i in range(N):
        sender.send(f"<message to='{to}' type='chat'><body>{prefix}{i}</body></message>")
        time.sleep(0.02)
senders = [threading.Thread(target=chat, args=(a, b.jid, "ab")), threading.Thread(target=chat, args=(b, a.jid, "ba"))]
for t in senders: t.start()
time.sleep(1)  # mid-traffic
subprocess.run([server, "node-kill", "3"], check=True)
try:
    os.kill(pid3, 0)
    raise AssertionError("node 3's process is still alive after node-kill")
except ProcessLookupError:
    pass
for t in senders: t.join()
# what was in flight to node 3 (an entity or session there) between the kill and its failure detector's verdict may be
# lost with the process; nothing arrives twice or out of order
def in_order_once(got, prefix):
    ids = [int(x[len(prefix):]) for x in got]
    assert ids == sorted(set(ids)), f"{prefix}: duplicated or out of order: {ids}"
    return len(ids)
time.sleep(25)  # node 3 unreachable, then downed by the split-brain resolver (StableAfterSeconds=5 in the harness)
got_ab, got_ba = in_order_once(b.bodies("ab"), "ab"), in_order_once(a.bodies("ba"), "ba")
# from now on the survivors route around it: each of these arrives, once, in order
def chat_after(sender, to, prefix):
    for i in range(50):
        sender.send(f"<message to='{to}' type='chat'><body>{prefix}{i}</body></message>")
chat_after(a, b.jid, "after-ab")
chat_after(b, a.jid, "after-ba")
a.send(f"<message to='killc@{domain}' type='chat'><body>kc0</body></message>")  # the account whose node died
b.wait(lambda: len(b.bodies("after-ab")) >= 50, 60, "every message from node 1's client after the kill")
a.wait(lambda: len(a.bodies("after-ba")) >= 50, 60, "every message from node 2's client after the kill")
time.sleep(1)
assert b.bodies("after-ab") == [f"after-ab{i}" for i in range(50)], "node 2's client: not each once in order"
assert a.bodies("after-ba") == [f"after-ba{i}" for i in range(50)], "node 1's client: not each once in order"
# the dead node's account: kept while it had no session, delivered on a survivor
again = Client("killc", ports[0])
again.wait(lambda: again.bodies("kc") == ["kc0"], 60, "the message sent to killc while its node was dead")
print(f"cluster-node-kill.sh: node 3 (PID {pid3}) killed mid-traffic; of {N} + {N} messages sent around the kill "
      f"{got_ab} + {got_ba} arrived (none twice, in order); 50 + 50 sent after it arrived; the message to the account "
      "whose node died was kept and delivered on a survivor")
PY
status=0
