#!/usr/bin/env python3
"""Issue 17's hostile scenarios against one XMPP server on loopback, each bounded in time and count, every attacker on
a loopback address of its own (127.0.0.2 and up) and the well-behaved clients on 127.0.0.1, so that what a server does
to an abusive address can be told from what it does to everyone else:

  flood      one client sends chat messages to another as fast as its socket takes them, while 10 probe pairs send
             10 messages/s each way: the flooder's delivered rate, the probes' latency p50/p99 before and during the
             flood and what they lost, the server's CPU, and whether the flooder was cut off (and how)
  unauth     up to 10,000 connections from one address that send a stream header and nothing else: how many the
             server took and still held 5 s later, what it answered, its RSS growth, and whether a login from another
             address still works (and how long it takes)
  register   XEP-0077 in-band registrations from one address for 10 s, 10 at a time: accounts created, refusals by
             condition
  guess      20 connections from one address guessing one account's password with SASL PLAIN for 15 s: guesses the
             server answered (the attacker's rate), answers by condition, and whether the real user can still log in
             from another address afterwards
  slowloris  30 logged-in connections each sending one byte per second of an unfinished stanza: how many the server
             closed within 90 s, how soon (median), with which error

The server's CPU (utime+stime) and RSS come from /proc of --server-pid. Needs accounts PREFIX0..PREFIX59 with the same
password (hostile.sh provisions them). Loopback only. One JSON line per scenario on stdout and in --out.

  tests/bench/hostile.py --port 16222 --domain localhost --server-pid PID --server actors [--only "flood guess"]
"""
import asyncio
import base64
import json
import os
import random
import resource
import statistics
import sys
import time

import benchlib
from benchlib import loadgen

SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
STREAM_OPEN = loadgen.STREAM_OPEN


class Raw:
    """One raw client connection from a chosen loopback source address."""

    def __init__(self, reader, writer):
        self.r, self.w, self.buf, self.closed = reader, writer, bytearray(), False
        self.error = None  # the stream error's condition, if one came

    @staticmethod
    async def open(a, source, timeout=10):
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(a.host, a.port, local_addr=(source, 0), limit=1 << 20), timeout)
        return Raw(reader, writer)

    def send(self, s):
        if not self.closed:
            self.w.write(s.encode() if isinstance(s, str) else s)

    async def next(self, timeout):
        """The next top-level element (name, bytes); ConnectionError when the server closes the stream or socket."""
        deadline = time.monotonic() + timeout
        while True:
            el = loadgen.take_element(self.buf)
            if el is not None:
                if el[0] == "stream:error":
                    self.error = condition(el[1])
                    raise ConnectionError("stream error " + self.error)
                if el[0] == "/close":
                    raise ConnectionError("stream closed")
                return el
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError()
            data = await asyncio.wait_for(self.r.read(65536), left)
            if not data:
                self.closed = True
                raise ConnectionError("connection closed")
            self.buf += data

    async def expect(self, names, timeout):
        while True:
            name, el = await self.next(timeout)
            if name in names:
                return name, el

    async def stream(self, domain, timeout=10):
        self.send(STREAM_OPEN.format(d=domain))
        await self.expect(("stream",), timeout)
        _, features = await self.expect(("stream:features", "features"), timeout)
        return features

    async def login(self, a, user, timeout=10):
        await self.stream(a.domain, timeout)
        blob = base64.b64encode(b"\0" + user.encode() + b"\0" + a.password.encode()).decode()
        self.send(f"<auth xmlns='{SASL}' mechanism='PLAIN'>{blob}</auth>")
        name, el = await self.expect(("success", "failure"), timeout)
        if name != "success":
            raise RuntimeError("auth failed: " + condition(el))
        await self.stream(a.domain, timeout)
        self.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>h</resource></bind></iq>")
        _, el = await self.expect(("iq",), timeout)
        if b"result" not in el[: el.find(b">")]:
            raise RuntimeError("bind failed: " + el[:200].decode(errors="replace"))
        self.jid = loadgen.inner_text(el, b"jid")
        self.send("<presence/>")
        return self

    def abort(self):
        self.closed = True
        try:
            self.w.transport.abort()
        except Exception:  # noqa: BLE001
            pass


