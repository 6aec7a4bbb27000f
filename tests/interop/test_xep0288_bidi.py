"""XEP-0288 bidirectional server-to-server streams with Prosody 0.12 (its own mod_s2s_bidi) as the peer.

run.sh gives the private Prosody a second VirtualHost, PROSODY_BIDI_DOMAIN (bidi.prosody.test), so that this test has a
domain pair no other test connected, and has the Actors instance (FED_DOMAIN) trust Prosody's self-signed certificate:
Prosody's stream to it authenticates with SASL EXTERNAL (XEP-0178), needing no dialback connection back. Prosody opens
the stream (its user writes first), asks for bidi (Actors offers it after TLS), and Actors' answer must come back on that
same TCP connection: counted in /proc/net/tcp before and after, one new connection towards Actors' s2s port and none
towards Prosody's. ejabberd 23.01 (Debian's) has no XEP-0288, so it is not a peer here.
"""
import asyncio
import os

import pytest
import slixmpp

from xmpp_helpers import USERS, EventWaiter, Harness, run, unique

FED_DOMAIN = os.environ.get("FED_DOMAIN")
FED_PORT = int(os.environ.get("FED_PORT", "0"))
FED_S2S_PORT = int(os.environ.get("FED_S2S_PORT", "0"))
BIDI_DOMAIN = os.environ.get("PROSODY_BIDI_DOMAIN")
FED_HOST = os.environ.get("XMPP_HOST", "127.0.0.1")
PROSODY_HOST = os.environ.get("PROSODY_HOST", "127.0.0.2")
PROSODY_C2S_PORT = int(os.environ.get("PROSODY_C2S_PORT", "0"))
PROSODY_S2S_PORT = int(os.environ.get("PROSODY_S2S_PORT", "0"))

pytestmark = pytest.mark.skipif(not (FED_DOMAIN and BIDI_DOMAIN), reason="no Prosody peer (run.sh starts one when `prosody` is installed)")


def _established_to(host: str, port: int) -> int:
    """Established TCP connections (IPv4) whose remote end is host:port: the initiating side's sockets."""
    want = "%08X:%04X" % (int.from_bytes(bytes(int(p) for p in host.split(".")), "little"), port)
    count = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[2] == want and fields[3] == "01":  # rem_address, st == TCP_ESTABLISHED
                count += 1
    return count


def _client(h: Harness, jid: str, password: str):
    c = slixmpp.ClientXMPP(jid, password)
    c["feature_mechanisms"].unencrypted_plain = True
    c.use_ipv6 = False
    c.use_aiodns = False
    c.whitespace_keepalive = False
    h.clients.append(c)
    return c


@run(timeout=60)
async def test_xep0288_2_2_one_connection_carries_both_directions(h: Harness):
    bob = _client(h, f"bob@{FED_DOMAIN}/{unique('a')}", USERS["bob"])
    await h.login(bob, port=FED_PORT, disable_starttls=True)
    alice = _client(h, f"alice@{BIDI_DOMAIN}/{unique('p')}", "alice-pw")
    started = asyncio.get_running_loop().create_future()
    alice.add_event_handler("session_start", lambda e: started.done() or started.set_result(True))
    alice.connect((PROSODY_HOST, PROSODY_C2S_PORT), disable_starttls=True)
    await asyncio.wait_for(started, 20)

    to_actors_before = _established_to(FED_HOST, FED_S2S_PORT)
    to_prosody_before = _established_to(PROSODY_HOST, PROSODY_S2S_PORT)

    # Prosody opens the stream for bidi.prosody.test -> actors.test (TLS, <bidi/>, SASL EXTERNAL)
    to_bob = EventWaiter(bob, "message", lambda m: m["body"] == "over bidi?")
    alice.send_message(mto=bob.boundjid, mbody="over bidi?", mtype="chat")
    m = await to_bob.wait(timeout=20)
    assert m["from"] == alice.boundjid
    # the answer goes back over Prosody's own stream (XEP-0288 §2.2), and a second one too
    for body in ("yes, the same one", "and again"):
        to_alice = EventWaiter(alice, "message", lambda m, b=body: m["body"] == b)
        bob.send_message(mto=alice.boundjid, mbody=body, mtype="chat")
        m = await to_alice.wait(timeout=20)
        assert m["from"] == bob.boundjid

    assert _established_to(FED_HOST, FED_S2S_PORT) == to_actors_before + 1, "Prosody opened one stream to Actors"
    assert _established_to(PROSODY_HOST, PROSODY_S2S_PORT) == to_prosody_before, "Actors opened no stream to Prosody"
