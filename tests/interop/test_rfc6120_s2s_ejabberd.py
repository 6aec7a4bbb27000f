"""RFC 6120 server-to-server with ejabberd as the peer: STARTTLS required on s2s both ways, self-signed certificates,
so XEP-0220 dialback over TLS (XEP-0344); a static route to ejabberd, and ejabberd reaching actors.test through its
private inetrc and outgoing_s2s_port (tests/interop/ejabberd/run-ejabberd.sh).

run.sh starts an Actors instance serving FED_DOMAIN (actors.test) federating with both a private Prosody and a private
ejabberd serving EJABBERD_DOMAIN (ejabberd.test) on EJABBERD_HOST; without ejabberd installed these tests are skipped.
"""
import asyncio
import os

import pytest
import slixmpp
from slixmpp.exceptions import IqError

from xmpp_helpers import HOST, USERS, EventWaiter, Harness, run, unique

FED_DOMAIN = os.environ.get("FED_DOMAIN")
FED_PORT = int(os.environ.get("FED_PORT", "0"))
PEER_DOMAIN = os.environ.get("EJABBERD_DOMAIN")
PEER_HOST = os.environ.get("EJABBERD_HOST", "127.0.0.3")
PEER_C2S_PORT = int(os.environ.get("EJABBERD_C2S_PORT", "0"))

pytestmark = pytest.mark.skipif(not (FED_DOMAIN and PEER_DOMAIN), reason="no ejabberd peer (run.sh starts one when `ejabberd` is installed)")


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


async def _ejabberd(h: Harness, plugins=()):
    c = _client(h, f"alice@{PEER_DOMAIN}/{unique('e')}", "alice-pw", plugins)
    loop = asyncio.get_running_loop()
    started = loop.create_future()
    c.add_event_handler("session_start", lambda e: started.done() or started.set_result(True))
    c.connect((PEER_HOST, PEER_C2S_PORT), disable_starttls=True)
    await asyncio.wait_for(started, 20)
    return c


@run(timeout=60)
async def test_rfc6120_10_4_messages_both_ways_with_ejabberd(h: Harness):
    bob = await _actors(h)
    alice = await _ejabberd(h)
    to_alice = EventWaiter(alice, "message", lambda m: m["body"] == "from actors")
    bob.send_message(mto=alice.boundjid, mbody="from actors", mtype="chat")
    m = await to_alice.wait(timeout=20)
    assert m["from"] == bob.boundjid

    to_bob = EventWaiter(bob, "message", lambda m: m["body"] == "from ejabberd")
    alice.send_message(mto=bob.boundjid, mbody="from ejabberd", mtype="chat")
    m = await to_bob.wait(timeout=20)
    assert m["from"] == alice.boundjid


@run(timeout=60)
async def test_rfc6120_8_2_iq_both_ways_with_ejabberd(h: Harness):
    bob = await _actors(h, plugins=["xep_0199"])
    alice = await _ejabberd(h, plugins=["xep_0199"])
    await bob["xep_0199"].ping(PEER_DOMAIN, timeout=20)  # answered by ejabberd's mod_ping
    await alice["xep_0199"].ping(FED_DOMAIN, timeout=20)  # answered by this server


@run(timeout=60)
async def test_rfc6120_8_3_3_19_error_from_ejabberd_comes_back(h: Harness):
    bob = await _actors(h, plugins=["xep_0199"])
    with pytest.raises(IqError) as e:
        await bob["xep_0199"].ping(f"nobody@{PEER_DOMAIN}/none", timeout=20)
    assert e.value.iq["type"] == "error"
    assert e.value.iq["error"]["condition"] in ("service-unavailable", "item-not-found", "recipient-unavailable")
    assert e.value.iq["from"] == f"nobody@{PEER_DOMAIN}/none"


@run(timeout=60)
async def test_rfc6121_3_subscription_approved_by_an_ejabberd_user(h: Harness):
    bob = await _actors(h, user="carol")
    alice = await _ejabberd(h)
    alice.send_presence()
    approved = EventWaiter(bob, "presence_subscribed", lambda p: p["from"].bare == alice.boundjid.bare)
    available = EventWaiter(bob, "presence_available", lambda p: p["from"] == alice.boundjid)
    bob.send_presence()
    bob.send_presence(pto=alice.boundjid.bare, ptype="subscribe")  # slixmpp approves subscription requests itself
    await approved.wait(timeout=20)
    await available.wait(timeout=20)  # RFC 6121 §3.1.5: then the contact's presence

