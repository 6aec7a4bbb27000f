#!/usr/bin/env bash
# Interop with xmpp.js: installs @xmpp/client (pinned in package.json) from npm, starts a private server through
# tests/harness/server.sh (TLS required, port XMPPJS_PORT, default 35226), adds the accounts, runs `node --test`,
# stops the server. Also logs in over RFC 7395 WebSocket (the harness's WS_URL), from node and from a page in
# Debian's headless Chromium (browser.test.mjs, puppeteer-core; skipped when /usr/bin/chromium is absent), and
# over XEP-0206 BOSH (the harness's BOSH_URL) with Strophe.js in the same browser. Exits with node's status.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
export XMPP_HOST="${XMPP_HOST:-127.0.0.1}" XMPP_DOMAIN="${XMPP_DOMAIN:-localhost}"
export XMPP_PORT="${XMPPJS_PORT:-35226}" XMPP_DIRECT_TLS_PORT="$(( ${XMPPJS_PORT:-35226} + 1 ))"
export XMPP_WORKDIR="$ROOT/.work/interop-xmppjs" XMPP_TLS_REQUIRED=true
command -v node >/dev/null || { echo "run.sh: node is needed (Node.js 20)" >&2; exit 2; }
if [ ! -d "$HERE/node_modules/@xmpp/client" ] || [ ! -d "$HERE/node_modules/puppeteer-core" ] || [ ! -d "$HERE/node_modules/strophe.js" ]; then
  (cd "$HERE" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
rm -rf "$XMPP_WORKDIR"
trap '"$ROOT/tests/harness/server.sh" stop || true' EXIT
"$ROOT/tests/harness/server.sh" start
"$ROOT/tests/harness/server.sh" adduser jsalice jsalice-pw
"$ROOT/tests/harness/server.sh" adduser jsbob jsbob-pw
WS_URL="$("$ROOT/tests/harness/server.sh" info | sed -n 's/^WS_URL=//p')"
BOSH_URL="$("$ROOT/tests/harness/server.sh" info | sed -n 's/^BOSH_URL=//p')"
export WS_URL BOSH_URL
cd "$HERE"
# Node 20 has its WebSocket client (what @xmpp/websocket uses) behind a flag; later versions have it on
ws_flag=""
node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null || ws_flag="--experimental-websocket"
NODE_TLS_REJECT_UNAUTHORIZED=0 NODE_NO_WARNINGS=1 node $ws_flag --test --test-reporter=tap interop.test.mjs browser.test.mjs
