#!/usr/bin/env python3
"""File transfer throughput: a loopback copy (the limit), XEP-0363 HTTP upload and download, and a XEP-0065 SOCKS5 relay,
with the server process's CPU per MB (from /proc/PID/stat). Driven by tests/bench/filetransfer.sh; loopback targets only.

  filetransfer.py copy    --mb 100
  filetransfer.py socks5  --host H --port P --domain D --user U --password W --proxy proxy.D --pid PID --mb 100
  filetransfer.py upload  --host H --port P --domain D --user U --password W --service upload.D --pid PID --mb 100

Each prints one JSON line: {"what", "mb", "seconds", "mb_per_s", "server_cpu_ms_per_mb", "client_cpu_ms_per_mb"}.
The XMPP side is a minimal client (plain TCP, SASL PLAIN, bind) for servers that allow PLAIN without TLS.
"""
import argparse
import base64
import hashlib
import http.client
import ipaddress
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

CHUNK = 256 * 1024
TICKS = os.sysconf("SC_CLK_TCK")


def loopback(host):
    if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
        sys.exit(f"refusing a non-loopback target: {host}")


def server_cpu(pid):
    """utime + stime of the process, in seconds."""
    if not pid:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def client_cpu():
    t = os.times()
    return t.user + t.system


def report(what, size, seconds, server_seconds, client_seconds):
    mb = size / 1e6
    print(json.dumps({
        "what": what, "mb": round(mb, 1), "seconds": round(seconds, 3), "mb_per_s": round(mb / seconds, 1),
        "server_cpu_ms_per_mb": round(server_seconds * 1000 / mb, 2), "client_cpu_ms_per_mb": round(client_seconds * 1000 / mb, 2),
    }), flush=True)


def pump(src_bytes, sock):
    view = memoryview(src_bytes)
    for i in range(0, len(view), CHUNK):
        sock.sendall(view[i:i + CHUNK])


def drain(sock, size):
    buf = bytearray(CHUNK)
    got = 0
    while got < size:
        n = sock.recv_into(buf)
        if n == 0:
            raise EOFError(f"closed after {got} of {size} bytes")
        got += n
    return got


