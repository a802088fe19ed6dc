#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests, for local runs and CI without Docker.
#
#   postgres.sh install         install the server from apt if initdb/pg_ctl are missing (root)
#   postgres.sh start  [PORT]   fresh cluster on 127.0.0.1:PORT (default 15432), role+db arrears
#   postgres.sh stop   [PORT]   stop it (idempotent; the next start wipes its data)
#   postgres.sh restart [PORT]  crash it (immediate stop: no shutdown checkpoint, open
#                               sessions cut) and start it again on the same data
#
# The cluster is test-only: by default fsync, synchronous_commit and full_page_writes are
# off, so a crash loses commits the server acknowledged. PG_DURABLE=1 at `start` keeps
# PostgreSQL's durable defaults (what the fault tests restart, and what anything holding
# data you need must run with).
#   postgres.sh status [PORT]
#
# `start` prints only ARREARS_TEST_PG_URL=... on stdout (progress goes to stderr),
# so a caller can do: eval "$(deploy/local/postgres.sh start)" or >> "$GITHUB_ENV".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=$HERE/.cache   # git-ignored
PG_USER=postgres     # system user from the Debian package; the server refuses to run as root

log() { echo "postgres: $*" >&2; }
die() { log "$*"; exit 1; }

# Directory holding initdb, pg_ctl and postgres: PATH first, then the Debian layout
# (/usr/lib/postgresql/<major>/bin is not on PATH there), newest major first.
find_bindir() {
  local d
  if d=$(command -v pg_ctl) && d=$(dirname "$(readlink -f "$d")") && [[ -x $d/initdb && -x $d/postgres ]]; then
    echo "$d"; return 0
  fi
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV); do
    [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]] && { echo "$d"; return 0; }
  done
  return 1
}

install() {
  local bin
  if bin=$(find_bindir); then log "server binaries found in $bin"; return 0; fi
  if ((EUID != 0)); then
    die "PostgreSQL server not found; as root run: apt-get update && apt-get install -y postgresql"
  fi
  # Note: on a machine with a service manager the package also creates and starts its own
  # 'main' cluster on port 5432; we never use it (our clusters live on PORT).
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
  bin=$(find_bindir) || die "postgresql installed but initdb/pg_ctl still not found"
  log "installed; server binaries in $bin"
}

# The server must run as a non-root user. As root we use $PG_USER, which must be able to
# reach the data dir: normally deploy/local/.cache/pg-PORT (the repo's dirs are root-owned
# but world-traversable). If some parent dir is not traversable for $PG_USER (e.g. a repo
# under /root, or umask 077), use /tmp/arrears-pg-PORT instead. Decided the same way by
# start and stop.
set_port() {
  PORT=${1:-15432}
  [[ $PORT =~ ^[0-9]+$ ]] || die "port must be a number, got '$PORT'"
  BIN=$(find_bindir) || die "PostgreSQL server not found; run: $0 install"
  mkdir -p "$CACHE"
  DIR=$CACHE/pg-$PORT
  if ((EUID == 0)) && ! runuser -u "$PG_USER" -- test -x "$CACHE"; then
    DIR=/tmp/arrears-pg-$PORT
  fi
  DATA=$DIR/data
  SOCK=$DIR/sock   # unix socket here, not /var/run/postgresql (may not exist / be shared)
}

# Run a server command as the right user, from a dir that user can enter.
as_pg() {
  if ((EUID == 0)); then
    (cd / && runuser -u "$PG_USER" -- "$@")
  else
    "$@"
  fi
}

stop() {
  if [[ -f $DATA/postmaster.pid ]]; then
    log "stopping cluster in $DIR"
    # fast = roll back open sessions and shut down cleanly; immediate if that hangs.
    as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >&2 \
      || as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >&2 \
      || true
  else
    log "not running on port $PORT"
  fi
  # $DIR stays for post-mortem (postgres.log); the next start wipes it.
}

start() {
  stop  # a cluster of ours left on this port from an earlier run
  rm -rf "$DIR"  # always a fresh cluster: tests never see an earlier run's data
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && die "127.0.0.1:$PORT is already in use"

  mkdir -p "$DIR"
  if ((EUID == 0)); then chown "$PG_USER:" "$DIR"; fi
  chmod 700 "$DIR"
  as_pg mkdir "$SOCK"

  # C locale + UTF8: independent of the locales installed on the machine.
  # --no-sync unless durable: then nothing here needs to survive a crash.
  local sync=(--no-sync)
  if durable; then sync=(); fi
  as_pg "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C --auth=trust "${sync[@]}" \
    >"$DIR/initdb.log" 2>&1 || { tail -n 30 "$DIR/initdb.log" >&2; die "initdb failed"; }

  # Connections: TCP on 127.0.0.1 only, plus the private unix socket; trust, since the
  # cluster is local and disposable (the role still gets a password, for the URL).
  cat >"$DATA/pg_hba.conf" <<'EOF'
local all all              trust
host  all all 127.0.0.1/32 trust
EOF
  cat >>"$DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK'
EOF
  if durable; then
    log "durable: fsync, synchronous_commit and full_page_writes on"
  else
    # Test-only speed settings: a crash loses acknowledged commits (see the header).
    cat >>"$DATA/postgresql.conf" <<EOF
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  fi

  local t0=${EPOCHREALTIME//[.,]/}
  serve
  "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
    -c "CREATE ROLE arrears LOGIN SUPERUSER PASSWORD 'arrears'" \
    -c "CREATE DATABASE arrears_test OWNER arrears" >&2
  log "ready in $(((${EPOCHREALTIME//[.,]/} - t0) / 1000)) ms, data $DATA"
  echo "ARREARS_TEST_PG_URL=postgresql+asyncpg://arrears:arrears@127.0.0.1:$PORT/arrears_test"
}

durable() { [[ ${PG_DURABLE:-0} == 1 ]]; }

restart() {
  [[ -d $DATA ]] || die "no cluster data in $DIR to restart on (run: $0 start $PORT)"
  if [[ -f $DATA/postmaster.pid ]]; then
    log "crashing cluster in $DIR (immediate stop)"
    as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >&2 || true
  fi
  local t0=${EPOCHREALTIME//[.,]/}
  serve
  log "restarted in $(((${EPOCHREALTIME//[.,]/} - t0) / 1000)) ms, data $DATA"
}

# Starts the server on $DATA and waits until it answers over TCP.
serve() {
  # -w: pg_ctl waits for the server to accept connections (up to -t seconds).
  as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DIR/postgres.log" -w -t 60 start >&2 \
    || { tail -n 30 "$DIR/postgres.log" >&2; die "server did not start (log: $DIR/postgres.log)"; }
  # And confirm over TCP, the way the tests will connect.
  for ((i = 0; i < 150; i++)); do
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
    sleep 0.2
  done
  "$BIN/pg_isready" -h 127.0.0.1 -p "$PORT" >&2 \
    || { tail -n 30 "$DIR/postgres.log" >&2; die "server not answering on 127.0.0.1:$PORT"; }
}

status() {
  if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && [[ -f $DATA/postmaster.pid ]]; then
    echo "postgres running: $DATA, 127.0.0.1:$PORT"
  else
    echo "postgres not running on 127.0.0.1:$PORT"
    return 1
  fi
}

cmd=${1:-}
case $cmd in
  install) install ;;
  start | stop | restart | status) set_port "${2:-}"; "$cmd" ;;
  *) echo "usage: $0 {install|start [PORT]|stop [PORT]|restart [PORT]|status [PORT]}" >&2; exit 2 ;;
esac
