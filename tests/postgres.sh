#!/usr/bin/env bash
# A throwaway PostgreSQL server for the persistence tests (Debian's postgresql package), on loopback only.
#
#   tests/postgres.sh start   initdb into .work/pg (first time), start, create database "actors"; prints the connection string
#   tests/postgres.sh stop    stop it
#   tests/postgres.sh url     print the connection string of the running server
#
# Port: ACTORS_PG_PORT, else the first free one from 25432. initdb refuses to run as root, so as root the server
# runs as the "postgres" user (created if missing). Folder: ACTORS_PG_DIR (the cluster harness keeps its own inside
# XMPP_WORKDIR), else .work/pg.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGDIR="${ACTORS_PG_DIR:-$ROOT/.work/pg}"
DATA="$PGDIR/data"
BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
[ -x "$BIN/initdb" ] || { echo "postgres.sh: PostgreSQL not installed (apt-get install -y postgresql)" >&2; exit 1; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

url() {
  local port; port="$(cat "$PGDIR/port")"
  echo "Host=127.0.0.1;Port=$port;Database=actors;Username=actors;Password=actors"
}

running() { [ -f "$PGDIR/port" ] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

case "${1:-}" in
  start)
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then useradd --system --home-dir /var/lib/postgresql postgres; fi
    mkdir -p "$PGDIR"
    [ "$(id -u)" = 0 ] && chown postgres "$PGDIR"
    if running; then url; exit 0; fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
      pwfile="$PGDIR/pw"; echo actors > "$pwfile"; [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
      as_pg "$BIN/initdb" -D "$DATA" -U actors --pwfile="$pwfile" -A scram-sha-256 --no-sync >"$PGDIR/initdb.log" 2>&1 \
        || { cat "$PGDIR/initdb.log" >&2; exit 1; }
    fi
    port="${ACTORS_PG_PORT:-}"
    if [ -z "$port" ]; then
      port=25432
      while ! port_free "$port"; do port=$((port + 1)); [ "$port" -lt 25500 ] || { echo "postgres.sh: no free port" >&2; exit 1; }; done
    fi
    echo "$port" > "$PGDIR/port"
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$PGDIR/server.log" -w -t 60 \
      -o "-k /tmp -h 127.0.0.1 -p $port -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null \
      || { tail -n 20 "$PGDIR/server.log" >&2; exit 1; }
    PGPASSWORD=actors "$BIN/psql" -h 127.0.0.1 -p "$port" -U actors -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='actors'" | grep -q 1 \
      || PGPASSWORD=actors "$BIN/psql" -h 127.0.0.1 -p "$port" -U actors -d postgres -qc "CREATE DATABASE actors" >/dev/null
    url
    ;;
  stop)
    if running; then as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; fi
    ;;
  url)
    running || { echo "postgres.sh: not running" >&2; exit 1; }
    url
    ;;
  *)
    echo "usage: tests/postgres.sh start|stop|url" >&2; exit 2
    ;;
esac
