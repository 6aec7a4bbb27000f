#!/usr/bin/env bash
# Interop with xmpp.js: installs @xmpp/client (pinned in package.json) from npm, starts a private server through
# tests/harness/server.sh (TLS required, port XMPPJS_PORT, default 35226), adds the accounts, runs `node --test`,
# stops the server. Exits with node's status.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
export XMPP_HOST="${XMPP_HOST:-127.0.0.1}" XMPP_DOMAIN="${XMPP_DOMAIN:-localhost}"
export XMPP_PORT="${XMPPJS_PORT:-35226}" XMPP_DIRECT_TLS_PORT="$(( ${XMPPJS_PORT:-35226} + 1 ))"
export XMPP_WORKDIR="$ROOT/.work/interop-xmppjs" XMPP_TLS_REQUIRED=true
command -v node >/dev/null || { echo "run.sh: node is needed (Node.js 20)" >&2; exit 2; }
if [ ! -d "$HERE/node_modules/@xmpp/client" ]; then
  (cd "$HERE" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
rm -rf "$XMPP_WORKDIR"
trap '"$ROOT/tests/harness/server.sh" stop || true' EXIT
"$ROOT/tests/harness/server.sh" start
"$ROOT/tests/harness/server.sh" adduser jsalice jsalice-pw
"$ROOT/tests/harness/server.sh" adduser jsbob jsbob-pw
cd "$HERE"
NODE_TLS_REJECT_UNAUTHORIZED=0 NODE_NO_WARNINGS=1 node --test --test-reporter=tap interop.test.mjs
