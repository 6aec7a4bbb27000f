"""XEP-0363 HTTP file upload with slixmpp's xep_0363 plugin against the upload plugin (upload.<domain>)."""
import io

import aiohttp
import pytest
from slixmpp.exceptions import IqError

from xmpp_helpers import DOMAIN, Harness, run, unique

SERVICE = f"upload.{DOMAIN}"
UPLOAD = ["xep_0004", "xep_0030", "xep_0363"]
NS = "urn:xmpp:http:upload:0"


async def discover(c):
    """XEP-0363 §3 as xep_0363's find_upload_service does it (disco#items of the domain, then disco#info of each
    item: identity store/file and the feature), done here because slixmpp 1.8.3's get_info_from_domain hands
    coroutines to asyncio.wait, which Python 3.11 refuses. Returns the service's disco#info and max-file-size."""
    items = (await c["xep_0030"].get_items(jid=DOMAIN, local=False, timeout=5))["disco_items"]["items"]
    for item_jid, _node, _name in items:
        try:
            info = (await c["xep_0030"].get_info(jid=item_jid, local=False, timeout=5))["disco_info"]
        except IqError:
            continue  # an item that cannot answer now (a component not connected) is not the upload service
        if any(cat == "store" and typ == "file" for cat, typ, _l, _n in info["identities"]) and NS in info["features"]:
            forms = [f["values"] for f in info.iterables if f["values"].get("FORM_TYPE") == [NS]]
            return item_jid, int(forms[0]["max-file-size"])
    return None, None


@run()
async def test_xep0363_3_service_found_by_disco_with_max_file_size(h: Harness):
    c = await h.online("alice", plugins=UPLOAD, presence=False)
    service, max_size = await discover(c)
    assert service == SERVICE
    assert max_size > 0


@run()
async def test_xep0363_4_6_upload_file_then_get_it(h: Harness):
    c = await h.online("alice", plugins=UPLOAD, presence=False)
    body = (unique("content") + "\n").encode() * 100
    service, max_size = await discover(c)
    c["xep_0363"].upload_service, c["xep_0363"].max_file_size = service, max_size
    url = await c["xep_0363"].upload_file("notes.txt", size=len(body), content_type="text/plain",
                                         input_file=io.BytesIO(body), timeout=10)
    assert url.startswith("http") and url.endswith("/notes.txt")
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as r:
            assert r.status == 200
            assert await r.read() == body
            assert r.headers["Content-Type"].startswith("text/plain")
            assert r.headers["X-Content-Type-Options"] == "nosniff"
        # §6: the slot is used; putting again is refused
        async with http.put(url, data=b"x" * len(body)) as again:
            assert again.status >= 400


@run()
async def test_xep0363_5_file_too_large(h: Harness):
    c = await h.online("alice", plugins=UPLOAD, presence=False)
    with pytest.raises(IqError) as e:
        await c["xep_0363"].request_slot(SERVICE, "huge.bin", 10**12, timeout=5)
    err = e.value.iq["error"]
    assert err["condition"] == "not-acceptable"
    assert err["type"] == "modify"
    too_large = err.xml.find(f"{{{NS}}}file-too-large")
    assert too_large is not None
    assert int(too_large.find(f"{{{NS}}}max-file-size").text) > 0
