"""RFC 6120 server-to-server with Prosody as the peer, both with their defaults: STARTTLS required on s2s both ways,
self-signed certificates, so XEP-0220 dialback over TLS (XEP-0344); static routes both ways.

run.sh starts an Actors instance serving FED_DOMAIN (actors.test) and a private Prosody serving PROSODY_DOMAIN
(prosody.test) on PROSODY_HOST; without Prosody installed these tests are skipped.
"""
import asyncio
import os

import pytest
import slixmpp
from slixmpp.exceptions import IqError

from xmpp_helpers import HOST, USERS, EventWaiter, Harness, run, unique

FED_DOMAIN = os.environ.get("FED_DOMAIN")
FED_PORT = int(os.environ.get("FED_PORT", "0"))
PROSODY_DOMAIN = os.environ.get("PROSODY_DOMAIN")
PROSODY_HOST = os.environ.get("PROSODY_HOST", "127.0.0.2")
PROSODY_C2S_PORT = int(os.environ.get("PROSODY_C2S_PORT", "0"))

pytestmark = pytest.mark.skipif(not (FED_DOMAIN and PROSODY_DOMAIN), reason="no Prosody peer (run.sh starts one when `prosody` is installed)")


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


async def _prosody(h: Harness, plugins=()):
    c = _client(h, f"alice@{PROSODY_DOMAIN}/{unique('p')}", "alice-pw", plugins)
    loop = asyncio.get_running_loop()
    started = loop.create_future()
    c.add_event_handler("session_start", lambda e: started.done() or started.set_result(True))
    c.connect((PROSODY_HOST, PROSODY_C2S_PORT), disable_starttls=True)
    await asyncio.wait_for(started, 20)
    return c


@run(timeout=60)
async def test_rfc6120_10_4_messages_both_ways_with_prosody(h: Harness):
    bob = await _actors(h)
    alice = await _prosody(h)
    to_alice = EventWaiter(alice, "message", lambda m: m["body"] == "from actors")
    bob.send_message(mto=alice.boundjid, mbody="from actors", mtype="chat")
    m = await to_alice.wait(timeout=20)
    assert m["from"] == bob.boundjid

    to_bob = EventWaiter(bob, "message", lambda m: m["body"] == "from prosody")
    alice.send_message(mto=bob.boundjid, mbody="from prosody", mtype="chat")
    m = await to_bob.wait(timeout=20)
    assert m["from"] == alice.boundjid


@run(timeout=60)
async def test_rfc6120_8_2_iq_both_ways_with_prosody(h: Harness):
    bob = await _actors(h, plugins=["xep_0199"])
    alice = await _prosody(h, plugins=["xep_0199"])
    await bob["xep_0199"].ping(PROSODY_DOMAIN, timeout=20)  # answered by Prosody's mod_ping
    await alice["xep_0199"].ping(FED_DOMAIN, timeout=20)  # answered by this server


@run(timeout=60)
async def test_rfc6120_8_3_3_19_error_from_prosody_comes_back(h: Harness):
    bob = await _actors(h, plugins=["xep_0199"])
    with pytest.raises(IqError) as e:
        await bob["xep_0199"].ping(f"nobody@{PROSODY_DOMAIN}/none", timeout=20)
    assert e.value.iq["type"] == "error"
    assert e.value.iq["error"]["condition"] in ("service-unavailable", "item-not-found", "recipient-unavailable")
    assert e.value.iq["from"] == f"nobody@{PROSODY_DOMAIN}/none"


@run(timeout=60)
async def test_rfc6121_3_subscription_approved_by_a_prosody_user(h: Harness):
    bob = await _actors(h, user="carol")
    alice = await _prosody(h)
    alice.send_presence()
    approved = EventWaiter(bob, "presence_subscribed", lambda p: p["from"].bare == alice.boundjid.bare)
    available = EventWaiter(bob, "presence_available", lambda p: p["from"] == alice.boundjid)
    bob.send_presence()
    bob.send_presence(pto=alice.boundjid.bare, ptype="subscribe")  # slixmpp approves subscription requests itself
    await approved.wait(timeout=20)
    await available.wait(timeout=20)  # RFC 6121 §3.1.5: then the contact's presence

