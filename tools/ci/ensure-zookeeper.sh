#!/usr/bin/env bash
# A private ZooKeeper server (standalone) for the tests of the engines'
# tooz coordination over ZooKeeper (fenix/tests/unit/engine/
# test_coordination.py, fenix/tests/functional/test_engine_takeover.py
# TestTwoEnginesZooKeeper).
#
#   bash tools/ci/ensure-zookeeper.sh start   # prints the tooz URL, e.g.
#                                               # zookeeper://127.0.0.1:41234
#   bash tools/ci/ensure-zookeeper.sh url     # the URL of the running one
#   bash tools/ci/ensure-zookeeper.sh stop    # stops it, removes its data
#
# Installs Debian's zookeeper (the server; its jar is libzookeeper-java's,
# run by Java 17) with apt
# if missing (CI runs as root); the package's own service is not used.
# The server listens on loopback only, on a free port chosen at start
# (never 2181), with the admin HTTP server off, its configuration, data
# and output under $FENIX_ZOOKEEPER_DIR (default /tmp/fenix-zookeeper).
# tickTime is 500 ms, so a client's session time-out may be 1 to 10 s
# (2 to 20 tickTimes): the engines' takeover_after (6 s by default) fits.
# Idempotent like tools/ci/ensure-etcd.sh; the URL is the last line of
# stdout, everything else goes to stderr.
set -euo pipefail
DIR=${FENIX_ZOOKEEPER_DIR:-/tmp/fenix-zookeeper}
PIDFILE=$DIR/zookeeper.pid
PORTFILE=$DIR/client-port
JAR=/usr/share/java/zookeeper.jar

NAME=zookeeper
# shellcheck source=tools/ci/private-server.sh
. "$(dirname "$0")/private-server.sh"

# The four-letter word "ruok" (allowed in the configuration below).
healthy() {
    python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=2)
s.sendall(b'ruok')
sys.exit(0 if s.recv(4) == b'imok' else 1)
EOF
}
url() { echo "zookeeper://127.0.0.1:$(cat "$PORTFILE")"; }
version() {
    echo "ZooKeeper $(dpkg-query -W -f '${Version}' zookeeper 2>/dev/null \
        || echo '?')"
}
installed() { [ -f "$JAR" ] && command -v java >/dev/null; }
install() { apt_install zookeeper; }

launch() {
    local client=$1
    mkdir -p "$DIR/data" "$DIR/conf"
    cat > "$DIR/conf/zoo.cfg" <<EOF
tickTime=500
dataDir=$DIR/data
clientPortAddress=127.0.0.1
clientPort=$client
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
EOF
    # setsid: the server outlives the caller's shell and its signals.
    # Debian's jars log through slf4j without a binding: the server says
    # little, on stdout.log.
    setsid java -Xmx256m -cp "$JAR" \
        org.apache.zookeeper.server.ZooKeeperServerMain \
        "$DIR/conf/zoo.cfg" > "$DIR/stdout.log" 2>&1 < /dev/null &
    echo $! > "$PIDFILE"
}

main "${1:-start}" 150 "$DIR/stdout.log"