class Xmpp:
    """Just enough XMPP: stream, SASL PLAIN, bind, and IQs answered by id."""

    def __init__(self, host, port, domain):
        self.domain = domain
        self.sock = socket.create_connection((host, port), timeout=60)
        self.ids = 0
        self._open()

    def _open(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.send(f"<?xml version='1.0'?><stream:stream to='{self.domain}' version='1.0' xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams'>")

    def send(self, text):
        self.sock.sendall(text.encode())

    def next(self):
        """The next top-level element of the stream."""
        while True:
            for event, elem in self.parser.read_events():
                if event == "start":
                    self.depth += 1
                else:
                    self.depth -= 1
                    if self.depth == 1:
                        return elem
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("stream closed")
            self.parser.feed(data)

    def register(self, user, password):
        """XEP-0077 in-band registration before authentication (a server that offers it); an existing account is fine."""
        self.next()  # features
        self.send(f"<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>{user}</username>"
                  f"<password>{password}</password></query></iq>")
        while True:
            e = self.next()
            if e.tag.endswith("iq") and e.get("id") == "reg":
                break
        self.registered = True

    def login(self, user, password):
        if not getattr(self, "registered", False):
            self.next()  # features
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
        if not self.next().tag.endswith("success"):
            sys.exit("SASL PLAIN failed")
        self._open()
        self.next()
        reply = self.iq("set", "", "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind>")
        self.jid = reply.find(".//{urn:ietf:params:xml:ns:xmpp-bind}jid").text
        self.iq("set", "", "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>", check=False)

    def iq(self, kind, to, payload, check=True):
        self.ids += 1
        ident = f"b{self.ids}"
        to_attr = f" to='{to}'" if to else ""
        self.send(f"<iq type='{kind}' id='{ident}'{to_attr}>{payload}</iq>")
        while True:
            e = self.next()
            if e.tag.endswith("iq") and e.get("id") == ident:
                if check and e.get("type") != "result":
                    sys.exit(f"IQ {kind} to {to!r} failed: {ET.tostring(e).decode()}")
                return e


def socks5_connect(host, port, name):
    s = socket.create_connection((host, port), timeout=60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(b"\x05\x01\x00")
    if s.recv(2) != b"\x05\x00":
        sys.exit("SOCKS5: no-authentication method refused")
    request = b"\x05\x01\x00\x03" + bytes([len(name)]) + name.encode() + b"\x00\x00"
    s.sendall(request)
    reply = b""
    while len(reply) < len(request):
        part = s.recv(len(request) - len(reply))
        if not part:
            sys.exit("SOCKS5: closed during CONNECT")
        reply += part
    if reply[1] != 0:
        sys.exit(f"SOCKS5: CONNECT refused with {reply[1]}")
    return s


def cmd_copy(a):
    size = a.mb * 1_000_000
    data = os.urandom(CHUNK) * (size // CHUNK)
    size = len(data)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    got = {}

    def receive():
        conn, _ = listener.accept()
        got["n"] = drain(conn, size)
        conn.close()

    reader = threading.Thread(target=receive)
    reader.start()
    cpu, start = client_cpu(), time.perf_counter()
    out = socket.create_connection(listener.getsockname())
    pump(data, out)
    reader.join()
    seconds = time.perf_counter() - start
    out.close()
    report("loopback copy", size, seconds, 0.0, client_cpu() - cpu)


def cmd_socks5(a):
    loopback(a.host)
    size = a.mb * 1_000_000
    data = os.urandom(CHUNK) * (size // CHUNK)
    size = len(data)
    x = Xmpp(a.host, a.port, a.domain)
    if a.register:
        x.register(a.user, a.password)
    x.login(a.user, a.password)
    host = x.iq("get", a.proxy, "<query xmlns='http://jabber.org/protocol/bytestreams'/>").find(
        ".//{http://jabber.org/protocol/bytestreams}streamhost")
    shost, sport = host.get("host"), int(host.get("port"))
    loopback(shost)
    target = f"target@{a.domain}/bench"
    sid = f"bench{os.getpid()}{time.time_ns()}"
    name = hashlib.sha1((sid + x.jid + target).encode()).hexdigest()
    t = socks5_connect(shost, sport, name)  # XEP-0065 §6.3.2: the Target first
    r = socks5_connect(shost, sport, name)  # §6.3.4: then the Requester
    x.iq("set", a.proxy, f"<query xmlns='http://jabber.org/protocol/bytestreams' sid='{sid}'><activate>{target}</activate></query>")
    got = {}
    reader = threading.Thread(target=lambda: got.setdefault("n", drain(t, size)))
    scpu, ccpu, start = server_cpu(a.pid), client_cpu(), time.perf_counter()
    reader.start()
    pump(data, r)
    reader.join()
    seconds = time.perf_counter() - start
    report(f"socks5 relay ({a.label})", size, seconds, server_cpu(a.pid) - scpu, client_cpu() - ccpu)
    r.close()
    t.close()


def cmd_upload(a):
    loopback(a.host)
    size = a.mb * 1_000_000
    data = os.urandom(CHUNK) * (size // CHUNK)
    size = len(data)
    x = Xmpp(a.host, a.port, a.domain)
    x.login(a.user, a.password)
    ns = "urn:xmpp:http:upload:0"
    slot = x.iq("get", a.service, f"<request xmlns='{ns}' filename='bench.bin' size='{size}' content-type='application/octet-stream'/>")
    put = slot.find(f".//{{{ns}}}put")
    get = slot.find(f".//{{{ns}}}get").get("url")
    headers = {h.get("name"): h.text for h in put.findall(f"{{{ns}}}header")}
    headers.update({"Content-Length": str(size), "Content-Type": "application/octet-stream"})
    url = urllib.parse.urlsplit(put.get("url"))
    loopback(url.hostname)

    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    scpu, ccpu, start = server_cpu(a.pid), client_cpu(), time.perf_counter()
    conn.putrequest("PUT", url.path)
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    pump(data, conn.sock)
    response = conn.getresponse()
    response.read()
    seconds = time.perf_counter() - start
    if response.status not in (200, 201):
        sys.exit(f"PUT answered {response.status}")
    report(f"http upload ({a.label})", size, seconds, server_cpu(a.pid) - scpu, client_cpu() - ccpu)

    gurl = urllib.parse.urlsplit(get)
    conn = http.client.HTTPConnection(gurl.hostname, gurl.port, timeout=120)
    scpu, ccpu, start = server_cpu(a.pid), client_cpu(), time.perf_counter()
    conn.request("GET", gurl.path)
    response = conn.getresponse()
    got = 0
    buf = bytearray(CHUNK)
    while True:
        n = response.readinto(buf)
        if not n:
            break
        got += n
    seconds = time.perf_counter() - start
    if response.status != 200 or got != size:
        sys.exit(f"GET answered {response.status} with {got} bytes")
    report(f"http download ({a.label})", size, seconds, server_cpu(a.pid) - scpu, client_cpu() - ccpu)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("copy")
    c.add_argument("--mb", type=int, default=100)
    for name in ("socks5", "upload"):
        s = sub.add_parser(name)
        s.add_argument("--host", default="127.0.0.1")
        s.add_argument("--port", type=int, required=True)
        s.add_argument("--domain", default="localhost")
        s.add_argument("--user", required=True)
        s.add_argument("--password", required=True)
        s.add_argument("--pid", type=int, default=0)
        s.add_argument("--mb", type=int, default=100)
        s.add_argument("--label", default="server")
        s.add_argument("--register", action="store_true", help="XEP-0077 registration first (ejabberd)")
        s.add_argument("--proxy" if name == "socks5" else "--service", required=True)
    a = p.parse_args()
    {"copy": cmd_copy, "socks5": cmd_socks5, "upload": cmd_upload}[a.cmd](a)


if __name__ == "__main__":
    main()
