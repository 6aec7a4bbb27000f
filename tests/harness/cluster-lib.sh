# Sourced by the cluster scripts (cluster-node-kill.sh, cluster-rolling-restart.sh) after they set CLUSTER_SCRIPT
# (their name) and CLUSTER_PORT (their default XMPP_PORT): a 3-node harness cluster's environment (node I's c2s port
# is XMPP_PORT+2(I-1)), its work folder ($ROOT/.work/NAME-PORT unless XMPP_WORKDIR is set), and the exit trap that
# stops it (the work folder removed when the script set status=0 and XMPP_KEEP_LOGS is unset, kept with its logs
# otherwise).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SERVER="$ROOT/tests/harness/server.sh"
export XMPP_NODES=3 XMPP_TLS_REQUIRED=false XMPP_HOST="${XMPP_HOST:-127.0.0.1}" XMPP_DOMAIN="${XMPP_DOMAIN:-localhost}"
export XMPP_PORT="${XMPP_PORT:-$CLUSTER_PORT}"
export XMPP_WORKDIR="${XMPP_WORKDIR:-$ROOT/.work/$CLUSTER_SCRIPT-$XMPP_PORT}"

status=1
cleanup() {
  "$SERVER" stop >/dev/null 2>&1 || true
  if [ "$status" -eq 0 ] && [ -z "${XMPP_KEEP_LOGS:-}" ]; then rm -rf "$XMPP_WORKDIR"; else echo "$CLUSTER_SCRIPT.sh: logs kept in $XMPP_WORKDIR" >&2; fi
}
trap cleanup EXIT
