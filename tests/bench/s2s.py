#!/usr/bin/env python3
"""Server-to-server throughput and CPU per message over one federated link (issue 12's s2s benchmark).

  s2s.py --sender HOST:PORT:JID:PASSWORD --receiver HOST:PORT:JID:PASSWORD --messages N [--window W | --rate R]
         [--pid NAME=PID ...]

Logs both accounts in over plain c2s (SASL PLAIN, no TLS: the servers under test allow it on loopback), sends N chat
messages from the sender to the receiver's full JID, and prints one JSON line: messages/s from the first send to the
last receipt, how many were lost, for each --pid the CPU (user+system from /proc) it used per message and the sum of
them all ("total"). With --window (throughput) at most W are in flight (counted by receipt at the receiver); with
--rate (a fixed rate) R messages a second are sent on schedule whatever arrives, each carrying its send time, and the
latency from send to receipt is reported (p50, p99, max, in ms). The s2s link is set up by a first message before
timing starts. Only loopback addresses are accepted; every wait is bounded."""
import argparse
import asyncio
import base64
import ipaddress
import json
import os
import re
import time
import uuid

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15)


class Client:
    def __init__(self, host, port, jid, password):
        if not ipaddress.ip_address(host).is_loopback:
            raise SystemExit(f"{host} is not a loopback address")
        self.host, self.port, self.password = host, int(port), password
        self.user, self.domain = jid.split("@", 1)
        self.full = None
        self.buffer = b""

    async def read_until(self, pattern: bytes, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.buffer, re.S)
            if m:
                self.buffer = self.buffer[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.user}@{self.domain}: no {pattern!r} in {self.buffer[-300:]!r}")
            data = await asyncio.wait_for(self.reader.read(65536), left)
            if not data:
                raise ConnectionError(f"{self.user}@{self.domain}: closed; last {self.buffer[-300:]!r}")
            self.buffer += data

    def header(self):
        return (f"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                f"to='{self.domain}' version='1.0'>").encode()

    async def login(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(self.header())
        await self.read_until(rb"</stream:features>")
        token = base64.b64encode(f"\0{self.user}\0{self.password}".encode()).decode()
        self.writer.write(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>".encode())
        m = await self.read_until(rb"<(success|failure)[ >/]")
        if m.group(1) != b"success":
            raise SystemExit(f"{self.user}@{self.domain}: authentication failed")
        self.writer.write(self.header())
        await self.read_until(rb"</stream:features>")
        self.writer.write(b"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>")
        m = await self.read_until(rb"<jid>([^<]+)</jid>")
        self.full = m.group(1).decode()
        # a session (RFC 3921) for servers that still want one, then available presence
        self.writer.write(b"<iq type='set' id='sess'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq><presence/>")
        await self.read_until(rb"id=['\"]sess['\"]")
        await self.writer.drain()


async def read_some(receiver, deadline):
    """What the receiver's server sent next (b"" when it closed), or None after a few seconds without anything."""
    try:
        return await asyncio.wait_for(receiver.reader.read(262144), max(0.01, min(5.0, deadline - time.monotonic())))
    except asyncio.TimeoutError:
        return None


async def windowed(sender, receiver, messages, window, tag, body, marker, deadline):
    """Throughput: at most WINDOW messages in flight; returns how many arrived."""
    received = sent = 0
    while received < messages and time.monotonic() < deadline:
        room = min(window - (sent - received), messages - sent)
        if room > 0:
            sender.writer.write("".join(
                f"<message to='{receiver.full}' type='chat' id='b-{tag}-{sent + i}'><body>{body}</body></message>"
                for i in range(room)).encode())
            sent += room
            await sender.writer.drain()
        data = await read_some(receiver, deadline)
        if data is None:
            continue
        if not data:
            break
        chunk = receiver.buffer + data
        cut = chunk.rfind(b">") + 1  # count up to the last '>': a start tag cut by the read is counted with the next
        received += chunk[:cut].count(marker)
        receiver.buffer = chunk[cut:]
    return received


async def fixed_rate(sender, receiver, messages, rate, tag, deadline, latencies):
    """A fixed rate: message i leaves at start + i/RATE (what is due is written together, every millisecond or so),
    its body the send time in ns; the receiver takes each arrival's latency. Returns how many arrived."""
    pad = "x" * 44  # with the 20-digit time: a 64-byte body like the throughput mode's
    stamp = re.compile(rb"<body>T(\d+)x*</body>")

    async def send():
        t0 = time.monotonic()
        sent = 0
        while sent < messages:
            due = min(messages, int((time.monotonic() - t0) * rate) + 1)
            if due > sent:
                now = time.monotonic_ns()
                sender.writer.write("".join(
                    f"<message to='{receiver.full}' type='chat' id='b-{tag}-{i}'><body>T{now:020d}{pad}</body></message>"
                    for i in range(sent, due)).encode())
                sent = due
                await sender.writer.drain()
            await asyncio.sleep(max(0.0, t0 + sent / rate - time.monotonic()))

    sending = asyncio.ensure_future(send())
    received = 0
    try:
        while received < messages and time.monotonic() < deadline:
            data = await read_some(receiver, deadline)
            if data is None:
                continue
            if not data:
                break
            now = time.monotonic_ns()
            chunk = receiver.buffer + data
            cut = chunk.rfind(b"</message>")
            cut = cut + len(b"</message>") if cut >= 0 else 0
            for m in stamp.finditer(chunk, 0, cut):
                latencies.append((now - int(m.group(1))) / 1e6)
                received += 1
            receiver.buffer = chunk[cut:]
    finally:
        sending.cancel()
    return received


def percentiles(values):
    if not values:
        return None
    v = sorted(values)
    pick = lambda q: round(v[min(len(v) - 1, int(q * len(v)))], 2)
    return {"p50": pick(0.50), "p99": pick(0.99), "max": round(v[-1], 2)}


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sender", required=True)
    ap.add_argument("--receiver", required=True)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--window", type=int, default=500)
    ap.add_argument("--rate", type=float, default=0, help="messages per second on a fixed schedule (latency mode)")
    ap.add_argument("--pid", action="append", default=[], help="NAME=PID whose CPU per message is reported")
    ap.add_argument("--timeout", type=float, default=120.0)
    a = ap.parse_args()
    sender = Client(*a.sender.split(":", 3))
    receiver = Client(*a.receiver.split(":", 3))
    await sender.login()
    await receiver.login()
    tag = uuid.uuid4().hex[:8]
    # the first message sets the link up (resolution, TLS, dialback both ways); timing starts after its receipt
    sender.writer.write(f"<message to='{receiver.full}' type='chat' id='warm-{tag}'><body>warm-up</body></message>".encode())
    await receiver.read_until(f"warm-{tag}".encode(), timeout=60)
    pids = {name: int(pid) for name, pid in (p.split("=", 1) for p in a.pid)}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    body = "x" * 64
    marker = f"b-{tag}-".encode()
    latencies = []
    start = time.monotonic()
    deadline = start + a.timeout
    if a.rate > 0:
        received = await fixed_rate(sender, receiver, a.messages, a.rate, tag, deadline, latencies)
    else:
        received = await windowed(sender, receiver, a.messages, a.window, tag, body, marker, deadline)
    elapsed = time.monotonic() - start
    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = {
        "messages": a.messages, "received": received, "lost": a.messages - received, "seconds": round(elapsed, 3),
        "msgs_per_s": round(received / elapsed, 1) if elapsed > 0 else None,
        "cpu_us_per_msg": {name: round((after[name] - before[name]) * 1e6 / max(1, received), 1) for name in pids},
        "cpu_us_per_msg_total": round(sum(after[n] - before[n] for n in pids) * 1e6 / max(1, received), 1),
        "load": os.getloadavg()[0],
        **({"rate": a.rate, "latency_ms": percentiles(latencies)} if a.rate > 0 else {"window": a.window}),
    }
    print(json.dumps(result), flush=True)
    for c in (sender, receiver):
        c.writer.write(b"</stream:stream>")
        c.writer.close()


asyncio.run(main())
