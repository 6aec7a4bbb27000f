#!/usr/bin/env python3
"""PubSub nodes at rest (issue 11, "Fan-out": RSS per node with 100,000 nodes): --owners sessions (u0..) create --nodes
nodes on pubsub.<domain> in equal shares and publish one small item to each (a sensor's last value), --window IQs in
flight in all. The server's RSS
(VmRSS of its PID and direct children, as ../shared/bench/loadgen.py samples it) is read once the server is idle
before, right after, and again after --rest seconds (a server that passivates idle nodes has let them go by then).
A few nodes are then read back (items get) to show they are all still there.

Reports KiB per node after the creates and after the rest, server CPU per node (create + publish), and every error.
Logins reuse ../shared/bench/loadgen.py (set BENCH_LOADGEN to another copy). Loopback only.

  tests/bench/pubsubnodes.py --port 16222 --domain bench.local --server-pid PID [--nodes 100000] [--rest 60] [--out F]
"""
import asyncio
import os
import random
import re
import time

import benchlib
from benchlib import loadgen


PUBSUB = "http://jabber.org/protocol/pubsub"
ITEM_RE = re.compile(rb"<item[ >/]")


async def settle(pid, idle_pct, hold):
    """Waits (at most hold seconds) until the server used less than idle_pct of a core over one second, then 3 s more,
    as loadgen's hold phase does; returns its RSS in KiB."""
    deadline = time.monotonic() + hold
    _, c0 = loadgen.proc_sample(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        _, c1 = loadgen.proc_sample(pid)
        if 100 * (c1 - c0) < idle_pct:
            break
        c0 = c1
    await asyncio.sleep(3.0)
    rss, _ = loadgen.proc_sample(pid)
    return rss


async def run(a):
    b = loadgen.Bench(a)
    res = {"cmd": "pubsub-nodes", "server": a.server, "nodes": a.nodes, "window": a.window,
           "ts": time.strftime("%Y-%m-%dT%H:%M:%S"), "loadavg": os.getloadavg()[0]}
    pid = a.server_pid
    svc = a.pubsub_service or f"pubsub.{a.domain}"
    prefix = f"n{random.randrange(1 << 20)}x"

    async def work():
        st = await b.storm(a.owners)
        if st["ok"] != a.owners:
            raise RuntimeError(f"logins failed: {st.get('first_errors')}")
        owners = [b.conns[i] for i in sorted(b.conns)]
        for c in owners:
            c.steady = False  # this tool reads the sessions' replies itself
        res["owners"] = len(owners)
        res["rss_kib_before"] = await settle(pid, a.idle_pct, a.hold)
        _, cpu0 = loadgen.proc_sample(pid)
        t0 = time.monotonic()
        counts = {"created": 0, "create_errors": 0, "published": 0, "publish_errors": 0}
        first_errors = []
        window = max(1, a.window // len(owners))

        async def owner(c, first, last):
            """Creates nodes first..last-1 and publishes one item to each, `window` requests in flight."""
            next_node, inflight = [first], [0]

            def create():
                k = next_node[0]
                next_node[0] += 1
                c.send(f"<iq type='set' to='{svc}' id='c{k}'><pubsub xmlns='{PUBSUB}'>"
                       f"<create node='{prefix}{k}'/></pubsub></iq>")
                inflight[0] += 1

            def publish(k):
                c.send(f"<iq type='set' to='{svc}' id='p{k}'><pubsub xmlns='{PUBSUB}'><publish node='{prefix}{k}'>"
                       f"<item id='last'><reading xmlns='urn:example:sensor' t='{k}' v='21.5' unit='C'/></item>"
                       f"</publish></pubsub></iq>")
                inflight[0] += 1

            while next_node[0] < last and inflight[0] < window:
                create()
            while inflight[0] > 0:
                name, el = await c.next_el(a.timeout)
                if name != "iq":
                    continue
                at = loadgen.attrs(el)
                ident = at.get("id", "")
                ok = at.get("type") == "result"
                inflight[0] -= 1
                if ident.startswith("c"):
                    counts["created" if ok else "create_errors"] += 1
                    if ok:
                        publish(int(ident[1:]))
                    elif len(first_errors) < 3:
                        first_errors.append(el[:300].decode(errors="replace"))
                elif ident.startswith("p"):
                    counts["published" if ok else "publish_errors"] += 1
                    if not ok and len(first_errors) < 3:
                        first_errors.append(el[:300].decode(errors="replace"))
                if ident[:1] in ("c", "p") and next_node[0] < last and inflight[0] < window:
                    create()

        share = -(-a.nodes // len(owners))
        await asyncio.gather(*(owner(c, i * share, min(a.nodes, (i + 1) * share)) for i, c in enumerate(owners)))
        wall = time.monotonic() - t0
        _, cpu1 = loadgen.proc_sample(pid)
        res.update(counts)
        res["first_errors"] = first_errors
        res["wall_s"] = round(wall, 2)
        res["nodes_per_s"] = round(counts["created"] / wall, 1)
        res["server_cpu_ms_per_node"] = round(1000 * (cpu1 - cpu0) / max(1, counts["created"]), 3)
        res["rss_kib_after"] = await settle(pid, a.idle_pct, a.hold)
        n = max(1, counts["created"])
        res["kib_per_node_after"] = round((res["rss_kib_after"] - res["rss_kib_before"]) / n, 3)
        if a.rest > 0:
            await asyncio.sleep(a.rest)
            res["rss_kib_rested"] = await settle(pid, a.idle_pct, a.hold)
            res["kib_per_node_rested"] = round((res["rss_kib_rested"] - res["rss_kib_before"]) / n, 3)
        # every node is still there: read a sample of them back
        sample = random.sample(range(a.nodes), min(a.check, a.nodes)) if counts["create_errors"] == 0 else []
        found = 0
        c = owners[0]
        for k in sample:
            el = await b.iq_roundtrip(c, f"<iq type='get' to='{svc}' id='g{k}'><pubsub xmlns='{PUBSUB}'>"
                                         f"<items node='{prefix}{k}'/></pubsub></iq>", f"g{k}", a.timeout)
            if b"type='result'" in el[:200] or b'type="result"' in el[:200]:
                found += 1 if ITEM_RE.search(el) else 0
        res["checked"] = len(sample)
        res["checked_with_item"] = found
        return 0 if counts["create_errors"] == 0 and counts["publish_errors"] == 0 and found == len(sample) else 1

    return await benchlib.finish(a, b, res, work())


def main():
    ap = benchlib.parser(__doc__)
    ap.add_argument("--pubsub-service", default="")
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--owners", type=int, default=100, help="sessions u0..u<owners-1> that create the nodes, in equal shares")
    ap.add_argument("--window", type=int, default=200, help="IQs in flight, over all owners")
    ap.add_argument("--rest", type=float, default=60, help="seconds to wait before the last RSS reading (0: none)")
    ap.add_argument("--check", type=int, default=20, help="nodes read back at the end")
    ap.add_argument("--idle-pct", type=float, default=10)
    ap.add_argument("--hold", type=float, default=60, help="max seconds to wait for the server to go idle")
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    if not a.server_pid:
        ap.error("--server-pid is required")
    a.n = a.owners
    benchlib.run(a, run)


if __name__ == "__main__":
    main()
