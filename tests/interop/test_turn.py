"""The built-in STUN/TURN server (plugin turn, TURN_PORT of `server.sh info`: UDP and TCP on HOST) with coturn's
clients (Debian package coturn), using the TURN credentials a slixmpp client gets over XMPP (XEP-0215, plugin
extdisco): the way a Jingle client finds and uses the relay.
"""
import asyncio
import os
import shutil
import xml.etree.ElementTree as ET

import pytest

from xmpp_helpers import DOMAIN, HOST, PORT, Harness, run

TURN_PORT = int(os.environ.get("XMPP_TURN_PORT", str(PORT - 1744)))
EXTDISCO = "urn:xmpp:extdisco:2"

pytestmark = pytest.mark.skipif(shutil.which("turnutils_uclient") is None, reason="coturn's clients are not installed")


async def tool(program, *args, timeout=60):
    proc = await asyncio.create_subprocess_exec(program, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        raise
    return proc.returncode, out.decode() + err.decode()


async def services(client):
    iq = client.make_iq_get(ito=DOMAIN)
    iq.append(ET.Element("{%s}services" % EXTDISCO))
    reply = await iq.send(timeout=10)
    return [s.attrib for s in reply.xml.find("{%s}services" % EXTDISCO).findall("{%s}service" % EXTDISCO)]


@run()
async def test_xep0215_lists_the_built_in_stun_and_turn_server_on_turn_port(h: Harness):
    alice = await h.online("alice", presence=False)
    listed = {(s["type"], s.get("transport")): s for s in await services(alice)}
    for kind in ("stun", "turn"):
        for transport in ("udp", "tcp"):
            s = listed[(kind, transport)]
            assert s["host"] == HOST and int(s["port"]) == TURN_PORT
    assert listed[("turn", "udp")]["username"].endswith(":alice@" + DOMAIN)
    assert "password" not in listed[("stun", "udp")]


@run()
async def test_rfc8489_turnutils_stunclient_binding_on_turn_port(h: Harness):
    code, out = await tool("turnutils_stunclient", "-p", str(TURN_PORT), HOST)
    assert code == 0, out
    assert "UDP reflexive addr: " in out


@run(timeout=120)
async def test_rfc8656_turnutils_uclient_relays_with_credentials_from_xep0215(h: Harness):
    alice = await h.online("alice", presence=False)
    turn = next(s for s in await services(alice) if s["type"] == "turn" and s.get("transport") == "udp")
    for transport in ([], ["-t"]):
        code, out = await tool("turnutils_uclient", *transport, "-y", "-c", "-m", "2", "-n", "20", "-l", "80",
                               "-p", str(TURN_PORT), "-u", turn["username"], "-w", turn["password"], "-e", HOST, HOST,
                               timeout=90)
        assert code == 0, out
        assert "tot_send_msgs=40, tot_recv_msgs=40" in out, out
        assert "Total lost packets 0 (0.000000%)" in out, out


TURNS_PORT = int(os.environ.get("XMPP_TURNS_PORT", str(PORT - 1901)))


@run(timeout=180)
async def test_rfc6062_and_rfc8656_tls_turnutils_uclient_relays_over_tcp_relays_and_turns(h: Harness):
    """RFC 6062 TCP relays (uclient -T) on TURN_PORT, and TURN over TLS (-S; -S -T) on TURNS_PORT, which XEP-0215 lists
    as turns over tcp, with the credentials it hands out."""
    alice = await h.online("alice", presence=False)
    listed = {(s["type"], s.get("transport")): s for s in await services(alice)}
    turns = listed[("turns", "tcp")]
    assert turns["host"] == HOST and int(turns["port"]) == TURNS_PORT
    for flags, port in ((["-T"], TURN_PORT), (["-S", "-t"], TURNS_PORT), (["-S", "-T"], TURNS_PORT)):
        code, out = await tool("turnutils_uclient", *flags, "-y", "-c", "-m", "2", "-n", "20", "-l", "80",
                               "-p", str(port), "-u", turns["username"], "-w", turns["password"], "-e", HOST, HOST,
                               timeout=90)
        assert code == 0, out
        assert "tot_send_msgs=40, tot_recv_msgs=40" in out, out
        assert "Total lost packets 0 (0.000000%)" in out, out
