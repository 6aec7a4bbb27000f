"""XEP-0060 Publish-Subscribe through slixmpp's xep_0060 client against the service at pubsub.<domain> (the pubsub
plugin): a node's life from creation with a configuration form to deletion, as two clients see it."""
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

from xmpp_helpers import DOMAIN, EventWaiter, Harness, jid, run, unique

SERVICE = f"pubsub.{DOMAIN}"
PUBSUB = "http://jabber.org/protocol/pubsub"
READING = "urn:example:sensor"


def reading(value):
    return ET.fromstring(f"<reading xmlns='{READING}' v='{value}'/>")


def config_form(c, **fields):
    form = c["xep_0004"].make_form("submit")
    for var, value in fields.items():
        form.add_field(var=f"pubsub#{var}", value=value)
    return form


def item_ids(result):
    return [i["id"] for i in result["pubsub"]["items"]]


def for_node(node):
    return lambda m: m["pubsub_event"]["items"]["node"] == node


async def error_condition(awaitable):
    try:
        await awaitable
    except IqError as e:
        return e.iq["error"]["type"], e.iq["error"]["condition"]
    raise AssertionError("the request succeeded where an error was due")


@run()
async def test_xep0060_8_1_3_to_8_4_a_node_from_create_and_configure_to_delete_as_its_subscriber_sees_it(h: Harness):
    plugins = ("xep_0030", "xep_0004", "xep_0060")
    owner = await h.online("alice", plugins=plugins, presence=False)
    subscriber = await h.online("bob", plugins=plugins)  # available: a headline to a bare JID goes to available resources only (RFC 6121 §8.5.2.1.1)
    node = unique("sensor")

    info = await owner["xep_0030"].get_info(jid=SERVICE, timeout=5)
    features = info["disco_info"]["features"]
    for feature in ("create-nodes", "config-node", "publish", "subscribe", "retract-items", "purge-nodes",
                    "delete-nodes", "retrieve-items"):
        assert f"{PUBSUB}#{feature}" in features, feature

    # §8.1.2: create and configure in one request
    await owner["xep_0060"].create_node(SERVICE, node, config=config_form(owner, max_items="2", access_model="open"),
                                        timeout=5)
    got = await owner["xep_0060"].get_node_config(SERVICE, node, timeout=5)
    values = got["pubsub_owner"]["configure"]["form"].get_values()
    assert values["pubsub#max_items"] == "2"

    # §6.1: subscribe; the answer carries the subscription state
    sub = await subscriber["xep_0060"].subscribe(SERVICE, node, timeout=5)
    assert sub["pubsub"]["subscription"]["subscription"] == "subscribed"
    subs = await subscriber["xep_0060"].get_subscriptions(SERVICE, timeout=5)
    assert node in [s["node"] for s in subs["pubsub"]["subscriptions"]]

    # §7.1: each publish is notified with its payload
    for k in range(3):
        w = EventWaiter(subscriber, "pubsub_publish", for_node(node))
        await owner["xep_0060"].publish(SERVICE, node, id=f"r{k}", payload=reading(k), timeout=5)
        msg = await w.wait()
        item = msg["pubsub_event"]["items"]["item"]
        assert item["id"] == f"r{k}"
        assert item["payload"].get("v") == str(k)

    # §6.5 with pubsub#max_items 2: the oldest item is gone; max_items asks for the newest
    items = await subscriber["xep_0060"].get_items(SERVICE, node, timeout=5)
    assert sorted(item_ids(items)) == ["r1", "r2"]
    newest = await subscriber["xep_0060"].get_items(SERVICE, node, max_items=1, timeout=5)
    assert item_ids(newest) == ["r2"]

    # §7.2.2.1: a retraction with notify='true' reaches the subscriber
    w = EventWaiter(subscriber, "pubsub_retract", for_node(node))
    await owner["xep_0060"].retract(SERVICE, node, "r1", notify=True, timeout=5)
    msg = await w.wait()
    assert msg["pubsub_event"]["items"]["retract"]["id"] == "r1"

    # §8.5: purge, notified
    w = EventWaiter(subscriber, "pubsub_purge", lambda m: m["pubsub_event"]["purge"]["node"] == node)
    await owner["xep_0060"].purge(SERVICE, node, timeout=5)
    await w.wait()
    items = await subscriber["xep_0060"].get_items(SERVICE, node, timeout=5)
    assert item_ids(items) == []

    # §8.4: delete, notified; the node is gone
    w = EventWaiter(subscriber, "pubsub_delete", lambda m: m["pubsub_event"]["delete"]["node"] == node)
    await owner["xep_0060"].delete_node(SERVICE, node, timeout=5)
    await w.wait()
    assert await error_condition(subscriber["xep_0060"].get_items(SERVICE, node, timeout=5)) == ("cancel", "item-not-found")


@run()
async def test_xep0060_6_1_3_7_1_3_8_1_3_8_4_3_errors_as_the_spec_names_them(h: Harness):
    plugins = ("xep_0030", "xep_0004", "xep_0060")
    owner = await h.online("alice", plugins=plugins, presence=False)
    other = await h.online("bob", plugins=plugins, presence=False)
    node = unique("errors")
    await owner["xep_0060"].create_node(SERVICE, node, timeout=5)

    # §8.1.3.4: the node exists
    assert await error_condition(other["xep_0060"].create_node(SERVICE, node, timeout=5)) == ("cancel", "conflict")
    # §7.1.3.1: bob is not a publisher (the default pubsub#publish_model is publishers)
    assert await error_condition(other["xep_0060"].publish(SERVICE, node, payload=reading(1), timeout=5)) \
        == ("auth", "forbidden")
    # §8.4.3.1: only an owner deletes
    assert await error_condition(other["xep_0060"].delete_node(SERVICE, node, timeout=5)) == ("auth", "forbidden")
    # §6.1.3.12: no such node
    assert await error_condition(other["xep_0060"].subscribe(SERVICE, unique("none"), timeout=5)) \
        == ("cancel", "item-not-found")
    # §6.1.3.1: a subscription for someone else's JID
    assert await error_condition(other["xep_0060"].subscribe(SERVICE, node, subscribee=jid("alice"), timeout=5)) \
        == ("modify", "bad-request")


@run()
async def test_xep0060_8_8_owner_manages_affiliations_and_a_publisher_may_publish(h: Harness):
    plugins = ("xep_0030", "xep_0004", "xep_0060")
    owner = await h.online("alice", plugins=plugins, presence=False)
    publisher = await h.online("bob", plugins=plugins, presence=False)
    node = unique("shared")
    await owner["xep_0060"].create_node(SERVICE, node, timeout=5)

    await owner["xep_0060"].modify_affiliations(SERVICE, node, [(jid("bob"), "publisher")], timeout=5)
    got = await owner["xep_0060"].get_node_affiliations(SERVICE, node, timeout=5)
    affiliations = {a["jid"].bare: a["affiliation"] for a in got["pubsub_owner"]["affiliations"]}
    assert affiliations == {jid("alice"): "owner", jid("bob"): "publisher"}

    await publisher["xep_0060"].publish(SERVICE, node, id="by-bob", payload=reading(7), timeout=5)
    items = await owner["xep_0060"].get_items(SERVICE, node, timeout=5)
    assert item_ids(items) == ["by-bob"]
    mine = await publisher["xep_0060"].get_affiliations(SERVICE, timeout=5)
    assert (node, "publisher") in [(a["node"], a["affiliation"]) for a in mine["pubsub"]["affiliations"]]
