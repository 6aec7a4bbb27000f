"""XEP-0045 multi-user chat with slixmpp's xep_0045 plugin against the muc plugin (conference.<domain>)."""
import asyncio

import pytest
from slixmpp import JID
from slixmpp.exceptions import IqError, PresenceError

from xmpp_helpers import DOMAIN, EventWaiter, Harness, jid, run, unique

SERVICE = f"conference.{DOMAIN}"
MUC = ["xep_0004", "xep_0030", "xep_0045", "xep_0082", "xep_0203"]


def room():
    return JID(f"{unique('room')}@{SERVICE}")


async def instant_room(c, r, nick):
    """XEP-0045 10.1.2: enter (201: the room is new and locked), then accept the default configuration."""
    pres, _subject, _occupants, _history = await c["xep_0045"].join_muc_wait(r, nick, timeout=10)
    assert 201 in pres["muc"]["status_codes"]
    await c["xep_0045"].set_room_config(r, c["xep_0004"].make_form(ftype="submit"), timeout=5)


@run()
async def test_xep0045_6_1_disco_info_on_the_service(h: Harness):
    c = await h.online("alice", plugins=MUC, presence=False)
    info = (await c["xep_0030"].get_info(jid=SERVICE, local=False, timeout=5))["disco_info"]
    assert "http://jabber.org/protocol/muc" in info["features"]
    assert any(cat == "conference" and typ == "text" for cat, typ, _lang, _name in info["identities"]), info["identities"]


@run()
async def test_xep0045_7_2_enter_7_4_groupchat_and_7_2_14_history(h: Harness):
    alice = await h.online("alice", plugins=MUC)
    bob = await h.online("bob", plugins=MUC)
    r = room()
    await instant_room(alice, r, "alice")
    for text in ("first", "second"):
        w = EventWaiter(alice, f"muc::{r}::message", lambda m, t=text: m["body"] == t)
        alice.send_message(mto=r, mbody=text, mtype="groupchat")
        await w.wait()

    pres, subject, occupants, history = await bob["xep_0045"].join_muc_wait(r, "bob", maxstanzas=1, timeout=10)
    assert 110 in pres["muc"]["status_codes"]
    assert pres["muc"]["role"] == "participant"
    assert "alice" in [o["muc"]["nick"] for o in occupants]  # slixmpp counts its own presence among them
    assert [m["body"] for m in history] == ["second"]  # maxstanzas=1: the newest only
    assert subject["subject"] == ""

    got = EventWaiter(bob, f"muc::{r}::message", lambda m: m["body"] == "hello bob")
    alice.send_message(mto=r, mbody="hello bob", mtype="groupchat")
    m = await got.wait()
    assert m["from"] == JID(f"{r}/alice")
    assert set(alice["xep_0045"].get_roster(r)) == {"alice", "bob"}


@run()
async def test_xep0045_7_2_9_nickname_conflict(h: Harness):
    alice = await h.online("alice", plugins=MUC)
    bob = await h.online("bob", plugins=MUC)
    r = room()
    await instant_room(alice, r, "same")
    with pytest.raises(PresenceError) as e:
        await bob["xep_0045"].join_muc_wait(r, "same", timeout=10)
    assert e.value.presence["error"]["condition"] == "conflict"


@run()
async def test_xep0045_10_2_configuration_form_and_9_3_member_list(h: Harness):
    alice = await h.online("alice", plugins=MUC)
    r = room()
    await alice["xep_0045"].join_muc_wait(r, "alice", timeout=10)
    form = await alice["xep_0045"].get_room_config(r, timeout=5)
    fields = form.get_fields()
    for name in ("muc#roomconfig_persistentroom", "muc#roomconfig_membersonly", "muc#roomconfig_whois", "muc#roomconfig_roomsecret"):
        assert name in fields, name
    answer = alice["xep_0004"].make_form(ftype="submit")
    answer.add_field(var="FORM_TYPE", ftype="hidden", value="http://jabber.org/protocol/muc#roomconfig")
    answer.add_field(var="muc#roomconfig_roomname", value="Interop")
    answer.add_field(var="muc#roomconfig_membersonly", ftype="boolean", value=True)
    await alice["xep_0045"].set_room_config(r, answer, timeout=5)
    await alice["xep_0045"].set_affiliation(r, "member", jid=JID(jid("bob")), timeout=5)
    members = await alice["xep_0045"].get_affiliation_list(r, "member", timeout=5)
    assert [str(j) for j in members] == [jid("bob")]

    dave = await h.online("dave", plugins=MUC)
    with pytest.raises(PresenceError) as e:
        await dave["xep_0045"].join_muc_wait(r, "dave", timeout=10)
    assert e.value.presence["error"]["condition"] == "registration-required"  # 7.2.6


