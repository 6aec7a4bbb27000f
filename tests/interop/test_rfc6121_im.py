"""RFC 6121 messaging and presence between two slixmpp clients."""
import asyncio

from xmpp_helpers import EventWaiter, Harness, jid, run, unique


@run()
async def test_rfc6120_scram_sha_256_over_starttls_chat_message_exchange(h: Harness):
    """The issue's case: two clients log in with SCRAM-SHA-256 over STARTTLS and chat."""
    alice = await h.online("alice", mech="SCRAM-SHA-256")
    bob = await h.online("bob", mech="SCRAM-SHA-256")

    body = unique("hello bob")
    got = EventWaiter(bob, "message", lambda m: m["body"] == body)
    alice.send_message(mto=bob.boundjid, mbody=body, mtype="chat")
    msg = await got.wait()
    # RFC 6120 8.1.2.1: the server stamps the sender's full JID.
    assert msg["from"] == alice.boundjid
    assert msg["from"].full == alice.boundjid.full
    assert msg["type"] == "chat"
    assert msg["to"].bare == jid("bob")

    reply = unique("hi alice")
    got = EventWaiter(alice, "message", lambda m: m["body"] == reply)
    msg_from_bob = bob.make_message(mto=alice.boundjid.bare, mbody=reply, mtype="chat")
    msg_from_bob.send()
    msg = await got.wait()
    assert msg["from"].full == bob.boundjid.full
    assert msg["type"] == "chat"


@run()
async def test_rfc6121_8_5_3_1_message_to_bare_jid_reaches_available_resource(h: Harness):
    alice = await h.online("alice")
    bob = await h.online("bob")
    body = unique("to the bare jid")
    got = EventWaiter(bob, "message", lambda m: m["body"] == body)
    alice.send_message(mto=jid("bob"), mbody=body, mtype="chat")
    msg = await got.wait()
    assert msg["from"].full == alice.boundjid.full


@run()
async def test_rfc6121_4_2_2_initial_presence_is_echoed_to_sender(h: Harness):
    c = await h.online("alice", presence=False)
    echo = EventWaiter(c, "presence_available", lambda p: p["from"] == c.boundjid)
    c.send_presence(pstatus="interop")
    p = await echo.wait()
    assert p["from"].full == c.boundjid.full
    assert p["status"] == "interop"


@run()
async def test_rfc6121_4_6_directed_presence(h: Harness):
    alice = await h.online("alice")
    bob = await h.online("bob")
    got = EventWaiter(bob, "presence_available", lambda p: p["from"] == alice.boundjid)
    alice.send_presence(pto=bob.boundjid, pstatus="directed")
    p = await got.wait()
    assert p["from"].full == alice.boundjid.full
    assert p["status"] == "directed"

    gone = EventWaiter(bob, "presence_unavailable", lambda p: p["from"] == alice.boundjid)
    alice.send_presence(pto=bob.boundjid, ptype="unavailable")
    p = await gone.wait()
    assert p["type"] == "unavailable"


@run()
async def test_rfc6121_8_5_2_2_1_message_to_offline_user_is_stored_and_delivered_with_delay(h: Harness):
    """XEP-0160: no available resource, so the server stores the chat message and delivers it at the
    recipient's next available presence, stamped with a XEP-0203 delay."""
    alice = await h.online("alice")
    body = unique("are you there")
    err = EventWaiter(alice, "message_error", lambda m: m["from"].bare == jid("dave"))
    alice.send_message(mto=jid("dave"), mbody=body, mtype="chat")
    await asyncio.sleep(0.5)
    assert not err.fut.done(), "the message was bounced instead of stored"
    dave = await h.online("dave", presence=False)
    got = EventWaiter(dave, "message", lambda m: m["body"] == body)
    dave.send_presence()
    m = await got.wait()
    assert m["from"] == alice.boundjid
    delay = m.xml.find("{urn:xmpp:delay}delay")
    assert delay is not None and delay.get("stamp")
