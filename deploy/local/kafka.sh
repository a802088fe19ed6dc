#!/usr/bin/env bash
# A real single-node Apache Kafka 4.x broker (KRaft: broker + controller in one JVM)
# built from Maven Central jars, for local runs and CI without Docker.
# Recipe: /work/shared/kafka/README.md.
#
#   kafka.sh fetch            gather the jars into .cache/kafka-libs (once; then cached)
#   kafka.sh start  [PORT]    fresh broker on 127.0.0.1:PORT (default 19092), controller on PORT+1
#   kafka.sh stop   [PORT]    stop it (idempotent; its data stays until the next start)
#   kafka.sh restart [PORT]   start it again on the same data directory: topics, records and
#                             committed offsets kept (a broker outage, for fault tests)
#   kafka.sh status [PORT]
#
# `start` prints only KAFKA_BOOTSTRAP_SERVERS=... on stdout (progress goes to stderr),
# so a caller can do: eval "$(deploy/local/kafka.sh start)" or >> "$GITHUB_ENV".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONF=$HERE/kafka                 # pom.xml, log4j2.properties, server.properties.template
CACHE=$HERE/.cache               # git-ignored
LIBS=$CACHE/kafka-libs
STAMP=$LIBS/.complete            # holds the pom's hash once every jar is in place
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}  # seconds; the broker is usually ready in 2-5
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}

log() { echo "kafka: $*" >&2; }
die() { log "$*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

fetch() {
  local want
  want=$(sha256sum "$CONF/pom.xml" | cut -d' ' -f1)
  # The stamp is written last, so its presence means a complete copy of *this* pom's jars.
  if [[ -f $STAMP && $(<"$STAMP") == "$want" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (need Maven 3 and Java 17)"
  log "fetching jars from Maven Central (cold: seconds to minutes, network-bound)..."
  # Copy into a scratch dir and swap it in, so an interrupted fetch never looks complete.
  # Default ~/.m2 is kept, so a later fetch (e.g. after a pom edit) is mostly offline.
  rm -rf "$LIBS.tmp"
  mvn -q -B -f "$CONF/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$LIBS.tmp" -DincludeScope=runtime >&2  # keep stdout for the result line
  ls "$LIBS.tmp"/kafka_2.13-*.jar >/dev/null || die "kafka_2.13 jar missing after fetch"
  echo "$want" >"$LIBS.tmp/.complete"
  rm -rf "$LIBS"
  mv "$LIBS.tmp" "$LIBS"
  local jars=("$LIBS"/*.jar)
  log "${#jars[@]} jars in $LIBS"
}

# Per-port paths, so several brokers (e.g. parallel CI jobs) can coexist.
set_port() {
  PORT=${1:-19092}
  [[ $PORT =~ ^[0-9]+$ ]] || die "port must be a number, got '$PORT'"
  CONTROLLER_PORT=$((PORT + 1))
  RUN=$CACHE/kafka-run-$PORT
  PIDFILE=$RUN/kafka.pid
  JVM_ARGS=(-Dlog4j2.configurationFile="$CONF/log4j2.properties" -cp "$LIBS/*")
}

# Prints the broker's pid if our broker for this port is alive. Checks the command line,
# so a stale pid file whose pid was reused by another process is not mistaken for it.
running_pid() {
  local pid
  [[ -f $PIDFILE ]] || return 1
  pid=$(<"$PIDFILE")
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $RUN/server.properties" || return 1
  echo "$pid"
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PIDFILE"
    log "no broker of ours on port $PORT"
    return 0
  fi
  log "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after ${STOP_TIMEOUT}s, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$PIDFILE"
}

start() {
  fetch
  stop  # a broker of ours left on this port from an earlier run
  check_ports_free

  # A fresh log dir every start: tests never see topics or offsets of an earlier run.
  rm -rf "$RUN"
  mkdir -p "$RUN/data"
  sed -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
      -e "s|@LOG_DIR@|$RUN/data|g" "$CONF/server.properties.template" >"$RUN/server.properties"

  # Cluster id = 16 random bytes in base64url without padding (what `StorageTool
  # random-uuid` prints, minus a JVM start). Like Kafka's generator, skip ids starting
  # with '-': the format tool would parse them as an option.
  local cluster_id=-
  while [[ $cluster_id == -* ]]; do
    cluster_id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
  done
  java "${JVM_ARGS[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$RUN/server.properties" >"$RUN/format.log" 2>&1 \
    || { tail -n 30 "$RUN/format.log" >&2; die "storage format failed"; }
  launch
}

restart() {
  [[ -f $RUN/server.properties && -d $RUN/data ]] \
    || die "no broker data for port $PORT to restart on (run: $0 start $PORT)"
  stop
  check_ports_free
  launch
}

check_ports_free() {
  port_open "$PORT" && die "127.0.0.1:$PORT is already in use by another process"
  port_open "$CONTROLLER_PORT" && die "127.0.0.1:$CONTROLLER_PORT is already in use by another process"
  return 0
}

# Runs the broker on $RUN's formatted data dir and waits until it serves.
launch() {
  local t0=$SECONDS t0_us=${EPOCHREALTIME//[.,]/} pid
  # nohup: the broker must outlive this script (and the CI step's shell). Appending to the
  # log: a restart's readiness must be told from the earlier run's, so count the lines.
  local seen=0
  [[ -f $RUN/broker.log ]] && seen=$(grep -c "Kafka Server started" "$RUN/broker.log" || true)
  nohup java -Xms512m -Xmx512m "${JVM_ARGS[@]}" kafka.Kafka "$RUN/server.properties" \
      >>"$RUN/broker.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"

  # Ready = the broker says so AND the port takes connections. Polling, bounded.
  until (($(grep -c "Kafka Server started" "$RUN/broker.log" || true) > seen)) && port_open "$PORT"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 50 "$RUN/broker.log" >&2
      rm -f "$PIDFILE"
      die "broker exited during startup (log: $RUN/broker.log)"
    fi
    if ((SECONDS - t0 >= START_TIMEOUT)); then
      tail -n 50 "$RUN/broker.log" >&2
      stop
      die "broker not ready after ${START_TIMEOUT}s (log: $RUN/broker.log)"
    fi
    sleep 0.2
  done
  log "ready in $(((${EPOCHREALTIME//[.,]/} - t0_us) / 1000)) ms, pid $pid, log $RUN/broker.log"
  echo "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$PORT"
}

status() {
  local pid
  if pid=$(running_pid) && port_open "$PORT"; then
    echo "kafka running: pid $pid, 127.0.0.1:$PORT"
  else
    echo "kafka not running on 127.0.0.1:$PORT"
    return 1
  fi
}

cmd=${1:-}
case $cmd in
  fetch) fetch ;;
  start | stop | restart | status) set_port "${2:-}"; "$cmd" ;;
  *) echo "usage: $0 {fetch|start [PORT]|stop [PORT]|restart [PORT]|status [PORT]}" >&2; exit 2 ;;
esac
