"""Helpers for the interop suite: slixmpp clients against a private Actors server.

Written for Debian's slixmpp 1.8 on /usr/bin/python3 (asyncio; the client takes the running loop
through asyncio.get_event_loop() when it first needs it). Every test body is a coroutine run by
`run()` on a fresh event loop with an overall timeout, and every single wait has its own timeout,
so no test can hang.
"""
import asyncio
import functools
import inspect
import logging
import os
import ssl
import uuid

import slixmpp

HOST = os.environ.get("XMPP_HOST", "127.0.0.1")
DOMAIN = os.environ.get("XMPP_DOMAIN", "localhost")
PORT = int(os.environ.get("XMPP_PORT", "35222"))
DIRECT_TLS_PORT = int(os.environ.get("XMPP_DIRECT_TLS_PORT", str(PORT + 1)))
# Second instance: XMPP_TLS_REQUIRED=false and XMPP_REGISTRATION=true (0 = not started, tests skip).
OPEN_PORT = int(os.environ.get("INTEROP_OPEN_PORT", "0"))

# The XEP-0114 component tests/harness/server.sh configures (its defaults; `server.sh info` prints them).
COMPONENT_PORT = int(os.environ.get("XMPP_COMPONENT_PORT", str(PORT + 125)))
COMPONENT_DOMAIN = os.environ.get("XMPP_COMPONENT_DOMAIN", "component." + DOMAIN)
COMPONENT_SECRET = os.environ.get("XMPP_COMPONENT_SECRET", "component-secret")

# Accounts created by run.sh on both instances (user -> password).
USERS = {
    "alice": "alice-pw",
    "bob": "bob-pw",
    "carol": "carol-pw",  # never logged in: the offline target
    "dave": "dave-pw",
}

WAIT = 10.0  # seconds for any single wait
TEST_TIMEOUT = 40.0  # seconds for a whole test body

log = logging.getLogger("interop")


class LoginFailed(Exception):
    pass


