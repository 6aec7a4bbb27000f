"""XEP-0352 client state indication with slixmpp's xep_0352 plugin: while the client is inactive the server holds
chat states, and a message with a body brings them first, in order."""
import asyncio

from xmpp_helpers import EventWaiter, Harness, run, unique


@run()
async def test_xep0352_4_chat_states_wait_while_inactive_and_come_before_an_important_message(h: Harness):
    phone = h.client("alice", mech="SCRAM-SHA-256", plugins=("xep_0085", "xep_0352"))
    enabled = EventWaiter(phone, "csi_enabled")
    await h.login(phone)
    await enabled.wait()
    assert phone["xep_0352"].enabled
    bob = await h.online("bob")

    seen = []
    phone.add_event_handler("chatstate", lambda m: seen.append(("state", m["chat_state"])))
    phone.add_event_handler("message", lambda m: m["body"] and seen.append(("body", m["body"])))

    phone["xep_0352"].send_inactive()
    await asyncio.sleep(0.5)
    state = bob.make_message(mto=phone.boundjid.full, mtype="chat")
    state["chat_state"] = "composing"
    state.send()
    await asyncio.sleep(1.0)
    assert seen == [], f"a chat state reached an inactive client: {seen}"

    body = unique("wake")
    got = EventWaiter(phone, "message", lambda m: m["body"] == body)
    bob.send_message(mto=phone.boundjid.full, mbody=body, mtype="chat")
    await got.wait()
    await asyncio.sleep(0.2)
    assert seen[0] == ("state", "composing"), seen
    assert ("body", body) in seen

    # active again: a chat state comes at once
    phone["xep_0352"].send_active()
    await asyncio.sleep(0.3)
    paused = EventWaiter(phone, "chatstate_paused")
    state = bob.make_message(mto=phone.boundjid.full, mtype="chat")
    state["chat_state"] = "paused"
    state.send()
    await paused.wait()
