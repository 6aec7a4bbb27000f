"""Per-account data: XEP-0191 blocking (the blocking plugin), XEP-0054 vcard-temp, XEP-0049 private XML
storage, XEP-0012 last activity (plugins), XEP-0160 offline quota errors."""
import asyncio

import pytest
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

from xmpp_helpers import DOMAIN, EventWaiter, Harness, jid, run, unique


async def iq(c, kind, xml, to=None):
    stanza = c.make_iq_get(ito=to) if kind == "get" else c.make_iq_set(ito=to)
    stanza.append(ET.fromstring(xml))
    return await stanza.send(timeout=5)


@run()
async def test_xep0191_block_blocklist_bounce_and_unblock(h: Harness):
    alice = await h.online("alice")
    bob = await h.online("bob")
    await iq(alice, "set", f"<block xmlns='urn:xmpp:blocking'><item jid='{jid('bob')}'/></block>")
    got = await iq(alice, "get", "<blocklist xmlns='urn:xmpp:blocking'/>")
    items = got.xml.findall("{urn:xmpp:blocking}blocklist/{urn:xmpp:blocking}item")
    assert [i.get("jid") for i in items] == [jid("bob")]

    # XEP-0191 3.5: a message from the blocked contact is answered with service-unavailable
    err = EventWaiter(bob, "message_error", lambda m: m["from"].bare == jid("alice"))
    bob.send_message(mto=alice.boundjid, mbody=unique("blocked"), mtype="chat")
    m = await err.wait()
    assert m["error"]["condition"] == "service-unavailable"

    # XEP-0191 3.6: the user cannot write to the contact it blocked
    out = EventWaiter(alice, "message_error", lambda m: m["from"].bare == jid("bob"))
    alice.send_message(mto=bob.boundjid, mbody=unique("to blocked"), mtype="chat")
    m = await out.wait()
    assert m["error"]["condition"] == "not-acceptable"
    assert m.xml.find("{jabber:client}error/{urn:xmpp:blocking:errors}blocked") is not None

    await iq(alice, "set", "<unblock xmlns='urn:xmpp:blocking'/>")
    got = await iq(alice, "get", "<blocklist xmlns='urn:xmpp:blocking'/>")
    assert got.xml.findall("{urn:xmpp:blocking}blocklist/{urn:xmpp:blocking}item") == []


@run()
async def test_xep0054_vcard_set_by_owner_read_by_others(h: Harness):
    alice = await h.online("alice", presence=False)
    bob = await h.online("bob", presence=False)
    name = unique("Alice")
    await iq(alice, "set", f"<vCard xmlns='vcard-temp'><FN>{name}</FN></vCard>")
    got = await iq(bob, "get", "<vCard xmlns='vcard-temp'/>", to=jid("alice"))
    assert got.xml.find("{vcard-temp}vCard/{vcard-temp}FN").text == name
    with pytest.raises(IqError) as e:
        await iq(bob, "set", "<vCard xmlns='vcard-temp'><FN>x</FN></vCard>", to=jid("alice"))
    assert e.value.iq["error"]["condition"] == "forbidden"


@run()
async def test_xep0049_private_storage_round_trip(h: Harness):
    alice = await h.online("alice", presence=False)
    value = unique("v")
    await iq(alice, "set", f"<query xmlns='jabber:iq:private'><prefs xmlns='urn:example:interop'><v>{value}</v></prefs></query>")
    got = await iq(alice, "get", "<query xmlns='jabber:iq:private'><prefs xmlns='urn:example:interop'/></query>")
    assert got.xml.find("{jabber:iq:private}query/{urn:example:interop}prefs/{urn:example:interop}v").text == value


@run()
async def test_xep0012_last_activity_of_the_server_is_its_uptime(h: Harness):
    alice = await h.online("alice", presence=False)
    got = await iq(alice, "get", "<query xmlns='jabber:iq:last'/>", to=DOMAIN)
    assert int(got.xml.find("{jabber:iq:last}query").get("seconds")) >= 0
