# Sourced by the benchmark scripts that run a peer server (Prosody, ejabberd) beside Actors (filetransfer.sh,
# mobile.sh, mucfanout.sh): waiting for its ports, and stopping it by its pid file.

# peer_wait SECONDS HOST PORT...: succeeds once every PORT on HOST accepts a connection; fails after SECONDS.
peer_wait() {
  local deadline=$((SECONDS + $1)) host="$2" port ready
  shift 2
  while [ "$SECONDS" -lt "$deadline" ]; do
    ready=1
    for port in "$@"; do (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null || { ready=0; break; }; done
    [ "$ready" -eq 1 ] && return 0
    sleep 0.2
  done
  return 1
}

# peer_stop PIDFILE SECONDS: TERM to the process it names, up to SECONDS for it to exit, then KILL; the file removed.
peer_stop() {
  local f="$1" deadline=$((SECONDS + $2)) pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  kill -TERM "$pid" 2>/dev/null || true
  while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$f"
}
