# Sourced by the benchmark scripts that run a peer server (Prosody, ejabberd) beside Actors (filetransfer.sh,
# mobile.sh, mucfanout.sh, hostile.sh): waiting for its ports, stopping it by its pid file, its certificate, and where
# Debian's ejabberd keeps its Erlang libraries.

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

# peer_cert DIR DOMAIN: a self-signed certificate for DOMAIN in DIR (server.key, server.crt, and server.pem with both),
# unless DIR/server.pem is there already.
peer_cert() {
  [ -s "$1/server.pem" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$2" -keyout "$1/server.key" -out "$1/server.crt" >/dev/null 2>&1 \
    && cat "$1/server.crt" "$1/server.key" > "$1/server.pem"
}

# peer_ejabberd_libs: the ERL_LIBS to run Debian's ejabberd BEAM directly (EJABBERD_ERL_LIBS, else what ejabberdctl sets).
peer_ejabberd_libs() {
  echo "${EJABBERD_ERL_LIBS:-$(sed -n "s/^ERL_LIBS='\(.*\)'/\1/p" "$(command -v ejabberdctl)" | head -1)}"
}
