"""XEP-0313 message archive management with slixmpp's xep_0313 (and xep_0359) plugins: the account's archive is
advertised on its bare JID, archived messages arrive with their stanza-id, and the archive is read back with filters
and XEP-0059 paging in both directions."""
import asyncio
from datetime import datetime, timedelta, timezone

from slixmpp import JID

from xmpp_helpers import EventWaiter, Harness, WAIT, jid, run, unique

PLUGINS = ("xep_0030", "xep_0059", "xep_0297", "xep_0313", "xep_0359")


async def send_and_receive(sender, recipient, body):
    got = EventWaiter(recipient, "message", lambda m: m["body"] == body)
    sender.send_message(mto=recipient.boundjid.bare, mbody=body, mtype="chat")
    return await got.wait()


@run()
async def test_xep0313_7_the_archive_is_advertised_on_the_account_bare_jid(h: Harness):
    alice = await h.online("alice", plugins=PLUGINS)
    info = await asyncio.wait_for(alice["xep_0030"].get_info(jid=jid("alice")), WAIT)
    features = info["disco_info"]["features"]
    assert "urn:xmpp:mam:2" in features
    assert "urn:xmpp:mam:2#extended" in features


@run()
async def test_xep0313_3_5_and_4_2_messages_carry_their_archive_id_and_are_found_by_with(h: Harness):
    alice = await h.online("alice", plugins=PLUGINS)
    bob = await h.online("bob", plugins=PLUGINS)
    since = datetime.now(timezone.utc) - timedelta(seconds=2)
    bodies = [unique("mam") for _ in range(3)]
    stanza_ids = []
    for body in bodies:
        received = await send_and_receive(bob, alice, body)
        assert received["stanza_id"]["by"] == JID(jid("alice"))
        stanza_ids.append(received["stanza_id"]["id"])

    result = await asyncio.wait_for(
        alice["xep_0313"].retrieve(jid=JID(jid("alice")), with_jid=JID(jid("bob")), start=since), WAIT)
    found = [(m["mam_result"]["id"], m["mam_result"]["forwarded"]["stanza"]["body"]) for m in result["mam"]["results"]]
    assert [f for f in found if f[1] in bodies] == list(zip(stanza_ids, bodies))
    assert result["mam_fin"]["complete"] or result["mam_fin"].xml.get("complete") == "true"


@run()
async def test_xep0313_4_3_paging_forward_and_backward_with_rsm(h: Harness):
    alice = await h.online("alice", plugins=PLUGINS)
    carol = await h.online("carol", plugins=PLUGINS)
    since = datetime.now(timezone.utc) - timedelta(seconds=2)
    bodies = [unique(f"page{i}") for i in range(5)]
    for body in bodies:
        await send_and_receive(carol, alice, body)

    forward = []
    async for message in alice["xep_0313"].iterate(jid=JID(jid("alice")), with_jid=JID(jid("carol")), start=since, rsm={"max": 2}):
        forward.append(message["mam_result"]["forwarded"]["stanza"]["body"])
    assert [b for b in forward if b in bodies] == bodies

    backward = []
    async for message in alice["xep_0313"].iterate(jid=JID(jid("alice")), with_jid=JID(jid("carol")), start=since,
                                                  rsm={"max": 2}, reverse=True):
        backward.append(message["mam_result"]["forwarded"]["stanza"]["body"])
    assert [b for b in backward if b in bodies] == list(reversed(bodies))


@run()
async def test_xep0280_6_xep0313_3_5_carbon_copies_carry_the_archive_id_of_the_message(h: Harness):
    plugins = PLUGINS + ("xep_0280",)
    phone = await h.online("alice", plugins=plugins)
    desk = await h.online("alice", plugins=plugins)
    await asyncio.wait_for(desk["xep_0280"].enable(), WAIT)
    bob = await h.online("bob", plugins=plugins)
    since = datetime.now(timezone.utc) - timedelta(seconds=2)

    # phone writes to bob: desk's <sent/> copy names the message's id in alice's archive; bob sees no id of it
    body = unique("sent-carbon")
    copy = EventWaiter(desk, "carbon_sent", lambda m: m["carbon_sent"]["body"] == body)
    got = EventWaiter(bob, "message", lambda m: m["body"] == body)
    phone.send_message(mto=bob.boundjid.full, mbody=body, mtype="chat")
    at_bob = await got.wait()
    sent = (await copy.wait())["carbon_sent"]
    assert sent["stanza_id"]["by"] == JID(jid("alice"))
    sent_id = sent["stanza_id"]["id"]
    assert sent_id
    assert at_bob["stanza_id"]["by"] == JID(jid("bob"))

    # bob answers phone's full JID: desk's <received/> copy carries the id phone's message carries
    answer = unique("received-carbon")
    copy = EventWaiter(desk, "carbon_received", lambda m: m["carbon_received"]["body"] == answer)
    got = EventWaiter(phone, "message", lambda m: m["body"] == answer)
    bob.send_message(mto=phone.boundjid.full, mbody=answer, mtype="chat")
    original = await got.wait()
    received = (await copy.wait())["carbon_received"]
    assert original["stanza_id"]["by"] == JID(jid("alice"))
    assert received["stanza_id"]["id"] == original["stanza_id"]["id"]

    result = await asyncio.wait_for(
        desk["xep_0313"].retrieve(jid=JID(jid("alice")), with_jid=JID(jid("bob")), start=since), WAIT)
    found = {m["mam_result"]["forwarded"]["stanza"]["body"]: m["mam_result"]["id"] for m in result["mam"]["results"]}
    assert found[body] == sent_id
    assert found[answer] == original["stanza_id"]["id"]
