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

NAME=etcd
# shellcheck source=tools/ci/private-server.sh
. "$(dirname "$0")/private-server.sh"

healthy() {
    python3 - "$1" <<'EOF' 2>/dev/null
import json, sys, urllib.request
with urllib.request.urlopen('http://127.0.0.1:%s/health' % sys.argv[1],
                            timeout=2) as r:
    sys.exit(0 if json.load(r).get('health') == 'true' else 1)
EOF
}
url() { echo "etcd3+http://127.0.0.1:$(cat "$PORTFILE")"; }
version() { echo "etcd $(etcd --version | head -1 | awk '{print $3}')"; }
installed() { command -v etcd >/dev/null; }

# The package's own service (on the default ports) is not wanted: there
# is no systemd here, and the tests use the private one.
install() { apt_install etcd-server; }

launch() {
    local client=$1 peer
    peer=$(free_port)
    while [ "$peer" = "$client" ]; do peer=$(free_port); done
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
}

main "${1:-start}" 100 "$DIR/etcd.log"
