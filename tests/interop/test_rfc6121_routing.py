"""RFC 6121 section 8 delivery rules, roster pushes, subscriptions and presence on disconnect."""
import asyncio

import pytest
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

from xmpp_helpers import DOMAIN, EventWaiter, Harness, jid, run, unique


@run()
async def test_rfc6121_8_5_3_2_1_chat_to_unavailable_resource_goes_to_bare_jid(h: Harness):
    alice = await h.online("alice")
    bob = await h.online("bob")
    body = unique("wrong resource")
    got = EventWaiter(bob, "message", lambda m: m["body"] == body)
    alice.send_message(mto=jid("bob", unique("gone")), mbody=body, mtype="chat")
    msg = await got.wait()
    assert msg["from"].full == alice.boundjid.full


@run()
async def test_rfc6121_8_5_3_2_1_iq_to_unavailable_resource_service_unavailable(h: Harness):
    alice = await h.online("alice", presence=False)
    iq = alice.make_iq_get(ito=jid("bob", unique("gone")))
    iq.append(ET.Element("{urn:xmpp:ping}ping"))
    with pytest.raises(IqError) as e:
        await iq.send(timeout=5)
    assert e.value.iq["error"]["condition"] == "service-unavailable"


@run()
async def test_rfc6121_8_5_2_1_3_iq_to_bare_jid_unknown_namespace_answered_by_server(h: Harness):
    alice = await h.online("alice", presence=False)
    await h.online("bob")
    iq = alice.make_iq_get(ito=jid("bob"))
    iq.append(ET.Element("{urn:example:interop}query"))
    with pytest.raises(IqError) as e:
        await iq.send(timeout=5)
    err = e.value.iq
    assert err["error"]["condition"] == "service-unavailable"
    assert err["from"].bare == jid("bob")


@run()
async def test_rfc6121_8_5_1_message_to_nonexistent_user_not_delivered_or_error(h: Harness):
    alice = await h.online("alice")
    nobody = jid(unique("nobody"))
    err = EventWaiter(alice, "message_error")
    alice.send_message(mto=nobody, mbody="hello?", mtype="chat")
    try:
        m = await err.wait(timeout=2)
    except asyncio.TimeoutError:
        return  # silently ignored: allowed
    assert m["from"].bare == nobody
    assert m["error"]["condition"] == "service-unavailable"


@run()
async def test_rfc6121_4_6_3_directed_presence_recipient_gets_unavailable_on_disconnect(h: Harness):
    alice = await h.online("alice")
    bob = await h.online("bob")
    got = EventWaiter(bob, "presence_available", lambda p: p["from"] == alice.boundjid)
    alice.send_presence(pto=bob.boundjid)
    await got.wait()
    alice_jid = alice.boundjid.full
    gone = EventWaiter(bob, "presence_unavailable", lambda p: p["from"].full == alice_jid)
    await asyncio.wait_for(alice.disconnect(wait=1.0), 5)
    p = await gone.wait()
    assert p["type"] == "unavailable"


@run()
async def test_rfc6121_2_3_roster_set_push_and_get(h: Harness):
    c = await h.online("carol", presence=False)
    contact = jid(unique("contact"))
    push = EventWaiter(c, "roster_update", lambda iq: contact in iq["roster"]["items"])
    iq = c.make_iq_set(ito=None)
    iq["roster"]["items"] = {contact: {"name": "Interop", "subscription": "none", "groups": ["g1"]}}
    await iq.send(timeout=5)
    pushed = await push.wait()
    assert pushed["roster"]["items"][contact]["subscription"] == "none"
    result = await full_roster(c)
    items = result["roster"]["items"]
    assert contact in items
    assert items[contact]["name"] == "Interop"
    assert items[contact]["groups"] == ["g1"]

    removed = EventWaiter(c, "roster_update", lambda iq: contact in iq["roster"]["items"])
    iq = c.make_iq_set()
    iq["roster"]["items"] = {contact: {"subscription": "remove"}}
    await iq.send(timeout=5)
    pushed = await removed.wait()
    assert pushed["roster"]["items"][contact]["subscription"] == "remove"
    result = await full_roster(c)
    assert contact not in result["roster"]["items"]


async def full_roster(c):
    """A roster get without 'ver' (slixmpp's get_roster sends the version it knows, RFC 6121 2.6)."""
    iq = c.make_iq_get(ito=None)
    iq.enable("roster")
    return await iq.send(timeout=5)


@run()
async def test_rfc6121_3_1_2_subscription_request_stamped_with_bare_jid(h: Harness):
    alice = await h.online("alice")
    bob = await h.online("bob")
    bob.auto_authorize = None  # slixmpp: neither approve nor deny, leave the request pending
    bob.auto_subscribe = False
    request = EventWaiter(bob, "presence_subscribe", lambda p: p["from"].bare == jid("alice"))
    alice.send_presence(pto=jid("bob"), ptype="subscribe")
    p = await request.wait()
    assert p["type"] == "subscribe"
    assert p["from"].full == jid("alice"), f"from must be the bare JID, got {p['from']}"
    assert p["to"].bare == jid("bob")


@run()
async def test_rfc6121_3_1_subscription_request_and_approval(h: Harness):
    alice = await h.online("alice")
    bob = await h.online("bob")
    # slixmpp's defaults: bob auto-authorizes (and subscribes back).
    subscribed = EventWaiter(alice, "presence_subscribed", lambda p: p["from"].bare == bob.boundjid.bare)
    available = EventWaiter(alice, "presence_available", lambda p: p["from"] == bob.boundjid)
    alice.send_presence(pto=bob.boundjid.bare, ptype="subscribe")
    await subscribed.wait()
    await available.wait()  # RFC 6121 3.1.6: the contact's current presence follows
    roster = await alice.get_roster(timeout=5)
    assert roster["roster"]["items"][bob.boundjid.bare]["subscription"] in ("to", "both")
    # Clean up so later runs against the same accounts start from an empty roster.
    for c, other in ((alice, bob), (bob, alice)):
        iq = c.make_iq_set()
        iq["roster"]["items"] = {other.boundjid.bare: {"subscription": "remove"}}
        await iq.send(timeout=5)
