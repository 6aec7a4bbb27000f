"""A raw XMPP client for the harness's cluster scripts (cluster-node-kill.sh, cluster-rolling-restart.sh): plain SASL
without TLS (those scripts run the harness with XMPP_TLS_REQUIRED=false), one bound resource, a reader thread that
keeps every stanza, and optionally XEP-0198 (enable, then <r/> answered by <a h/>). Standard library only."""
import base64
import socket
import threading
import time
import xml.etree.ElementTree as ET

C = "{jabber:client}"
SM = "urn:xmpp:sm:3"


class Client:
    def __init__(self, host, domain, user, port, password="pw", resource="r", sm=False):
        self.user, self.domain = user, domain
        self.sock = socket.create_connection((host, port), timeout=30)
        self.stanzas, self.cond = [], threading.Condition()
        self.acked = 0  # XEP-0198: the highest 'h' the server has acknowledged
        self.handled = 0  # XEP-0198: stanzas received since <enabled/>, told to the server when it asks (<r/>)
        self.sm = False
        self.closed = False
        self._open()
        self.read_until(lambda e: e.tag.endswith("features"))
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
        ok = self.read_until(lambda e: e.tag.endswith("success") or e.tag.endswith("failure"))
        assert ok.tag.endswith("success"), f"{user}: authentication failed: {' '.join(c.tag.split('}')[-1] for c in ok)}"
        self._open()
        self.read_until(lambda e: e.tag.endswith("features"))
        self.send(f"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}</resource></bind></iq>")
        self.read_until(lambda e: e.get("id") == "bind")
        if sm:
            self.send(f"<enable xmlns='{SM}'/>")
            enabled = self.read_until(lambda e: e.tag in (f"{{{SM}}}enabled", f"{{{SM}}}failed"))
            assert enabled.tag == f"{{{SM}}}enabled", f"{user}: XEP-0198 not enabled"
            self.sm = True
        self.send("<presence/>")
        self.jid = f"{user}@{domain}/{resource}"
        threading.Thread(target=self._reader, daemon=True).start()

    def _open(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.send(f"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{self.domain}' version='1.0'>")

    def send(self, xml):
        self.sock.sendall(xml.encode())

    def _elements(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError(self.user + ": connection closed")
        self.parser.feed(data)
        for event, e in self.parser.read_events():
            if event == "start":
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    yield e

    def read_until(self, match):
        while True:
            for e in self._elements():
                if match(e):
                    return e

    def _reader(self):
        try:
            while True:
                for e in self._elements():
                    with self.cond:
                        if e.tag == f"{{{SM}}}a":
                            self.acked = max(self.acked, int(e.get("h")))
                        elif e.tag == f"{{{SM}}}r":
                            self.send(f"<a xmlns='{SM}' h='{self.handled}'/>")
                        else:
                            if self.sm and e.tag in (C + "message", C + "presence", C + "iq"):
                                self.handled += 1
                            self.stanzas.append(e)
                        self.cond.notify_all()
        except (EOFError, OSError, ET.ParseError):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def close(self):
        try:
            self.send("</stream:stream>")
        except OSError:
            pass
        self.sock.close()

    def bodies(self, prefix):
        with self.cond:
            return [e.findtext(C + "body") for e in self.stanzas
                    if e.tag == C + "message" and e.get("type") != "error" and (e.findtext(C + "body") or "").startswith(prefix)]

    def wait(self, predicate, seconds, what):
        deadline = time.time() + seconds
        with self.cond:
            while not predicate():
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"{self.user}: not within {seconds} s: {what}")
                self.cond.wait(left)
