"""File transfer between two slixmpp clients: XEP-0065 SOCKS5 bytestreams through the proxy65 plugin (proxy.<domain>,
the harness's PROXY65_PORT) with slixmpp's xep_0065, and XEP-0047 in-band bytestreams routed by the server with
slixmpp's xep_0047."""
import asyncio
import os

from xmpp_helpers import DOMAIN, HOST, PORT, WAIT, Harness, run

PROXY = f"proxy.{DOMAIN}"
PROXY_PORT = int(os.environ.get("XMPP_PROXY65_PORT", str(PORT + 2555)))
S5B = ["xep_0030", "xep_0065"]
IBB = ["xep_0030", "xep_0047"]


async def received(client, event, size):
    """Collects what `event` delivers on `client` until `size` bytes came; returns a future of the bytes."""
    data = bytearray()
    done = asyncio.get_running_loop().create_future()

    def on(payload):
        data.extend(payload)
        if len(data) >= size and not done.done():
            done.set_result(bytes(data))

    client.add_event_handler(event, on)
    return done


@run()
async def test_xep0065_4_proxy_discovered_with_its_streamhost(h: Harness):
    c = await h.online("alice", plugins=S5B, presence=False)
    proxies = await c["xep_0065"].discover_proxies(timeout=WAIT)
    found = {str(j): address for j, address in proxies.items()}
    assert PROXY in found
    host, port = found[PROXY]
    assert host == HOST
    assert int(port) == PROXY_PORT


@run()
async def test_xep0065_6_a_file_goes_through_the_proxy(h: Harness):
    alice = await h.online("alice", plugins=S5B)
    bob = await h.online("bob", plugins=S5B)
    bob["xep_0065"].auto_accept = True
    payload = os.urandom(2 * 1024 * 1024)
    got = await received(bob, "socks5_data", len(payload))
    # §6.3: discovery, the request to the Target (which connects to the proxy), the Requester's own connection, activation
    sock = await alice["xep_0065"].handshake(bob.boundjid, timeout=WAIT)
    assert sock is not None, "the bytestream was not established through the proxy"
    await sock.write(payload)
    assert await asyncio.wait_for(got, WAIT * 3) == payload
    # the Requester closes its connection: the proxy ends the relay and the Target's connection closes too
    closed = asyncio.get_running_loop().create_future()
    bob.add_event_handler("socks5_closed", lambda exc: closed.done() or closed.set_result(True))
    sock.transport.close()  # (slixmpp 1.8's XEP_0065.close() calls a close() its protocol objects lack)
    assert await asyncio.wait_for(closed, WAIT)


@run()
async def test_xep0047_a_file_goes_in_band_between_two_clients(h: Harness):
    alice = await h.online("alice", plugins=IBB)
    bob = await h.online("bob", plugins=IBB)
    bob["xep_0047"].auto_accept = True
    loop = asyncio.get_running_loop()
    incoming = loop.create_future()
    bob.add_event_handler("ibb_stream_start", lambda s: incoming.done() or incoming.set_result(s))
    stream = await alice["xep_0047"].open_stream(bob.boundjid, block_size=4096, timeout=WAIT)
    target = await asyncio.wait_for(incoming, WAIT)
    payload = os.urandom(100 * 1024)
    gathering = asyncio.ensure_future(target.gather(timeout=WAIT * 3))
    await stream.sendall(payload, timeout=WAIT)  # §2.2: each <data/> IQ acknowledged before the next
    await stream.close(timeout=WAIT)  # §2.3
    assert await gathering == payload
