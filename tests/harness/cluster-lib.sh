# Sourced by the harness scripts that run their own servers (cluster-node-kill.sh, cluster-rolling-restart.sh, soak.sh)
# after they set CLUSTER_SCRIPT (their name) and CLUSTER_PORT (their default XMPP_PORT): a harness cluster's
# environment (3 nodes, or CLUSTER_NODES; node I's c2s port is XMPP_PORT+2(I-1)), its work folder
# ($ROOT/.work/NAME-PORT unless XMPP_WORKDIR is set), and the exit trap that stops it (the work folder removed when the
# script set status=0 and XMPP_KEEP_LOGS is unset, kept with its logs otherwise).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SERVER="$ROOT/tests/harness/server.sh"
# CLUSTER_NODES (default 3): 1 is one server (soak.sh)
if [ "${CLUSTER_NODES:-3}" -gt 1 ]; then export XMPP_NODES="${CLUSTER_NODES:-3}"; else unset XMPP_NODES; fi
export XMPP_TLS_REQUIRED=false XMPP_HOST="${XMPP_HOST:-127.0.0.1}" XMPP_DOMAIN="${XMPP_DOMAIN:-localhost}"
# the defaults keep every port of every node below Linux's ephemeral range (32768-60999): a node restarted under
# traffic must bind its ports again, and an outgoing connection (another node retrying it, a client, the journal's
# pool) may hold one of them as its local port meanwhile; CI once lost a run to its Akka.Remote port taken that way
export XMPP_PORT="${XMPP_PORT:-$CLUSTER_PORT}"
export XMPP_WORKDIR="${XMPP_WORKDIR:-$ROOT/.work/$CLUSTER_SCRIPT-$XMPP_PORT}"

status=1
cleanup() {
  "$SERVER" stop >/dev/null 2>&1 || true
  if [ "$status" -eq 0 ] && [ -z "${XMPP_KEEP_LOGS:-}" ]; then rm -rf "$XMPP_WORKDIR"; else echo "$CLUSTER_SCRIPT.sh: logs kept in $XMPP_WORKDIR" >&2; fi
}
trap cleanup EXIT
