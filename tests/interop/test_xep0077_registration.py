"""XEP-0077 in-band registration and RFC 6120 PLAIN without TLS, against the second server
instance (XMPP_REGISTRATION=true, XMPP_TLS_REQUIRED=false) that run.sh starts on INTEROP_OPEN_PORT."""
import asyncio
import ssl

import pytest
from slixmpp.exceptions import IqError

from xmpp_helpers import OPEN_PORT, Harness, LoginFailed, jid, run, unique

pytestmark = pytest.mark.skipif(not OPEN_PORT, reason="INTEROP_OPEN_PORT not set (second server not started)")


def registering_client(h: Harness, user, password):
    """A client that registers `user` in band before logging in (slixmpp's 'register' event)."""
    c = h.client(user, password=password, mech="SCRAM-SHA-256", plugins=["xep_0030", "xep_0004", "xep_0066", "xep_0077"])
    c["xep_0077"].force_registration = True
    # slixmpp 1.8.3's XMLStream.send() holds back every stanza but bind/session IQs until
    # session_start, which would queue the pre-authentication jabber:iq:register IQs forever.
    c._always_send_everything = True
    outcome = asyncio.get_running_loop().create_future()

    async def on_register(form):
        assert "username" in form["register"]["fields"] or form["register"]["username"] is not None
        iq = c.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = user
        iq["register"]["password"] = password
        try:
            await iq.send(timeout=5)
            outcome.set_result(None)
        except IqError as e:
            outcome.set_result(e.iq)
            c.disconnect()
        except Exception as e:  # noqa: BLE001
            outcome.set_result(e)
            c.disconnect()

    c.add_event_handler("register", on_register)
    return c, outcome


@run()
async def test_xep0077_register_then_login(h: Harness):
    user, password = unique("reg").lower(), unique("secret")
    c, outcome = registering_client(h, user, password)
    # slixmpp registers on the register stream feature, then authenticates as the new account.
    await h.login(c, port=OPEN_PORT)
    assert await asyncio.wait_for(outcome, 5) is None
    assert isinstance(c.socket, (ssl.SSLSocket, ssl.SSLObject))
    assert c.boundjid.bare == jid(user)

    # A fresh client logs in with the new account.
    again = h.client(user, password=password, mech="SCRAM-SHA-256")
    await h.login(again, port=OPEN_PORT)
    assert again.boundjid.bare == jid(user)


@run()
async def test_xep0077_3_1_register_existing_username_conflict(h: Harness):
    c, outcome = registering_client(h, "alice", unique("other"))
    with pytest.raises(LoginFailed):
        await h.login(c, port=OPEN_PORT)
    err = await asyncio.wait_for(outcome, 5)
    assert err is not None and not isinstance(err, Exception), f"expected an IQ error, got {err!r}"
    assert err["type"] == "error"
    assert err["error"]["condition"] == "conflict"


@run()
async def test_rfc6120_6_3_plain_without_tls_when_tls_not_required(h: Harness):
    c = h.client("bob", mech="PLAIN", plugin_config={"feature_mechanisms": {"unencrypted_plain": True}})
    await h.login(c, port=OPEN_PORT, force_starttls=False, disable_starttls=True)
    assert not isinstance(c.socket, (ssl.SSLSocket, ssl.SSLObject))
    assert c["feature_mechanisms"].mech.name == "PLAIN"
    assert c.boundjid.bare == jid("bob")