def run(timeout=TEST_TIMEOUT):
    """Decorator: run `async def test_x(h, **params)` as a plain pytest test on a fresh loop."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(**kwargs):
            async def body():
                h = Harness()
                try:
                    await asyncio.wait_for(fn(h, **kwargs), timeout)
                finally:
                    await h.close()

            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(body())
            finally:
                # Let transports close, then drop whatever is still pending.
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in pending:
                    t.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()
                asyncio.set_event_loop(None)

        # pytest sees the test's own parameters minus the harness (parametrize still works).
        sig = inspect.signature(fn)
        wrapper.__signature__ = sig.replace(parameters=list(sig.parameters.values())[1:])
        return wrapper

    return deco


def jid(user, resource=None):
    return f"{user}@{DOMAIN}/{resource}" if resource else f"{user}@{DOMAIN}"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def wait_event(client, name, timeout=WAIT, predicate=None):
    """Wait for the next `name` event of `client` (optionally matching predicate); return its payload."""
    fut = asyncio.get_running_loop().create_future()

    def handler(data):
        if not fut.done() and (predicate is None or predicate(data)):
            fut.set_result(data)

    client.add_event_handler(name, handler)
    try:
        return await asyncio.wait_for(fut, timeout)
    finally:
        client.del_event_handler(name, handler)


class EventWaiter:
    """Arm a wait for an event *before* triggering it; `await w.wait()` afterwards."""

    def __init__(self, client, name, predicate=None):
        self.client, self.name, self.predicate = client, name, predicate
        self.fut = asyncio.get_running_loop().create_future()
        client.add_event_handler(name, self._handler)

    def _handler(self, data):
        if not self.fut.done() and (self.predicate is None or self.predicate(data)):
            self.fut.set_result(data)

    async def wait(self, timeout=WAIT):
        try:
            return await asyncio.wait_for(self.fut, timeout)
        finally:
            self.client.del_event_handler(self.name, self._handler)


class Harness:
    """Creates clients for one test and disconnects them all at the end."""

    def __init__(self):
        self.clients = []

    def client(self, user, password=None, resource=None, mech=None, plugins=(), plugin_config=None):
        """A ClientXMPP that accepts the server's self-signed certificate.

        `mech` forces one SASL mechanism. slixmpp 1.8 then still offers channel binding with the
        gs2 flag "y" (it only knows tls-unique, which does not exist on TLS 1.3); the server
        advertises -PLUS mechanisms, so RFC 5802 section 6 obliges it to refuse "y" as a downgrade.
        For a forced non-PLUS mechanism we therefore tell slixmpp there is no channel binding,
        which makes it send the gs2 flag "n" (client does not support channel binding).
        """
        if password is None:
            password = USERS[user]
        resource = resource or unique("r")
        c = slixmpp.ClientXMPP(jid(user, resource), password, sasl_mech=mech,
                               plugin_config=plugin_config or {})
        c.ssl_context.check_hostname = False
        c.ssl_context.verify_mode = ssl.CERT_NONE
        c.use_ipv6 = False
        c.use_aiodns = False
        c.whitespace_keepalive = False
        if mech:
            mechs = c["feature_mechanisms"]
            original = mechs.sasl_callback

            def no_channel_binding(required, optional):
                creds = original(required, optional)
                if "channel_binding" in creds:
                    creds["channel_binding"] = None
                return creds

            mechs.sasl_callback = no_channel_binding
        for p in plugins:
            c.register_plugin(p)
        self.clients.append(c)
        return c

    async def login(self, c, port=None, direct_tls=False, timeout=WAIT, **connect_kw):
        """Connect and wait for session_start; raise LoginFailed when every mechanism failed
        (slixmpp fires failed_auth once per refused mechanism, then failed_all_auth), on a stream
        error or on a disconnect."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def done(result):
            if not fut.done():
                fut.set_result(result)

        handlers = {
            "session_start": lambda e: done(("ok", None)),
            "failed_all_auth": lambda e: done(("failed_all_auth", e)),
            "disconnected": lambda e: done(("disconnected", e)),
            "stream_error": lambda e: done(("stream_error", e)),
            "connection_failed": lambda e: done(("connection_failed", e)),
        }
        for name, h in handlers.items():
            c.add_event_handler(name, h)
        try:
            if port is None:
                port = DIRECT_TLS_PORT if direct_tls else PORT
            c.connect((HOST, port), use_ssl=direct_tls, **connect_kw)
            kind, detail = await asyncio.wait_for(fut, timeout)
        finally:
            for name, h in handlers.items():
                c.del_event_handler(name, h)
        if kind != "ok":
            raise LoginFailed(f"{kind}: {detail}")
        return c

    async def online(self, user, resource=None, mech="SCRAM-SHA-256", plugins=(), presence=True, **kw):
        """Log in and (by default) send initial presence, waiting for its echo (RFC 6121 4.2.2)."""
        c = self.client(user, resource=resource, mech=mech, plugins=plugins)
        await self.login(c, **kw)
        if presence:
            w = EventWaiter(c, "presence_available", lambda p: p["from"] == c.boundjid)
            c.send_presence()
            await w.wait()
        return c

    def component(self, secret=COMPONENT_SECRET, plugins=()):
        """A slixmpp ComponentXMPP (XEP-0114) for the harness's component domain."""
        c = slixmpp.ComponentXMPP(COMPONENT_DOMAIN, secret, HOST, COMPONENT_PORT)
        c.use_ipv6 = False
        c.use_aiodns = False
        c.whitespace_keepalive = False
        for p in plugins:
            c.register_plugin(p)
        self.clients.append(c)
        return c

    async def connect_component(self, c, timeout=WAIT):
        """Connect and wait for the handshake (session_start); return ("ok", None) or the failure event."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def done(result):
            if not fut.done():
                fut.set_result(result)

        handlers = {
            "session_start": lambda e: done(("ok", None)),
            "stream_error": lambda e: done(("stream_error", e)),
            "disconnected": lambda e: done(("disconnected", e)),
            "connection_failed": lambda e: done(("connection_failed", e)),
        }
        for name, h in handlers.items():
            c.add_event_handler(name, h)
        try:
            c.connect()
            return await asyncio.wait_for(fut, timeout)
        finally:
            for name, h in handlers.items():
                c.del_event_handler(name, h)

    async def close(self):
        for c in self.clients:
            try:
                if c.transport is not None:
                    await asyncio.wait_for(c.disconnect(wait=1.0), 3)
            except Exception as e:  # noqa: BLE001 - cleanup must not mask the test result
                log.debug("disconnect failed: %r", e)
            c.cancel_connection_attempt()
        self.clients.clear()
