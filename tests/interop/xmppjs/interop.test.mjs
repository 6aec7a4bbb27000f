// Interop with xmpp.js (@xmpp/client): STARTTLS, SASL, bind, roster, ping and a chat message between two
// clients, against a server started by run.sh through tests/harness/server.sh.
import { test } from "node:test";
import assert from "node:assert/strict";
import { client, xml } from "@xmpp/client";

const PORT = process.env.XMPP_PORT ?? "35226";
const DOMAIN = process.env.XMPP_DOMAIN ?? "localhost";
const HOST = process.env.XMPP_HOST ?? "127.0.0.1";
// RFC 7395: the harness's WebSocket endpoint (server.sh info: WS_URL), plain HTTP behind a trusted proxy setting
const WS_URL = process.env.WS_URL;

function connect(username, password, resource, service = `xmpp://${HOST}:${PORT}`) {
  // the server's certificate is self-signed: STARTTLS without verification, as a test against localhost
  const c = client({ service, domain: DOMAIN, username, password, resource });
  c.on("error", () => {});
  return c;
}

const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))]);

test("rfc6120_starttls_sasl_bind_and_rfc6121_chat_between_two_xmppjs_clients", async () => {
  const a = connect("jsalice", "jsalice-pw", "a");
  const b = connect("jsbob", "jsbob-pw", "b");
  try {
    const gotMessage = new Promise((res) => b.on("stanza", (s) => { if (s.is("message")) res(s); }));
    const jidA = await withTimeout(a.start(), 15000, "alice online");
    await withTimeout(b.start(), 15000, "bob online");
    assert.equal(jidA.toString(), `jsalice@${DOMAIN}/a`);
    await b.send(xml("presence"));

    const roster = await a.iqCaller.request(xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })));
    assert.equal(roster.getChild("query").attrs.xmlns, "jabber:iq:roster");

    const pong = await a.iqCaller.request(xml("iq", { type: "get", to: DOMAIN }, xml("ping", { xmlns: "urn:xmpp:ping" })));
    assert.equal(pong.attrs.type, "result");

    await a.send(xml("message", { to: `jsbob@${DOMAIN}`, type: "chat", id: "js1" }, xml("body", {}, "hello from xmpp.js")));
    const m = await withTimeout(gotMessage, 10000, "message");
    assert.equal(m.getChildText("body"), "hello from xmpp.js");
    assert.equal(m.attrs.from, `jsalice@${DOMAIN}/a`);
  } finally {
    await Promise.allSettled([a.stop(), b.stop()]);
  }
});

test("rfc6120_6_5_10_wrong_password_is_not_authorized_for_xmppjs", async () => {
  const c = connect("jsalice", "wrong-password", "w");
  try {
    await assert.rejects(withTimeout(c.start(), 15000, "failed login"), (err) => {
      assert.equal(err.condition, "not-authorized");
      return true;
    });
  } finally {
    await Promise.allSettled([c.stop()]);
  }
});

test("rfc7395_websocket_sasl_bind_and_chat_with_a_tcp_xmppjs_client", { skip: WS_URL ? false : "WS_URL not set" }, async () => {
  const w = connect("jsalice", "jsalice-pw", "ws", WS_URL);
  const t = connect("jsbob", "jsbob-pw", "tcp");
  try {
    const atTcp = new Promise((res) => t.on("stanza", (s) => { if (s.is("message")) res(s); }));
    const atWs = new Promise((res) => w.on("stanza", (s) => { if (s.is("message")) res(s); }));
    const jidW = await withTimeout(w.start(), 15000, "websocket client online");
    await withTimeout(t.start(), 15000, "tcp client online");
    assert.equal(jidW.toString(), `jsalice@${DOMAIN}/ws`);

    const pong = await w.iqCaller.request(xml("iq", { type: "get", to: DOMAIN }, xml("ping", { xmlns: "urn:xmpp:ping" })));
    assert.equal(pong.attrs.type, "result");

    await w.send(xml("message", { to: `jsbob@${DOMAIN}/tcp`, type: "chat", id: "ws1" }, xml("body", {}, "hello over websocket")));
    const m = await withTimeout(atTcp, 10000, "message at the tcp client");
    assert.equal(m.getChildText("body"), "hello over websocket");
    assert.equal(m.attrs.from, `jsalice@${DOMAIN}/ws`);

    await t.send(xml("message", { to: `jsalice@${DOMAIN}/ws`, type: "chat", id: "tcp1" }, xml("body", {}, "hello over tcp")));
    const back = await withTimeout(atWs, 10000, "message at the websocket client");
    assert.equal(back.getChildText("body"), "hello over tcp");
  } finally {
    await Promise.allSettled([w.stop(), t.stop()]);
  }
});
