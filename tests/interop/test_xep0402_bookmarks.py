"""XEP-0402 PEP Native Bookmarks and its section 5.3 compatibility (the bookmarks plugin): slixmpp's XEP-0048
client (it has no XEP-0402 plugin) keeps bookmarks in XEP-0049 private storage or in the legacy PEP node, and a
XEP-0402 client of the same account, speaking XEP-0060 to urn:xmpp:bookmarks:1, sees the same list."""
from slixmpp.plugins.xep_0048 import Bookmarks
from slixmpp.xmlstream import ET

from xmpp_helpers import Harness, jid, run, unique

NATIVE = "urn:xmpp:bookmarks:1"
PUBSUB = "http://jabber.org/protocol/pubsub"


async def native_items(c):
    got = await c["xep_0060"].get_items(jid=None, node=NATIVE, timeout=5)
    return {i.get("id"): i.find(f"{{{NATIVE}}}conference") for i in got.xml.findall(f"{{{PUBSUB}}}pubsub/{{{PUBSUB}}}items/{{{PUBSUB}}}item")}


@run()
async def test_xep0402_5_3_a_xep0048_client_and_a_xep0402_client_share_one_list(h: Harness):
    legacy = await h.online("dave", plugins=("xep_0048",), presence=False)
    modern = await h.online("dave", plugins=("xep_0030", "xep_0060"), presence=False)
    info = await modern["xep_0030"].get_info(jid=jid("dave"), timeout=5)
    assert f"{NATIVE}#compat" in info["disco_info"]["features"]

    # XEP-0048 through private storage (slixmpp's default storage method): one native item per room
    room1, room2 = unique("play") + "@conference.localhost", unique("orchard") + "@conference.localhost"
    bookmarks = Bookmarks()
    bookmarks.add_conference(room1, "JC", name="The Play", autojoin=True)
    bookmarks.add_url("http://the-tech.mit.edu/Shakespeare/", name="Complete Works")
    await legacy["xep_0048"].set_bookmarks(bookmarks, timeout=5)
    items = await native_items(modern)
    assert room1 in items
    assert items[room1].get("name") == "The Play"
    assert items[room1].get("autojoin") == "true"
    assert items[room1].findtext(f"{{{NATIVE}}}nick") == "JC"

    # XEP-0402 publish: the XEP-0048 client reads it back from private storage, its <url/> kept
    item = ET.fromstring(f"<conference xmlns='{NATIVE}' name='The Orchard'><nick>JC</nick></conference>")
    await modern["xep_0060"].publish(jid=None, node=NATIVE, id=room2, payload=item, timeout=5)
    got = await legacy["xep_0048"].get_bookmarks(timeout=5)
    stored = got["private"]["bookmarks"]
    assert {c["jid"] for c in stored["conferences"]} >= {room1, room2}
    assert [u["url"] for u in stored["urls"]] == ["http://the-tech.mit.edu/Shakespeare/"]

    # XEP-0048 through PEP (XEP-0223): the legacy node reads the same list
    got = await legacy["xep_0048"].get_bookmarks(method="xep_0223", timeout=5)
    legacy_pep = got["pubsub"]["items"]["item"]["bookmarks"]
    assert {c["jid"] for c in legacy_pep["conferences"]} >= {room1, room2}

    # a retraction of the native item leaves private storage too
    await modern["xep_0060"].retract(jid=None, node=NATIVE, id=room2, notify=True, timeout=5)
    got = await legacy["xep_0048"].get_bookmarks(timeout=5)
    assert room2 not in {c["jid"] for c in got["private"]["bookmarks"]["conferences"]}
