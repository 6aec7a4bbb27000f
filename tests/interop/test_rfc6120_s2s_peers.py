"""RFC 6120 server-to-server with real peers, each with its defaults: Prosody and ejabberd. STARTTLS is required on s2s
both ways and every certificate is self-signed, so each direction negotiates TLS and then authenticates with XEP-0220
dialback over TLS (XEP-0344), except Prosody's streams to Actors, which trusts Prosody's certificate (SASL EXTERNAL,
XEP-0178): an exchange that succeeds ran over TLS, and both directions ran (dialback verifies each stream on a stream
the other side opens).

run.sh starts an Actors instance serving FED_DOMAIN (actors.test) with static routes to a private Prosody serving
PROSODY_DOMAIN on PROSODY_HOST (tests/interop/prosody/run-prosody.sh; a static route back through a test module) and a
private ejabberd serving EJABBERD_DOMAIN on EJABBERD_HOST (tests/interop/ejabberd/run-ejabberd.sh; finds actors.test in
the hosts file of its private mount namespace). A peer whose package is not installed is skipped.
"""
import asyncio
import os
from dataclasses import dataclass

import pytest
import slixmpp
from slixmpp.exceptions import IqError

from xmpp_helpers import USERS, EventWaiter, Harness, run, unique

FED_DOMAIN = os.environ.get("FED_DOMAIN")
FED_PORT = int(os.environ.get("FED_PORT", "0"))


@dataclass(frozen=True)
class Peer:
    name: str
    domain: str | None
    host: str
    c2s_port: int

    def __str__(self):
        return self.name


PEERS = [
    Peer("prosody", os.environ.get("PROSODY_DOMAIN"), os.environ.get("PROSODY_HOST", "127.0.0.2"),
         int(os.environ.get("PROSODY_C2S_PORT", "0"))),
    Peer("ejabberd", os.environ.get("EJABBERD_DOMAIN"), os.environ.get("EJABBERD_HOST", "127.0.0.3"),
         int(os.environ.get("EJABBERD_C2S_PORT", "0"))),
]


def _peers():
    return [pytest.param(p, id=p.name, marks=pytest.mark.skipif(
        not (FED_DOMAIN and p.domain), reason=f"no {p.name} peer (run.sh starts one when `{p.name}` is installed)"))
        for p in PEERS]


peers = pytest.mark.parametrize("peer", _peers())


def _client(h: Harness, jid: str, password: str, plugins=()):
    c = slixmpp.ClientXMPP(jid, password)
    c["feature_mechanisms"].unencrypted_plain = True
    c.use_ipv6 = False
    c.use_aiodns = False
    c.whitespace_keepalive = False
    for p in plugins:
        c.register_plugin(p)
    h.clients.append(c)
    return c


async def _actors(h: Harness, user="bob", plugins=()):
    c = _client(h, f"{user}@{FED_DOMAIN}/{unique('a')}", USERS[user], plugins)
    await h.login(c, port=FED_PORT, disable_starttls=True)
    return c


async def _on_peer(h: Harness, peer: Peer, plugins=()):
    c = _client(h, f"alice@{peer.domain}/{unique(peer.name[0])}", "alice-pw", plugins)
    loop = asyncio.get_running_loop()
    started = loop.create_future()
    c.add_event_handler("session_start", lambda e: started.done() or started.set_result(True))
    c.connect((peer.host, peer.c2s_port), disable_starttls=True)
    await asyncio.wait_for(started, 20)
    return c


@peers
@run(timeout=60)
async def test_rfc6120_10_4_messages_both_ways(h: Harness, peer: Peer):
    bob = await _actors(h)
    alice = await _on_peer(h, peer)
    to_alice = EventWaiter(alice, "message", lambda m: m["body"] == "from actors")
    bob.send_message(mto=alice.boundjid, mbody="from actors", mtype="chat")
    m = await to_alice.wait(timeout=20)
    assert m["from"] == bob.boundjid

    to_bob = EventWaiter(bob, "message", lambda m: m["body"] == f"from {peer}")
    alice.send_message(mto=bob.boundjid, mbody=f"from {peer}", mtype="chat")
    m = await to_bob.wait(timeout=20)
    assert m["from"] == alice.boundjid


@peers
@run(timeout=60)
async def test_rfc6120_8_2_iq_both_ways(h: Harness, peer: Peer):
    bob = await _actors(h, plugins=["xep_0199"])
    alice = await _on_peer(h, peer, plugins=["xep_0199"])
    await bob["xep_0199"].ping(peer.domain, timeout=20)  # answered by the peer's mod_ping
    await alice["xep_0199"].ping(FED_DOMAIN, timeout=20)  # answered by this server


@peers
@run(timeout=60)
async def test_rfc6120_8_3_3_19_error_from_the_peer_comes_back(h: Harness, peer: Peer):
    bob = await _actors(h, plugins=["xep_0199"])
    with pytest.raises(IqError) as e:
        await bob["xep_0199"].ping(f"nobody@{peer.domain}/none", timeout=20)
    assert e.value.iq["type"] == "error"
    assert e.value.iq["error"]["condition"] in ("service-unavailable", "item-not-found", "recipient-unavailable")
    assert e.value.iq["from"] == f"nobody@{peer.domain}/none"


@peers
@run(timeout=60)
async def test_rfc6121_3_subscription_approved_by_a_peer_user(h: Harness, peer: Peer):
    bob = await _actors(h, user="carol")
    alice = await _on_peer(h, peer)
    alice.send_presence()
    approved = EventWaiter(bob, "presence_subscribed", lambda p: p["from"].bare == alice.boundjid.bare)
    available = EventWaiter(bob, "presence_available", lambda p: p["from"] == alice.boundjid)
    bob.send_presence()
    bob.send_presence(pto=alice.boundjid.bare, ptype="subscribe")  # slixmpp approves subscription requests itself
    await approved.wait(timeout=20)
    await available.wait(timeout=20)  # RFC 6121 §3.1.5: then the contact's presence
