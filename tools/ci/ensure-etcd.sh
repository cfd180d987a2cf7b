#!/usr/bin/env bash
# A private etcd v3 server for the tests of the engines' tooz coordination
# over etcd (fenix/tests/unit/engine/test_coordination.py,
# fenix/tests/functional/test_engine_takeover.py TestTwoEnginesEtcd).
#
#   bash tools/ci/ensure-etcd.sh start   # prints the tooz URL, e.g.
#                                          # etcd3+http://127.0.0.1:41234
#   bash tools/ci/ensure-etcd.sh url     # the URL of the running one
#   bash tools/ci/ensure-etcd.sh stop    # stops it, removes its data
#
# Installs Debian's etcd-server with apt if /usr/bin/etcd is missing (CI
# runs as root). The server listens on loopback only, on free ports
# chosen at start (never 2379/2380, so it meets no other etcd), with its
# data and log under $FENIX_ETCD_DIR (default /tmp/fenix-etcd). Idempotent:
# `start` with a live server prints its URL again; `stop` without one does
# nothing. The URL is the last line of stdout; everything else goes to
# stderr: FENIX_TEST_ETCD_URL=$(bash tools/ci/ensure-etcd.sh start).
set -euo pipefail
DIR=${FENIX_ETCD_DIR:-/tmp/fenix-etcd}
PIDFILE=$DIR/etcd.pid
PORTFILE=$DIR/client-port

say() { echo "ensure-etcd: $*" >&2; }
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
running() {
    [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}
healthy() {
    python3 - "$1" <<'EOF' 2>/dev/null
import json, sys, urllib.request
with urllib.request.urlopen('http://127.0.0.1:%s/health' % sys.argv[1],
                            timeout=2) as r:
    sys.exit(0 if json.load(r).get('health') == 'true' else 1)
EOF
}
url() { echo "etcd3+http://127.0.0.1:$(cat "$PORTFILE")"; }

install() {
    command -v etcd >/dev/null && return 0
    if [ "$(id -u)" -ne 0 ]; then
        say "etcd is missing: run as root, or apt-get install etcd-server"
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends etcd-server >&2
    # The package's own service (on the default ports) is not wanted:
    # there is no systemd here, and the tests use the private one.
}

start() {
    if running && healthy "$(cat "$PORTFILE")"; then
        say "already running (pid $(cat "$PIDFILE"))"
        url
        return 0
    fi
    stop_server
    install
    mkdir -p "$DIR"
    local client peer
    client=$(free_port)
    peer=$(free_port)
    while [ "$peer" = "$client" ]; do peer=$(free_port); done
    echo "$client" > "$PORTFILE"
    # setsid: the server outlives the caller's shell and its signals.
    setsid etcd --name fenix-test --data-dir "$DIR/data" \
        --listen-client-urls "http://127.0.0.1:$client" \
        --advertise-client-urls "http://127.0.0.1:$client" \
        --listen-peer-urls "http://127.0.0.1:$peer" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "fenix-test=http://127.0.0.1:$peer" \
        --initial-cluster-state new \
        > "$DIR/etcd.log" 2>&1 < /dev/null &
    echo $! > "$PIDFILE"
    for _ in $(seq 1 100); do
        if healthy "$client"; then
            say "etcd $(etcd --version | head -1 | awk '{print $3}')" \
                "pid $(cat "$PIDFILE"), log $DIR/etcd.log"
            url
            return 0
        fi
        running || break
        sleep 0.2
    done
    say "etcd did not start; its log:"
    tail -20 "$DIR/etcd.log" >&2
    stop_server
    exit 1
}

stop_server() {
    if running; then
        local pid
        pid=$(cat "$PIDFILE")
        kill -TERM "$pid"
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        say "stopped (pid $pid)"
    fi
    rm -rf "$DIR"
}

case "${1:-start}" in
    start) start ;;
    stop) stop_server ;;
    url)
        if running; then url; else say "not running"; exit 1; fi ;;
    *) echo "usage: $0 [start|stop|url]" >&2; exit 2 ;;
esac
