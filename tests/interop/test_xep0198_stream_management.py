"""XEP-0198 stream management with slixmpp's xep_0198 plugin: enable with resumption, acknowledgements, and a
resumption after the TCP connection died (what arrived meanwhile is delivered on the resumed stream)."""
import asyncio

from xmpp_helpers import HOST, PORT, EventWaiter, Harness, WAIT, run, unique


async def sm_online(h: Harness, user):
    """Logs in with the xep_0198 plugin, waits until the server enabled stream management, sends presence."""
    c = h.client(user, mech="SCRAM-SHA-256", plugins=("xep_0198",))
    enabled = EventWaiter(c, "sm_enabled")
    await h.login(c)
    stanza = await enabled.wait()
    w = EventWaiter(c, "presence_available", lambda p: p["from"] == c.boundjid)
    c.send_presence()
    await w.wait()
    return c, stanza


@run()
async def test_xep0198_3_enable_with_resume_gives_an_id(h: Harness):
    alice, enabled = await sm_online(h, "alice")
    assert enabled["id"], "a resumable <enabled/> carries an id"
    assert enabled["resume"] is True
    assert alice["xep_0198"].sm_id == enabled["id"]


@run()
async def test_xep0198_4_the_server_acknowledges_what_the_client_sent(h: Harness):
    alice, _ = await sm_online(h, "alice")
    sm = alice["xep_0198"]
    last = None
    for _ in range(3):
        last = unique("note")
        alice.send_message(mto=alice.boundjid.bare, mbody=last, mtype="chat")
    # the messages come back (to the account's bare JID); then the client asks for an ack (request_ack() is sent
    # raw, ahead of queued stanzas): the server's 'h' covers everything it sent (presence + 3 messages)
    await EventWaiter(alice, "message", lambda m: m["body"] == last).wait()
    sm.request_ack()
    for _ in range(int(WAIT * 10)):
        if sm.seq >= 4 and sm.last_ack == sm.seq and not sm.unacked_queue:
            break
        await asyncio.sleep(0.1)
    assert sm.seq >= 4
    assert sm.last_ack == sm.seq, f"acknowledged {sm.last_ack} of {sm.seq}"
    assert not sm.unacked_queue
    # and the client acknowledged what the server sent it (the server's <r/> after each of its stanzas)
    assert sm.handled >= 1


@run(timeout=60)
async def test_xep0198_5_resumption_after_the_connection_died(h: Harness):
    alice, enabled = await sm_online(h, "alice")
    bob = await h.online("bob")
    full = alice.boundjid.full

    first = unique("before")
    got = EventWaiter(alice, "message", lambda m: m["body"] == first)
    bob.send_message(mto=full, mbody=first, mtype="chat")
    await got.wait()

    # the TCP connection dies without a stream close; slixmpp keeps its SM id (no session end)
    lost = EventWaiter(alice, "disconnected")
    alice.transport.abort()
    await lost.wait()
    await asyncio.sleep(0.5)

    # sent while the session is detached: held by the server for the resumed stream
    during = unique("while-away")
    bob.send_message(mto=full, mbody=during, mtype="chat")

    resumed = EventWaiter(alice, "session_resumed")
    got = EventWaiter(alice, "message", lambda m: m["body"] == during)
    started = EventWaiter(alice, "session_start")
    await asyncio.sleep(0.5)
    alice.connect((HOST, PORT))
    await resumed.wait()
    msg = await got.wait()
    assert msg["from"].full == bob.boundjid.full
    assert alice.boundjid.full == full  # the same resource: resumed, not bound again
    assert not started.fut.done(), "a resumed stream does not start a new session"

    # and the resumed stream carries on both ways
    after = unique("after")
    got = EventWaiter(bob, "message", lambda m: m["body"] == after)
    alice.send_message(mto=bob.boundjid.full, mbody=after, mtype="chat")
    await got.wait(WAIT)
