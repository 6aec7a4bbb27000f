"""A raw XMPP client for the harness's scripts (cluster-node-kill.sh, cluster-rolling-restart.sh, fault-storage.sh,
soak.sh): plain SASL (those scripts run the harness with XMPP_TLS_REQUIRED=false), one bound resource, a reader thread that
keeps every stanza, and optionally XEP-0198 (enable, then <r/> answered by <a h/>) and STARTTLS. Standard library only."""
import base64
import select
import socket
import ssl
import struct
import threading
import time
import xml.etree.ElementTree as ET

C = "{jabber:client}"
SM = "urn:xmpp:sm:3"
STREAMS = "{http://etherx.jabber.org/streams}"


class Client:
    def __init__(self, host, domain, user, port, password="pw", resource="r", sm=False, tls=False):
        self.user, self.domain, self.step = user, domain, "connect"
        self.sock = socket.create_connection((host, port), timeout=30)
        self.local_port = self.sock.getsockname()[1]
        try:
            self._login(domain, user, password, resource, sm, tls)
        except Exception as e:  # say where the login stopped (str(e) of an SSL error does not)
            e.add_note(f"{user}: login stopped at {self.step} (local port {self.local_port})")
            self._stopping = True
            self.sock.close()
            raise

    def _login(self, domain, user, password, resource, sm, tls):
        self._io, self._stopping = threading.Lock(), False  # one thread at a time on the socket (see _recv)
        self.stanzas, self.cond = [], threading.Condition()
        self.acked = 0  # XEP-0198: the highest 'h' the server has acknowledged
        self.handled = 0  # XEP-0198: stanzas received since <enabled/>, told to the server when it asks (<r/>)
        self.sm = False
        self.closed = False
        self.step = "stream header"  # the login step under way: a failure says where it stopped
        self._open()
        self.read_until(lambda e: e.tag.endswith("features"))
        if tls:
            # RFC 6120 §5.4: STARTTLS, then a new stream over TLS (the harness's certificate is self-signed: not verified)
            self.step = "starttls"
            self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            proceed = self.read_until(lambda e: e.tag.endswith("proceed") or e.tag.endswith("failure"))
            assert proceed.tag.endswith("proceed"), f"{user}: STARTTLS refused"
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            self.step = "TLS handshake"
            self.sock = context.wrap_socket(self.sock, server_hostname=domain)
            self.step = "stream header over TLS"
            self._open()
            self.read_until(lambda e: e.tag.endswith("features"))
        self.step = "SASL PLAIN"
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
        ok = self.read_until(lambda e: e.tag.endswith("success") or e.tag.endswith("failure"))
        assert ok.tag.endswith("success"), f"{user}: authentication failed: {' '.join(c.tag.split('}')[-1] for c in ok)}"
        self.step = "stream restart"
        self._open()
        self.read_until(lambda e: e.tag.endswith("features"))
        self.step = "bind"
        self.send(f"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}</resource></bind></iq>")
        self.read_until(lambda e: e.get("id") == "bind")
        if sm:
            self.step = "XEP-0198 enable"
            self.send(f"<enable xmlns='{SM}'/>")
            enabled = self.read_until(lambda e: e.tag in (f"{{{SM}}}enabled", f"{{{SM}}}failed"))
            assert enabled.tag == f"{{{SM}}}enabled", f"{user}: XEP-0198 not enabled"
            self.sm = True
        self.step = "online"
        self.send("<presence/>")
        self.jid = f"{user}@{domain}/{resource}"
        self._reading = threading.Thread(target=self._reader, daemon=True)
        self._reading.start()

    def _open(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.send(f"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{self.domain}' version='1.0'>")

    def send(self, xml):
        with self._io:
            self.sock.sendall(xml.encode())

    def _recv(self):
        """The next bytes, read under the I/O lock only once there are some: an SSL socket's object must never be used
        by two threads at once (the reader thread's reads and <a/> answers beside the test's writes crashed CPython)."""
        while True:
            if self._stopping:
                raise EOFError(self.user + ": closed here")
            if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
                break
            readable, _, _ = select.select([self.sock], [], [], 0.2)
            if readable:
                break
        with self._io:
            return self.sock.recv(65536)

    def _elements(self):
        data = self._recv()
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
                if e.tag == STREAMS + "error":  # RFC 6120 §4.9: the server ends the stream; say why
                    raise AssertionError(f"{self.user}: stream error " + " ".join(c.tag.split("}")[-1] for c in e))

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
                            if e.tag == C + "iq" and e.get("type") in ("get", "set"):
                                self._answer(e)
                            if self.sm and e.tag in (C + "message", C + "presence", C + "iq"):
                                self.handled += 1
                            self.stanzas.append(e)
                        self.cond.notify_all()
        except (EOFError, OSError, ET.ParseError):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def _answer(self, iq):
        """RFC 6120 §8.2.3: an IQ request gets an answer: a XEP-0199 ping its result, anything else
        <service-unavailable/> (a client that left the server's pings unanswered was disconnected as dead)."""
        to = f" to='{iq.get('from')}'" if iq.get("from") else ""
        if iq.find("{urn:xmpp:ping}ping") is not None:
            self.send(f"<iq type='result' id='{iq.get('id')}'{to}/>")
        else:
            self.send(f"<iq type='error' id='{iq.get('id')}'{to}><error type='cancel'>"
                      "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")

    def close(self):
        """</stream:stream>, then the socket closed once the reader thread has stopped (see _stop_reader)."""
        try:
            self.send("</stream:stream>")
        except OSError:
            pass
        self._stop_reader(socket.SHUT_RDWR)
        self.sock.close()

    def abort(self):
        """The connection dropped without a word: RST (SO_LINGER 0), nothing sent before."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._stop_reader(socket.SHUT_RD)  # wakes the reader without sending a FIN
        self.sock.close()

    def _stop_reader(self, how):
        # The reader thread must be out of recv before the descriptor is closed: an SSL socket reads through its
        # descriptor's number, and a number closed under it may already be another connection's (opened meanwhile by
        # this process), whose first bytes it would then take.
        self._stopping = True
        with self._io:
            try:
                self.sock.shutdown(how)
            except OSError:
                pass
        if self._reading is not threading.current_thread():
            self._reading.join(5)

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
