#!/usr/bin/env python3
"""PubSub fan-out (issue 11, "Fan-out"): session 0 creates a node on pubsub.<domain>, sessions 1..--subs subscribe,
then session 0 publishes in a closed loop (--window publishes in flight, the next on an IQ result) for --duration
seconds. Every subscriber's notification counts.

Unlike ../shared/bench/loadgen.py's pubsub phase (whose CPU figure includes the subscribes), the server's CPU
(utime+stime from /proc of its PID and direct children) is sampled over the measured window only, so
`server_cpu_us_per_notification` is what one delivered notification costs while publishing. Also reported:
notifications/s, publishes/s, latency p50/p99/max from the publish's send to each copy (stamped in the payload), and
the copies missing after a drain (acknowledged publishes × subscribers − copies received). --once publishes a single
item after the subscribes and reports the time until the last subscriber has it.

Logins reuse ../shared/bench/loadgen.py (set BENCH_LOADGEN to another copy). Loopback only.

  tests/bench/pubsubfanout.py --port 16222 --domain bench.local --n 1001 --server-pid PID [--duration 10] [--once]
"""
import asyncio
import os
import random
import time

import benchlib
from benchlib import loadgen


PUBSUB = "http://jabber.org/protocol/pubsub"


async def run(a):
    b = loadgen.Bench(a)
    res = {"cmd": "pubsub-fanout", "server": a.server, "n": a.n, "window": a.window, "once": a.once,
           "ts": time.strftime("%Y-%m-%dT%H:%M:%S"), "loadavg": os.getloadavg()[0]}
    pid = a.server_pid
    svc = a.pubsub_service or f"pubsub.{a.domain}"
    node = f"fanout{random.randrange(1 << 30)}"

    async def work():
        st = await b.storm(a.n)
        res["storm"] = {k: st[k] for k in ("ok", "errors", "wall_s") if k in st}
        live = [b.conns[i] for i in sorted(b.conns) if not b.conns[i].lost]
        pub, subs = live[0], live[1:]
        el = await b.iq_roundtrip(pub, f"<iq type='set' to='{svc}' id='pc'><pubsub xmlns='{PUBSUB}'>"
                                       f"<create node='{node}'/></pubsub></iq>", "pc", a.timeout)
        if b"type='result'" not in el[:200] and b'type="result"' not in el[:200]:
            raise RuntimeError("create failed: " + el[:300].decode(errors="replace"))
        sem = asyncio.Semaphore(100)

        async def subscribe(c):
            async with sem:
                r = await b.iq_roundtrip(c, f"<iq type='set' to='{svc}' id='ps'><pubsub xmlns='{PUBSUB}'>"
                                            f"<subscribe node='{node}' jid='{c.user}@{a.domain}'/></pubsub></iq>",
                                         "ps", a.timeout)
                return b"error" not in r[: r.find(b">")]

        t_sub = time.monotonic()
        oks = await asyncio.gather(*(subscribe(c) for c in subs))
        res["subscribers"] = sum(1 for x in oks if x)
        res["subscribe_wall_s"] = round(time.monotonic() - t_sub, 2)
        await asyncio.sleep(1.0)

        got, lat, measuring = [0], [], [False]
        last_arrival = [0]

        def on_msg(c, t, k):
            if c is not pub:
                got[0] += 1
                last_arrival[0] = loadgen.now_ns()
                if measuring[0]:
                    lat.append(last_arrival[0] - t)

        b.on_msg = on_msg
        seq, inflight, acked, errors, stop = [0], [0], [0], [0], [False]
        pub.steady = False  # the publisher's replies are read here

        def publish():
            seq[0] += 1
            pub.send(f"<iq type='set' to='{svc}' id='p{seq[0]}'><pubsub xmlns='{PUBSUB}'><publish node='{node}'>"
                     f"<item><x xmlns='urn:xmppbench'>@@T{loadgen.now_ns()}@@P{seq[0]}@@</x></item></publish>"
                     f"</pubsub></iq>")
            inflight[0] += 1

        async def reader():
            while not (stop[0] and inflight[0] == 0):
                name, el = await pub.next_el(a.timeout)
                if name != "iq":
                    continue
                inflight[0] -= 1
                if b"result" in el[: el.find(b">")]:
                    acked[0] += 1
                else:
                    errors[0] += 1
                if not stop[0] and not a.once:
                    publish()

        rd = asyncio.ensure_future(reader())
        if a.once:
            t_send = loadgen.now_ns()
            stop[0] = True
            publish()
            deadline = time.monotonic() + a.timeout
            while got[0] < res["subscribers"] and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            res["once_ms_to_last"] = round((last_arrival[0] - t_send) / 1e6, 1) if got[0] else None
            res["once_delivered"] = got[0]
            await asyncio.wait_for(rd, a.timeout)
        else:
            for _ in range(a.window):
                publish()
            await asyncio.sleep(2.0)
            measuring[0] = True
            g0, p0, t0 = got[0], acked[0], time.monotonic()
            _, c0 = loadgen.proc_sample(pid)
            await asyncio.sleep(a.duration)
            _, c1 = loadgen.proc_sample(pid)
            g1, p1, t1 = got[0], acked[0], time.monotonic()
            measuring[0] = False
            stop[0] = True
            await asyncio.wait_for(rd, a.timeout)
            await asyncio.sleep(a.drain)
            window = t1 - t0
            res.update({"duration_s": round(window, 3), "publishes_per_s": round((p1 - p0) / window, 1),
                        "notifications_per_s": round((g1 - g0) / window, 1), "latency": loadgen.lat_summary(lat),
                        "published": acked[0], "publish_errors": errors[0],
                        "missing_after_drain": acked[0] * res["subscribers"] - got[0]})
            if c0 is not None:
                res["server_cpu_s_window"] = round(c1 - c0, 3)
                res["server_cpu_us_per_notification"] = round(1e6 * (c1 - c0) / max(1, g1 - g0), 2)
        pub.steady = True
        b.on_msg = None
        await b.iq_roundtrip(pub, f"<iq type='set' to='{svc}' id='pd'><pubsub xmlns='{PUBSUB}#owner'>"
                                  f"<delete node='{node}'/></pubsub></iq>", "pd", a.timeout)
        return 0 if res.get("publish_errors", 0) == 0 and res.get("missing_after_drain", 0) == 0 else 1

    return await benchlib.finish(a, b, res, work())


def main():
    ap = benchlib.parser(__doc__)
    ap.add_argument("--n", type=int, default=1001, help="sessions u0..u<n-1>: one publisher, n-1 subscribers")
    ap.add_argument("--pubsub-service", default="")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--window", type=int, default=4, help="publishes in flight")
    ap.add_argument("--drain", type=float, default=3.0)
    ap.add_argument("--once", action="store_true", help="one publish; the time until the last subscriber has it")
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    benchlib.run(a, run, concurrency=200)


if __name__ == "__main__":
    main()