@run()
async def test_xep0045_8_2_kick_and_10_9_destroy(h: Harness):
    alice = await h.online("alice", plugins=MUC)
    bob = await h.online("bob", plugins=MUC)
    r = room()
    await instant_room(alice, r, "alice")
    await bob["xep_0045"].join_muc_wait(r, "bob", timeout=10)
    kicked = EventWaiter(bob, f"muc::{r}::got_offline", lambda p: p["muc"]["nick"] == "bob")
    await alice["xep_0045"].set_role(r, "bob", "none", reason="bye", timeout=5)
    p = await kicked.wait()
    assert 307 in p["muc"]["status_codes"]

    with pytest.raises(IqError) as e:
        await bob["xep_0045"].destroy(r, timeout=5)
    assert e.value.iq["error"]["condition"] == "forbidden"
    gone = EventWaiter(alice, f"muc::{r}::got_offline")
    await alice["xep_0045"].destroy(r, reason="done", altroom=JID(f"elsewhere@{SERVICE}"), timeout=5)
    p = await gone.wait()
    assert p.xml.find("{http://jabber.org/protocol/muc#user}x/{http://jabber.org/protocol/muc#user}destroy").get("jid") == f"elsewhere@{SERVICE}"
    await asyncio.sleep(0)


@run()
async def test_xep0045_7_2_8_one_nickname_for_two_resources_of_one_user(h: Harness):
    alice = await h.online("alice", plugins=MUC)
    phone = await h.online("bob", resource="phone", plugins=MUC)
    desk = await h.online("bob", resource="desk", plugins=MUC)
    r = room()
    await instant_room(alice, r, "alice")
    await phone["xep_0045"].join_muc_wait(r, "bob", timeout=10)
    pres, _subject, _occupants, _history = await desk["xep_0045"].join_muc_wait(r, "bob", timeout=10)
    assert 110 in pres["muc"]["status_codes"]  # the second resource is in, under the same nickname
    assert set(alice["xep_0045"].get_roster(r)) == {"alice", "bob"}  # the others see one occupant
    got = [EventWaiter(c, f"muc::{r}::message", lambda m: m["body"] == "to both") for c in (phone, desk)]
    alice.send_message(mto=r, mbody="to both", mtype="groupchat")
    for w in got:
        assert (await w.wait())["from"] == JID(f"{r}/alice")  # in-room messages reach every resource


@run()
async def test_xep0313_3_3_2_room_archive_with_slixmpp_xep_0313(h: Harness):
    plugins = MUC + ["xep_0059", "xep_0297", "xep_0313", "xep_0359"]
    alice = await h.online("alice", plugins=plugins)
    bob = await h.online("bob", plugins=plugins)
    r = room()
    await instant_room(alice, r, "alice")
    bodies = [unique("said") for _ in range(3)]
    ids = []
    for body in bodies:
        w = EventWaiter(alice, f"muc::{r}::message", lambda m, b=body: m["body"] == b)
        alice.send_message(mto=r, mbody=body, mtype="groupchat")
        m = await w.wait()
        assert m["stanza_id"]["by"] == r  # 3.5: the archive id, by the room's bare JID
        ids.append(m["stanza_id"]["id"])
    found = []
    async for message in bob["xep_0313"].iterate(jid=r, rsm={"max": 2}):  # bob was never in the room: an open room
        found.append((message["mam_result"]["id"], message["mam_result"]["forwarded"]["stanza"]["body"]))
    assert found == list(zip(ids, bodies))
