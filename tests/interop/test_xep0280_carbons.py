"""XEP-0280 message carbons with slixmpp's xep_0280 plugin: two resources of one account, one of them enables
carbons and sees both sides of a conversation the other has."""
import asyncio

from xmpp_helpers import EventWaiter, Harness, WAIT, jid, run, unique


async def carbons_online(h: Harness, user, priority):
    c = h.client(user, mech="SCRAM-SHA-256", plugins=("xep_0030", "xep_0280"))
    await h.login(c)
    w = EventWaiter(c, "presence_available", lambda p: p["from"] == c.boundjid)
    c.send_presence(ppriority=priority)
    await w.wait()
    return c


@run()
async def test_xep0280_3_the_server_advertises_carbons(h: Harness):
    alice = await carbons_online(h, "alice", 0)
    info = await asyncio.wait_for(alice["xep_0030"].get_info(jid=alice.boundjid.domain), WAIT)
    assert "urn:xmpp:carbons:2" in info["disco_info"]["features"]


@run()
async def test_xep0280_7_8_received_and_sent_copies(h: Harness):
    phone = await carbons_online(h, "alice", 10)
    desk = await carbons_online(h, "alice", 0)
    await asyncio.wait_for(desk["xep_0280"].enable(), WAIT)
    bob = await h.online("bob")

    # bob writes to alice's bare JID: phone (highest priority) gets it, desk a <received/> copy
    body = unique("to-alice")
    got = EventWaiter(phone, "message", lambda m: m["body"] == body)
    copy = EventWaiter(desk, "carbon_received")
    bob.send_message(mto=jid("alice"), mbody=body, mtype="chat")
    await got.wait()
    received = await copy.wait()
    assert received["from"] == desk.boundjid.bare
    forwarded = received["carbon_received"]
    assert forwarded["body"] == body
    assert forwarded["from"].full == bob.boundjid.full

    # phone answers: desk gets a <sent/> copy of it
    reply = unique("from-phone")
    copy = EventWaiter(desk, "carbon_sent")
    got = EventWaiter(bob, "message", lambda m: m["body"] == reply)
    phone.send_message(mto=bob.boundjid.full, mbody=reply, mtype="chat")
    await got.wait()
    sent = await copy.wait()
    assert sent["carbon_sent"]["body"] == reply
    assert sent["carbon_sent"]["to"].full == bob.boundjid.full
    assert sent["carbon_sent"]["from"].full == phone.boundjid.full


@run()
async def test_xep0280_7_a_private_message_is_not_copied(h: Harness):
    phone = await carbons_online(h, "alice", 10)
    desk = await carbons_online(h, "alice", 0)
    await asyncio.wait_for(desk["xep_0280"].enable(), WAIT)
    bob = await h.online("bob")
    copies = []
    desk.add_event_handler("carbon_sent", lambda m: copies.append(m))
    secret = unique("secret")
    msg = phone.make_message(mto=bob.boundjid.full, mbody=secret, mtype="chat")
    msg.enable("carbon_private")
    got = EventWaiter(bob, "message", lambda m: m["body"] == secret)
    msg.send()
    await got.wait()
    # an ordinary message after it is copied; the private one before it was not
    plain = unique("plain")
    copy = EventWaiter(desk, "carbon_sent", lambda m: m["carbon_sent"]["body"] == plain)
    phone.send_message(mto=bob.boundjid.full, mbody=plain, mtype="chat")
    await copy.wait()
    assert [m["carbon_sent"]["body"] for m in copies] == [plain]
