#!/usr/bin/env python3
"""MUC fan-out (issue 15, "Performance"): N sessions enter one room on conference.<domain>, the first creates it as an
instant room (XEP-0045 §10.1.2), then one occupant sends groupchat messages in a closed loop (--window in flight, the
next on the reflection of one of its own) for --duration seconds. Every occupant's copy counts, the sender's too.

Reports copies delivered/s, latency p50/p99 (stamped in the body), copies missing after a 3 s drain, and the server's
CPU (utime+stime from /proc, as ../shared/bench/loadgen.py samples it) per delivered copy: over the message window only
(`server_cpu_us_per_copy`) and over the whole phase, joins and drain included (`server_cpu_us_per_copy_phase`).

Logins reuse ../shared/bench/loadgen.py (its Bench and Conn; set BENCH_LOADGEN to another copy). Loopback only.

  tests/bench/mucfanout.py --port 16222 --domain localhost --n 100 --server-pid PID [--duration 20] [--out FILE]
"""
import asyncio
import os
import random
import time

import benchlib
from benchlib import loadgen


MUC = "http://jabber.org/protocol/muc"


async def enter(b, c, room, nick, timeout):
    """Sends the occupant's presence and waits for its own presence back (status 110, §7.2.2)."""
    c.steady = False
    c.send(f"<presence to='{room}/{nick}'><x xmlns='{MUC}'/></presence>")
    try:
        while True:
            name, el = await c.next_el(timeout)
            if name != "presence":
                continue
            at = loadgen.attrs(el)
            if at.get("from") == f"{room}/{nick}":
                if at.get("type") == "error":
                    raise RuntimeError("enter failed: " + el[:300].decode(errors="replace"))
                return el
    finally:
        c.steady = True
        if c.buf:
            b.on_steady_data(c)


async def run(a):
    b = loadgen.Bench(a)
    res = {"cmd": "muc", "server": a.server, "n": a.n, "window": a.window, "ts": time.strftime("%Y-%m-%dT%H:%M:%S"),
           "loadavg": os.getloadavg()[0]}
    spid = a.server_pid

    async def work():
        st = await b.storm(a.n)
        res["storm"] = {k: st[k] for k in ("ok", "errors", "wall_s", "first_errors") if k in st}
        live = [b.conns[i] for i in sorted(b.conns) if not b.conns[i].lost]
        room = f"bench{random.randrange(1 << 30)}@{a.muc_service or 'conference.' + a.domain}"
        _, c0 = loadgen.proc_sample(spid)
        owner = live[0]
        await enter(b, owner, room, "n0", a.timeout)
        # §10.1.2: an instant room (accepts the default configuration; servers that create unlocked rooms answer too)
        await b.iq_roundtrip(owner, f"<iq type='set' to='{room}' id='inst'><query xmlns='{MUC}#owner'>"
                                    "<x xmlns='jabber:x:data' type='submit'/></query></iq>", "inst", a.timeout)
        sem = asyncio.Semaphore(20)

        async def one(k, c):
            async with sem:
                await enter(b, c, room, f"n{k}", a.timeout)

        await asyncio.gather(*(one(k, c) for k, c in enumerate(live[1:], 1)))
        occupants = len(live)
        await asyncio.sleep(1.0)
        got = [0]
        lat = []
        measuring = [False]
        sent = [0]
        stop = [False]
        sender = owner
        pad = "x" * a.body_pad

        def send():
            sent[0] += 1
            sender.send(f"<message to='{room}' type='groupchat' id='m{sent[0]}'>"
                        f"<body>@@T{loadgen.now_ns()}@@P{sent[0]}@@ {pad}</body></message>")

        def on_msg(c, t, k):
            got[0] += 1
            if measuring[0]:
                lat.append(loadgen.now_ns() - t)
            if c is sender and not stop[0]:
                send()

        b.on_msg = on_msg
        _, cj = loadgen.proc_sample(spid)
        for _ in range(a.window):
            send()
        await asyncio.sleep(2.0)
        measuring[0] = True
        g0, s0, t0 = got[0], sent[0], time.monotonic()
        _, cw0 = loadgen.proc_sample(spid)
        await asyncio.sleep(a.duration)
        _, cw1 = loadgen.proc_sample(spid)
        g1, t1 = got[0], time.monotonic()
        measuring[0] = False
        stop[0] = True
        await asyncio.sleep(3.0)  # drain
        _, c1 = loadgen.proc_sample(spid)
        b.on_msg = None
        expected = sent[0] * occupants
        res.update({"occupants": occupants, "room": room, "sent": sent[0], "expected_copies": expected,
                    "delivered_copies": got[0], "missing_after_drain": expected - got[0],
                    "copies_per_s": round((g1 - g0) / (t1 - t0), 1), "latency": loadgen.lat_summary(lat)})
        if c0 is not None:
            window_copies = max(1, g1 - g0)
            res["server_cpu_s_window"] = round(cw1 - cw0, 3)
            res["server_cpu_us_per_copy"] = round(1e6 * (cw1 - cw0) / window_copies, 2)
            res["server_cpu_s_joins"] = round(cj - c0, 3)
            res["server_cpu_us_per_copy_phase"] = round(1e6 * (c1 - c0) / max(1, got[0]), 2)
        return 0

    return await benchlib.finish(a, b, res, work())


def main():
    ap = benchlib.parser(__doc__)
    ap.add_argument("--n", type=int, default=100, help="occupants (sessions u0..u<n-1>)")
    ap.add_argument("--muc-service", default="")
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--window", type=int, default=4)
    ap.add_argument("--body-pad", type=int, default=40)
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    benchlib.run(a, run)


if __name__ == "__main__":
    main()
