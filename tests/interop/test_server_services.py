"""Server-answered IQs: XEP-0199 ping, XEP-0030 disco#info, RFC 6121 roster, RFC 6120 8.4 errors."""
import pytest
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

from xmpp_helpers import DOMAIN, Harness, run, unique


@run()
async def test_xep0199_ping_server(h: Harness):
    c = await h.online("alice", plugins=["xep_0199"], presence=False)
    rtt = await c["xep_0199"].ping(jid=DOMAIN, timeout=5)
    assert rtt is not None and rtt >= 0


@run()
async def test_xep0030_disco_info_server_lists_ping(h: Harness):
    c = await h.online("alice", plugins=["xep_0030"], presence=False)
    iq = await c["xep_0030"].get_info(jid=DOMAIN, local=False, timeout=5)
    info = iq["disco_info"]
    assert "urn:xmpp:ping" in info["features"]
    assert "http://jabber.org/protocol/disco#info" in info["features"]
    assert any(cat == "server" for cat, _type, _lang, _name in info["identities"]), info["identities"]


@run()
async def test_rfc6121_2_2_roster_get_empty(h: Harness):
    # dave: the one account no other test subscribes with or adds contacts to (they share one server)
    c = await h.online("dave", presence=False)
    iq = await c.get_roster(timeout=5)
    assert iq["type"] == "result"
    assert len(iq["roster"]["items"]) == 0


@run()
async def test_rfc6120_8_4_iq_unknown_namespace_service_unavailable(h: Harness):
    c = await h.online("alice", presence=False)
    iq = c.make_iq_get(ito=DOMAIN)
    iq.append(ET.Element("{urn:example:interop:" + unique("ns") + "}query"))
    with pytest.raises(IqError) as e:
        await iq.send(timeout=5)
    err = e.value.iq
    assert err["type"] == "error"
    assert err["error"]["condition"] == "service-unavailable"
    assert err["error"]["type"] == "cancel"
