"""XEP-0114 components with slixmpp's ComponentXMPP against the harness's configured component."""
from slixmpp.exceptions import IqError

from xmpp_helpers import COMPONENT_DOMAIN, DOMAIN, EventWaiter, Harness, run


async def _component(h: Harness, plugins=()):
    comp = h.component(plugins=plugins)
    kind, detail = await h.connect_component(comp)
    assert kind == "ok", f"component handshake failed: {kind} {detail}"
    return comp


@run()
async def test_xep0114_handshake_then_messages_both_ways(h: Harness):
    comp = await _component(h)
    alice = await h.online("alice")
    bot = f"bot@{COMPONENT_DOMAIN}"

    got = EventWaiter(comp, "message", lambda m: m["body"] == "hello bot")
    alice.send_message(mto=bot, mbody="hello bot", mtype="chat")
    m = await got.wait()
    assert m["from"] == alice.boundjid
    assert m["to"].bare == bot

    back = EventWaiter(alice, "message", lambda m: m["body"] == "hello alice")
    comp.send_message(mto=alice.boundjid, mfrom=bot + "/r", mbody="hello alice", mtype="chat")
    reply = await back.wait()
    assert reply["from"] == bot + "/r"


@run()
async def test_xep0114_presence_and_iq_both_ways(h: Harness):
    comp = await _component(h, plugins=["xep_0199"])
    alice = await h.online("alice", plugins=["xep_0199"])

    seen = EventWaiter(comp, "presence_available", lambda p: p["from"] == alice.boundjid)
    alice.send_presence(pto=COMPONENT_DOMAIN)
    await seen.wait()

    # the component pings the client (XEP-0199) and gets its result back through the server
    rtt = await comp["xep_0199"].ping(jid=alice.boundjid, ifrom=COMPONENT_DOMAIN, timeout=5)
    assert rtt is not None and rtt >= 0
    # and the client pings the component, which answers itself
    rtt = await alice["xep_0199"].ping(jid=COMPONENT_DOMAIN, timeout=5)
    assert rtt is not None and rtt >= 0


@run()
async def test_xep0114_wrong_secret_is_refused(h: Harness):
    comp = h.component(secret="not-the-secret")
    kind, detail = await h.connect_component(comp)
    assert kind in ("stream_error", "disconnected"), kind
    if kind == "stream_error":
        assert detail["condition"] == "not-authorized"


@run()
async def test_xep0030_component_domain_in_server_items(h: Harness):
    alice = await h.online("alice", plugins=["xep_0030"], presence=False)
    iq = await alice["xep_0030"].get_items(jid=DOMAIN, local=False, timeout=5)
    jids = [item[0] for item in iq["disco_items"]["items"]]
    assert COMPONENT_DOMAIN in jids, jids


@run()
async def test_xep0114_component_not_connected_is_service_unavailable(h: Harness):
    alice = await h.online("alice", presence=False)
    iq = alice.make_iq_get(ito=COMPONENT_DOMAIN, queryxmlns="jabber:iq:version")
    try:
        await iq.send(timeout=5)
        raise AssertionError("expected an error")
    except IqError as e:
        assert e.iq["error"]["condition"] == "service-unavailable"