def condition(el):
    """The first child element name inside an error-like element (a stream error, a SASL failure, a stanza error)."""
    text = el.decode(errors="replace")
    start = text.find("<error")
    body = text[start:] if start >= 0 else text[text.find(">") + 1:]
    i = -1
    while True:
        i = body.find("<", i + 1)
        if i < 0:
            return "?"
        name = body[i + 1:].split(">", 1)[0].split(" ", 1)[0].rstrip("/")
        if name and not name.startswith(("/", "text", "error", "failure", "stream:error", "?")):
            return name


def cpu_rss(pid):
    """(cpu seconds, rss KiB) of the server process."""
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    cpu = (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return cpu, rss


def ms(v):
    return None if v is None else round(v * 1000, 1)


def user(a, i):
    return f"{a.prefix}{i}"


async def legit_login(a, i):
    """A well-behaved login from 127.0.0.1: (ok, seconds, error)."""
    t0 = time.monotonic()
    c = None
    try:
        c = await Raw.open(a, "127.0.0.1")
        await c.login(a, user(a, i))
        return True, round(time.monotonic() - t0, 3), None
    except Exception as e:  # noqa: BLE001
        return False, round(time.monotonic() - t0, 3), f"{type(e).__name__}: {e}"[:200]
    finally:
        if c is not None:
            c.abort()


# ----------------------------------------------------------------------------------------------------------- flood
async def probes(a, clients, seconds, rate_each):
    """Pairs (sender, receiver) exchanging rate_each messages/s each way for seconds; latency of each delivered one."""
    lat, sent = [], [0]
    stop = time.monotonic() + seconds

    async def reader(c):
        while True:
            try:
                name, el = await c.next(30)
            except Exception:  # noqa: BLE001
                return
            if name == "message":
                i = el.find(b"@@T")
                if i >= 0:
                    lat.append(time.monotonic() - float(el[i + 3: el.find(b"@@", i + 3)].decode()))

    async def sender(c, to):
        while time.monotonic() < stop:
            c.send(f"<message to='{to}' type='chat'><body>@@T{time.monotonic():.6f}@@ probe</body></message>")
            sent[0] += 1
            await asyncio.sleep(1.0 / rate_each)

    readers = [asyncio.ensure_future(reader(c)) for c in clients]
    senders = [asyncio.ensure_future(sender(clients[k], clients[k + 1].jid)) for k in range(0, len(clients), 2)]
    senders += [asyncio.ensure_future(sender(clients[k + 1], clients[k].jid)) for k in range(0, len(clients), 2)]
    await asyncio.gather(*senders)
    await asyncio.sleep(2)  # drain
    for r in readers:
        r.cancel()
    lat.sort()
    pick = lambda p: lat[min(len(lat) - 1, int(p / 100 * (len(lat) - 1)))] if lat else None  # noqa: E731
    return {"sent": sent[0], "delivered": len(lat), "lost": sent[0] - len(lat), "p50_ms": ms(pick(50)), "p99_ms": ms(pick(99))}


async def flood(a, res):
    clients = [await Raw.open(a, "127.0.0.1") for _ in range(20)]
    for k, c in enumerate(clients):
        await c.login(a, user(a, 2 + k))
    for c in clients:
        await c.expect(("presence",), 10)
    res["probe_before"] = await probes(a, clients, 5, 10)
    flooder = await Raw.open(a, "127.0.0.6")
    await flooder.login(a, user(a, 0))
    target = await Raw.open(a, "127.0.0.1")
    await target.login(a, user(a, 1))
    got, sent, errors = [0], [0], {}
    pad = "x" * 80
    stop = time.monotonic() + a.flood_seconds

    async def flood_writer():
        chunk = "".join(f"<message to='{target.jid}' type='chat'><body>{pad}</body></message>" for _ in range(50))
        while time.monotonic() < stop and not flooder.closed:
            flooder.send(chunk)
            sent[0] += 50
            try:
                await asyncio.wait_for(flooder.w.drain(), max(0.01, stop - time.monotonic()))
            except asyncio.TimeoutError:
                break
            except Exception:  # noqa: BLE001
                flooder.closed = True

    async def flood_reader():  # what the server tells the flooder (stanza errors, a stream error)
        while True:
            try:
                name, el = await flooder.next(60)
            except ConnectionError:
                flooder.closed = True
                return
            except Exception:  # noqa: BLE001
                return
            if b"type='error'" in el or b'type="error"' in el:
                errors[condition(el)] = errors.get(condition(el), 0) + 1

    async def target_reader():
        while True:
            try:
                name, el = await target.next(60)
            except Exception:  # noqa: BLE001
                return
            if name == "message":
                got[0] += 1

    tasks = [asyncio.ensure_future(flood_reader()), asyncio.ensure_future(target_reader())]
    cpu0, _ = cpu_rss(a.server_pid)
    t0 = time.monotonic()
    writer = asyncio.ensure_future(flood_writer())
    res["probe_during"] = await probes(a, clients, a.flood_seconds, 10)
    await writer
    wall = time.monotonic() - t0
    cpu1, _ = cpu_rss(a.server_pid)
    await asyncio.sleep(1)
    res.update({"flood_written": sent[0], "flood_delivered": got[0], "flood_delivered_per_s": round(got[0] / wall),
                "flood_errors": errors, "flooder_cut_off": flooder.closed, "flooder_stream_error": flooder.error,
                "server_cpu_s": round(cpu1 - cpu0, 2), "wall_s": round(wall, 1)})
    for t in tasks:
        t.cancel()
    for c in clients + [flooder, target]:
        c.abort()


# ----------------------------------------------------------------------------------------------------------- unauth
async def unauth(a, res):
    conns, refused, answers = [], [0], {}
    _, rss0 = cpu_rss(a.server_pid)
    cpu0, _ = cpu_rss(a.server_pid)
    sem = asyncio.Semaphore(200)
    stop = time.monotonic() + 60

    async def one():
        async with sem:
            if time.monotonic() > stop:
                return
            try:
                c = await Raw.open(a, "127.0.0.2", timeout=5)
            except Exception:  # noqa: BLE001
                refused[0] += 1
                return
            c.send(STREAM_OPEN.format(d=a.domain))
            conns.append(c)

    await asyncio.gather(*(one() for _ in range(a.unauth_n)))
    res["opened"] = len(conns)
    res["connect_failed"] = refused[0]
    await asyncio.sleep(5)
    ok, seconds, err = await legit_login(a, 2)
    res["legit_login"] = {"ok": ok, "seconds": seconds, "error": err}

    async def state(c):
        # closed by the server (and with which stream error), or still open
        while True:
            try:
                await c.next(0.05)
            except asyncio.TimeoutError:
                return "open"
            except ConnectionError:
                return c.error or "closed"
            except Exception:  # noqa: BLE001
                return "closed"

    for s in await asyncio.gather(*(state(c) for c in conns)):
        answers[s] = answers.get(s, 0) + 1
    cpu1, rss1 = cpu_rss(a.server_pid)
    res["after_5s"] = answers
    res["server_rss_growth_mib"] = round((rss1 - rss0) / 1024, 1)
    res["server_cpu_s"] = round(cpu1 - cpu0, 2)
    for c in conns:
        c.abort()


# ----------------------------------------------------------------------------------------------------------- register
async def register(a, res):
    created, answers = [0], {}
    stop = time.monotonic() + 10
    attempts = [0]

    async def worker(w):
        while time.monotonic() < stop:
            c = None
            try:
                c = await Raw.open(a, "127.0.0.3", timeout=5)
                await c.stream(a.domain, 5)
                while time.monotonic() < stop:
                    name = f"spam{random.randrange(1 << 40):x}"
                    attempts[0] += 1
                    c.send(f"<iq type='set' id='r{attempts[0]}'><query xmlns='jabber:iq:register'>"
                           f"<username>{name}</username><password>Spam-{name}-password</password></query></iq>")
                    _, el = await c.expect(("iq",), 10)
                    if b"type='result'" in el or b'type="result"' in el:
                        created[0] += 1
                    else:
                        k = condition(el)
                        answers[k] = answers.get(k, 0) + 1
            except Exception as e:  # noqa: BLE001
                k = c.error if c is not None and c.error else type(e).__name__
                answers[k] = answers.get(k, 0) + 1
                await asyncio.sleep(0.05)
            finally:
                if c is not None:
                    c.abort()

    await asyncio.gather(*(worker(w) for w in range(10)))
    res.update({"attempts": attempts[0], "created": created[0], "refused": answers})


# ----------------------------------------------------------------------------------------------------------- guess
async def guess(a, res):
    victim = user(a, 3)
    answered, answers, connects = [0], {}, [0]
    stop = time.monotonic() + 15
    first_refusal = [None]
    t0 = time.monotonic()

    async def worker(w):
        while time.monotonic() < stop:
            c = None
            try:
                connects[0] += 1
                c = await Raw.open(a, "127.0.0.4", timeout=5)
                await c.stream(a.domain, 5)
                while time.monotonic() < stop:
                    blob = base64.b64encode(f"\0{victim}\0wrong{random.randrange(1 << 30)}".encode()).decode()
                    c.send(f"<auth xmlns='{SASL}' mechanism='PLAIN'>{blob}</auth>")
                    name, el = await c.expect(("success", "failure"), 10)
                    answered[0] += 1
                    k = condition(el) if name == "failure" else "success"
                    answers[k] = answers.get(k, 0) + 1
                    if k != "not-authorized" and first_refusal[0] is None:
                        first_refusal[0] = round(time.monotonic() - t0, 2)
            except Exception as e:  # noqa: BLE001
                k = c.error if c is not None and c.error else type(e).__name__
                answers[k] = answers.get(k, 0) + 1
                if first_refusal[0] is None:
                    first_refusal[0] = round(time.monotonic() - t0, 2)
                await asyncio.sleep(0.05)
            finally:
                if c is not None:
                    c.abort()

    await asyncio.gather(*(worker(w) for w in range(20)))
    wall = time.monotonic() - t0
    ok, seconds, err = await legit_login(a, 3)
    res.update({"guesses_answered": answered[0], "guesses_per_s": round(answered[0] / wall, 1), "connections": connects[0],
                "answers": answers, "first_refusal_s": first_refusal[0],
                "victim_login_after": {"ok": ok, "seconds": seconds, "error": err}})


# ----------------------------------------------------------------------------------------------------------- slowloris
async def slowloris(a, res):
    conns = []
    for k in range(30):
        c = await Raw.open(a, "127.0.0.5")
        await c.login(a, user(a, 30 + k))
        conns.append(c)
    _, rss0 = cpu_rss(a.server_pid)
    t0 = time.monotonic()
    closed_at, how = {}, {}
    for c in conns:
        c.send(f"<message to='{user(a, 1)}@{a.domain}' type='chat'><body>")

    async def trickle(i, c):
        while time.monotonic() - t0 < a.slowloris_seconds:
            await asyncio.sleep(1)
            try:
                c.send("x")
                await asyncio.wait_for(c.w.drain(), 1)
                while True:
                    await c.next(0.01)  # anything the server says (a stream error ends it)
            except asyncio.TimeoutError:
                continue
            except Exception:  # noqa: BLE001
                closed_at[i] = time.monotonic() - t0
                how[c.error or "closed"] = how.get(c.error or "closed", 0) + 1
                return

    await asyncio.gather(*(trickle(i, c) for i, c in enumerate(conns)))
    _, rss1 = cpu_rss(a.server_pid)
    res.update({"connections": len(conns), "closed": len(closed_at), "open_after_s": a.slowloris_seconds,
                "median_close_s": round(statistics.median(closed_at.values()), 1) if closed_at else None,
                "closed_with": how, "server_rss_growth_mib": round((rss1 - rss0) / 1024, 1)})
    for c in conns:
        c.abort()


SCENARIOS = {"flood": flood, "unauth": unauth, "register": register, "guess": guess, "slowloris": slowloris}


async def main(a):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    status = 0
    for name in a.only.split():
        res = {"cmd": "hostile", "scenario": name, "server": a.server, "ts": time.strftime("%Y-%m-%dT%H:%M:%S"),
               "loadavg": os.getloadavg()[0]}
        try:
            await asyncio.wait_for(SCENARIOS[name](a, res), 300)
        except Exception as e:  # noqa: BLE001
            res["fatal"] = f"{type(e).__name__}: {e}"[:300]
            status = 1
        benchlib.emit(a, res)
        await asyncio.sleep(2)
    return status


if __name__ == "__main__":
    ap = benchlib.parser(__doc__)
    ap.add_argument("--only", default="flood unauth register guess slowloris")
    ap.add_argument("--flood-seconds", type=float, default=15)
    ap.add_argument("--unauth-n", type=int, default=10000)
    ap.add_argument("--slowloris-seconds", type=float, default=90)
    args = ap.parse_args()
    if not args.host.startswith("127."):
        sys.exit("loopback targets only")
    sys.exit(asyncio.run(main(args)))
