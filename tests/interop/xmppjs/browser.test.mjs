// A browser logs in over RFC 7395 WebSocket: xmpp.js (its browser bundle, @xmpp/client/dist/xmpp.min.js) in Debian's
// headless Chromium (/usr/bin/chromium, driven by puppeteer-core, which downloads no browser) chats with an xmpp.js
// client over TCP, against the server run.sh started through tests/harness/server.sh (WS_URL from `server.sh info`).
// Skipped only when the Chromium binary is absent.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { client, xml } from "@xmpp/client";

const require = createRequire(import.meta.url);
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const PORT = process.env.XMPP_PORT ?? "35226";
const DOMAIN = process.env.XMPP_DOMAIN ?? "localhost";
const HOST = process.env.XMPP_HOST ?? "127.0.0.1";
const WS_URL = process.env.WS_URL;
const BOSH_URL = process.env.BOSH_URL;

const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))]);

const skip = !existsSync(CHROMIUM) ? `${CHROMIUM} is not installed` : !WS_URL ? "WS_URL not set" : false;

test("rfc7395_browser_xmppjs_over_websocket_chats_with_a_tcp_client", { skip }, async () => {
  // the page comes from http://127.0.0.1 (a secure context: xmpp.js needs crypto.randomUUID), the library with it
  const page_ = "<!doctype html><title>xmpp.js over WebSocket</title><script src='/xmpp.min.js'></script>";
  const bundle = readFileSync(require.resolve("@xmpp/client/dist/xmpp.min.js"));
  const web = createServer((req, res) => {
    if (req.url === "/xmpp.min.js") res.writeHead(200, { "content-type": "text/javascript" }).end(bundle);
    else res.writeHead(200, { "content-type": "text/html" }).end(page_);
  });
  await new Promise((res) => web.listen(0, "127.0.0.1", res));
  const puppeteer = (await import("puppeteer-core")).default;
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const tcp = client({ service: `xmpp://${HOST}:${PORT}`, domain: DOMAIN, username: "jsbob", password: "jsbob-pw", resource: "tcp" });
  tcp.on("error", () => {});
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${web.address().port}/`);
    // in the page: log in over WebSocket, then wait for one chat message and answer it
    const jid = await withTimeout(page.evaluate(async (service, domain) => {
      const c = window.XMPP.client({ service, domain, username: "jsalice", password: "jsalice-pw", resource: "browser" });
      window.received = new Promise((res) => c.on("stanza", (s) => {
        if (s.is("message") && s.getChildText("body")) {
          c.send(window.XMPP.xml("message", { to: s.attrs.from, type: "chat" }, window.XMPP.xml("body", {}, "echo: " + s.getChildText("body"))));
          res(s.getChildText("body"));
        }
      }));
      c.on("error", () => {});
      window.xmppClient = c;
      const address = await c.start();
      return address.toString();
    }, WS_URL, DOMAIN), 20000, "browser online");
    assert.equal(jid, `jsalice@${DOMAIN}/browser`);

    const atTcp = new Promise((res) => tcp.on("stanza", (s) => { if (s.is("message") && s.getChildText("body")) res(s); }));
    await withTimeout(tcp.start(), 15000, "tcp client online");
    await tcp.send(xml("message", { to: `jsalice@${DOMAIN}/browser`, type: "chat" }, xml("body", {}, "hello browser")));
    assert.equal(await withTimeout(page.evaluate(() => window.received), 10000, "message in the browser"), "hello browser");
    const echo = await withTimeout(atTcp, 10000, "echo at the tcp client");
    assert.equal(echo.getChildText("body"), "echo: hello browser");
    assert.equal(echo.attrs.from, `jsalice@${DOMAIN}/browser`);
    await page.evaluate(() => window.xmppClient.stop());
  } finally {
    await Promise.allSettled([tcp.stop(), browser.close(), new Promise((res) => web.close(res))]);
  }
});

// XEP-0206 BOSH from the browser with Strophe.js (its UMD bundle): a cross-origin page (CORS preflight), SASL,
// restart, bind, a chat message each way with an xmpp.js client over TCP.
const boshSkip = !existsSync(CHROMIUM) ? `${CHROMIUM} is not installed` : !BOSH_URL ? "BOSH_URL not set" : false;

test("xep0206_browser_strophejs_over_bosh_chats_with_a_tcp_client", { skip: boshSkip }, async () => {
  const html = "<!doctype html><title>Strophe.js over BOSH</title><script src='/strophe.js'></script>";
  const bundle = readFileSync(new URL("./node_modules/strophe.js/dist/strophe.umd.min.js", import.meta.url));
  const web = createServer((req, res) => {
    if (req.url === "/strophe.js") res.writeHead(200, { "content-type": "text/javascript" }).end(bundle);
    else res.writeHead(200, { "content-type": "text/html" }).end(html);
  });
  await new Promise((res) => web.listen(0, "127.0.0.1", res));
  const puppeteer = (await import("puppeteer-core")).default;
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const tcp = client({ service: `xmpp://${HOST}:${PORT}`, domain: DOMAIN, username: "jsbob", password: "jsbob-pw", resource: "tcp2" });
  tcp.on("error", () => {});
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${web.address().port}/`);
    const jid = await withTimeout(page.evaluate((service, domain) => new Promise((resolve, reject) => {
      const S = window.strophe ?? window;
      const conn = new S.Strophe.Connection(service);
      window.received = new Promise((res) => conn.addHandler((m) => {
        const body = m.getElementsByTagName("body")[0];
        if (body) {
          conn.send(S.$msg({ to: m.getAttribute("from"), type: "chat" }).c("body").t("echo: " + body.textContent));
          res(body.textContent);
        }
        return true;
      }, null, "message"));
      window.boshConnection = conn;
      conn.connect(`jsalice@${domain}/bosh`, "jsalice-pw", (status) => {
        if (status === S.Strophe.Status.CONNECTED) resolve(conn.jid);
        else if (status === S.Strophe.Status.AUTHFAIL || status === S.Strophe.Status.CONNFAIL) reject(new Error("strophe status " + status));
      });
    }), BOSH_URL, DOMAIN), 20000, "browser online over BOSH");
    assert.equal(jid, `jsalice@${DOMAIN}/bosh`);

    const atTcp = new Promise((res) => tcp.on("stanza", (s) => { if (s.is("message") && s.getChildText("body")) res(s); }));
    await withTimeout(tcp.start(), 15000, "tcp client online");
    await tcp.send(xml("message", { to: `jsalice@${DOMAIN}/bosh`, type: "chat" }, xml("body", {}, "hello bosh")));
    assert.equal(await withTimeout(page.evaluate(() => window.received), 10000, "message in the browser"), "hello bosh");
    const echo = await withTimeout(atTcp, 10000, "echo at the tcp client");
    assert.equal(echo.getChildText("body"), "echo: hello bosh");
    assert.equal(echo.attrs.from, `jsalice@${DOMAIN}/bosh`);
    await page.evaluate(() => window.boshConnection.disconnect());
  } finally {
    await Promise.allSettled([tcp.stop(), browser.close(), new Promise((res) => web.close(res))]);
  }
});
