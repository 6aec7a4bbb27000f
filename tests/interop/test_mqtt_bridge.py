"""The MQTT 5 bridge (README, "MQTT bridge") with two third-party clients: Debian's mosquitto-clients on the MQTT
side and slixmpp on the XMPP side, against the harness's server (MQTT_PORT of `server.sh info`).

An MQTT topic is the PubSub node of the same name at pubsub.DOMAIN; an MQTT message is an item whose payload is
<message xmlns='urn:actors:mqtt:0'>; MQTT clients log in with an account's JID and password.
"""
import asyncio
import os
import xml.etree.ElementTree as ET

from xmpp_helpers import DOMAIN, HOST, PORT, USERS, EventWaiter, jid, run, unique

MQTT_PORT = int(os.environ.get("XMPP_MQTT_PORT", str(PORT - 3339)))
PUBSUB = "pubsub." + DOMAIN
MQTT_NS = "urn:actors:mqtt:0"


async def mosquitto(program, user, password, *args, timeout=30):
    proc = await asyncio.create_subprocess_exec(
        program, "-h", HOST, "-p", str(MQTT_PORT), "-V", "mqttv5", "-u", user, "-P", password, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        raise
    return proc.returncode, out.decode(), err.decode()


async def until_subscribed(owner, node, address):
    for _ in range(200):
        subs = await owner.plugin["xep_0060"].get_node_subscriptions(PUBSUB, node)
        if any(str(s["jid"]) == address and s["subscription"] == "subscribed"
               for s in subs["pubsub_owner"]["subscriptions"]):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{address} never subscribed to {node}")


@run()
async def test_mqtt5_publish_from_mosquitto_pub_reaches_a_slixmpp_subscriber_as_xep0060_notification(h):
    node = unique("sensors/t1")
    alice = await h.online("alice", plugins=["xep_0060"])
    await alice.plugin["xep_0060"].create_node(PUBSUB, node)
    await alice.plugin["xep_0060"].subscribe(PUBSUB, node)
    got = EventWaiter(alice, "pubsub_publish", lambda m: m["pubsub_event"]["items"]["node"] == node)

    code, out, err = await mosquitto("mosquitto_pub", jid("alice"), USERS["alice"], "-t", node, "-m", "21.5", "-q", "1")
    assert code == 0, (out, err)

    msg = await got.wait()
    payload = msg["pubsub_event"]["items"]["item"]["payload"]
    assert payload.tag == "{%s}message" % MQTT_NS
    assert payload.text == "21.5"


@run()
async def test_xep0060_publish_from_slixmpp_reaches_a_mosquitto_sub_subscriber(h):
    node = unique("dashboard/setpoint")
    client_id = unique("sub")
    alice = await h.online("alice", plugins=["xep_0060"])
    await alice.plugin["xep_0060"].create_node(PUBSUB, node)
    sub = asyncio.ensure_future(mosquitto("mosquitto_sub", jid("bob"), USERS["bob"], "-t", node, "-i", client_id,
                                          "-q", "1", "-v", "-C", "1", "-W", "20"))
    await until_subscribed(alice, node, f"{jid('bob')}/mqtt/{client_id}")

    message = ET.Element("{%s}message" % MQTT_NS)
    message.text = "19.0"
    await alice.plugin["xep_0060"].publish(PUBSUB, node, payload=message)

    code, out, err = await sub
    assert code == 0, (out, err)
    assert out.strip() == f"{node} 19.0"


@run()
async def test_mqtt5_wrong_password_is_refused(h):
    code, out, err = await mosquitto("mosquitto_pub", jid("alice"), "wrong-" + USERS["alice"], "-t", unique("x"), "-m", "1")
    assert code != 0
    assert "bad user name or password" in err.lower(), err


@run()
async def test_xep0060_7_1_3_1_a_topic_the_account_may_not_publish_to_is_refused_over_mqtt(h):
    node = unique("alice/only")
    alice = await h.online("alice", plugins=["xep_0060"])
    await alice.plugin["xep_0060"].create_node(PUBSUB, node)  # publish_model 'publishers': alice only

    code, out, err = await mosquitto("mosquitto_pub", jid("bob"), USERS["bob"], "-t", node, "-m", "no", "-q", "1", "-d")
    assert "received PUBACK (Mid: 1, RC:135)" in out, (code, out, err)  # 0x87 Not authorized
    items = await alice.plugin["xep_0060"].get_items(PUBSUB, node)
    assert len(items["pubsub"]["items"]) == 0
