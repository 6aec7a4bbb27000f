"""XEP-0163 Personal Eventing Protocol with slixmpp's xep_0115 (entity capabilities), xep_0163 and xep_0118 (user
tune): the server learns each contact's +notify interests from its caps hash (asking the client with disco#info the
first time it sees the hash) and notifies only the resources that asked."""
import asyncio

from xmpp_helpers import EventWaiter, Harness, jid, run

TUNE = "http://jabber.org/protocol/tune"


async def befriend(a, b):
    """Both ways subscribed (RFC 6121 §3): slixmpp's defaults authorize and subscribe back. Waits for the rosters, not
    for the approval: when an earlier test left the two subscribed already, or left a request that the login delivered
    and slixmpp answered, the contact's server answers this request with a 'subscribed' that the user's server does not
    deliver (§3.1.6: the user already has a subscription to the contact)."""
    a.send_presence(pto=b.boundjid.bare, ptype="subscribe")
    for c, other in ((a, b), (b, a)):
        for _ in range(100):
            get = c.Iq(stype="get")  # no 'ver': the whole roster (RFC 6121 §2.6.2)
            get.enable("roster")
            items = {str(k): v for k, v in (await get.send(timeout=5))["roster"]["items"].items()}
            if items.get(other.boundjid.bare, {}).get("subscription") == "both":
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"{c.boundjid.bare} never got a 'both' subscription with {other.boundjid.bare}")


async def online_with_caps(h, user, tune_interest):
    """Logs in with entity capabilities; with tune_interest the client's features include tune+notify."""
    plugins = ("xep_0030", "xep_0115", "xep_0060", "xep_0163") + (("xep_0118",) if tune_interest else ())
    c = h.client(user, plugins=plugins)
    await h.login(c)
    await c["xep_0115"].update_caps(broadcast=False)
    echo = EventWaiter(c, "presence_available", lambda p: p["from"] == c.boundjid)
    c.send_presence()
    await echo.wait()
    return c


def from_user(user):
    return lambda m: m["from"].bare == jid(user)


@run(timeout=60)
async def test_xep0163_4_2_and_xep0115_notifications_go_only_to_resources_whose_caps_ask_for_them(h: Harness):
    publisher = await online_with_caps(h, "alice", tune_interest=False)
    listener = await online_with_caps(h, "bob", tune_interest=True)
    deaf = await online_with_caps(h, "dave", tune_interest=False)
    await befriend(publisher, listener)
    await befriend(publisher, deaf)

    heard = EventWaiter(listener, "user_tune_publish", from_user("alice"))
    not_heard = EventWaiter(deaf, "pubsub_publish", from_user("alice"))
    publisher.register_plugin("xep_0118")
    await publisher["xep_0118"].publish_tune(artist="Gerald Finzi", title="Dies Natalis", timeout=5)
    msg = await heard.wait()
    tune = msg["pubsub_event"]["items"]["item"]["tune"]
    assert (tune["artist"], tune["title"]) == ("Gerald Finzi", "Dies Natalis")
    try:
        await not_heard.wait(timeout=2)
        raise AssertionError("a contact without tune+notify in its caps got the tune")
    except asyncio.TimeoutError:
        pass

    # §4.3.2: a resource that comes online with the interest gets the last published item
    second = h.client("bob", plugins=("xep_0030", "xep_0115", "xep_0060", "xep_0163", "xep_0118"))
    await h.login(second)
    await second["xep_0115"].update_caps(broadcast=False)
    last = EventWaiter(second, "user_tune_publish", from_user("alice"))
    second.send_presence()
    msg = await last.wait()
    assert msg["pubsub_event"]["items"]["item"]["tune"]["title"] == "Dies Natalis"
