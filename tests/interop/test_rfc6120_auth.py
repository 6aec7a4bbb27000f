"""RFC 6120 stream negotiation (STARTTLS, SASL, bind) and XEP-0368 direct TLS, with slixmpp."""
import ssl

import pytest

from xmpp_helpers import EventWaiter, Harness, LoginFailed, jid, run, unique


def is_tls(c):
    return isinstance(c.socket, (ssl.SSLSocket, ssl.SSLObject))


@run()
async def test_rfc6120_scram_sha_256_over_starttls(h: Harness):
    c = h.client("alice", mech="SCRAM-SHA-256")
    await h.login(c)
    assert c["feature_mechanisms"].mech.name == "SCRAM-SHA-256"
    assert is_tls(c), "stream must be TLS after STARTTLS"
    assert c.boundjid.bare == jid("alice")
    assert c.boundjid.resource


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1", "SCRAM-SHA-512", "PLAIN"])
@run()
async def test_rfc6120_sasl_mechanism_over_starttls(h: Harness, mech):
    c = h.client("bob", mech=mech)
    await h.login(c)
    assert c["feature_mechanisms"].mech.name == mech
    assert is_tls(c)
    assert c.boundjid.bare == jid("bob")


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "PLAIN"])
@run()
async def test_rfc6120_6_4_5_wrong_password_fails(h: Harness, mech):
    c = h.client("alice", password="not-the-password", mech=mech)
    failed = []
    c.add_event_handler("failed_auth", failed.append)
    with pytest.raises(LoginFailed) as e:
        await h.login(c)
    assert failed, f"expected a failed_auth event, got {e.value}"
    # RFC 6120 6.5.10: <not-authorized/> for wrong credentials.
    assert failed[0]["condition"] == "not-authorized"


@run()
async def test_rfc6120_default_mechanism_negotiation_logs_in(h: Harness):
    """No forced mechanism: slixmpp walks its own preference list (it first tries -PLUS with
    tls-unique, which the server refuses on TLS 1.3) and must still end up with a session."""
    c = h.client("bob")
    await h.login(c)
    assert c.boundjid.bare == jid("bob")


@run()
async def test_xep0368_direct_tls_login(h: Harness):
    c = h.client("alice", mech="SCRAM-SHA-256")
    await h.login(c, direct_tls=True)
    assert is_tls(c)
    assert "starttls" not in c.features, "no STARTTLS on a direct TLS stream"
    assert c["feature_mechanisms"].mech.name == "SCRAM-SHA-256"
    assert c.boundjid.bare == jid("alice")


@run()
async def test_rfc6120_7_7_2_2_resource_conflict_disconnects_first_session(h: Harness):
    resource = unique("conflict")
    first = await h.online("dave", resource=resource)
    stream_error = EventWaiter(first, "stream_error")
    disconnected = EventWaiter(first, "disconnected")
    second = h.client("dave", resource=resource, mech="SCRAM-SHA-256")
    await h.login(second)
    assert second.boundjid.full == jid("dave", resource)
    error = await stream_error.wait()
    assert error["condition"] == "conflict"
    await disconnected.wait()
