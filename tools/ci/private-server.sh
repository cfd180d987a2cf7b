# Sourced by tools/ci/ensure-etcd.sh and ensure-zookeeper.sh: what a
# private test server on loopback needs whatever it is. The sourcing
# script sets NAME, DIR, PIDFILE and PORTFILE, and defines healthy PORT,
# url, installed and launch PORT (starts the server in the background,
# its pid in $PIDFILE); it ends with `main "$@"`.

say() { echo "ensure-$NAME: $*" >&2; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

running() {
    [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

# apt_install PACKAGE: Debian's package, unless `installed` says it is
# there already (CI runs as root).
apt_install() {
    installed && return 0
    if [ "$(id -u)" -ne 0 ]; then
        say "$NAME is missing: run as root, or apt-get install $1"
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "$1" >&2
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

# start TRIES LOG: a live server's URL again, or a new server (launch)
# waited for up to TRIES x 0.2 s; LOG is shown when it does not start.
start() {
    if running && healthy "$(cat "$PORTFILE")"; then
        say "already running (pid $(cat "$PIDFILE"))"
        url
        return 0
    fi
    stop_server
    install
    mkdir -p "$DIR"
    local client
    client=$(free_port)
    echo "$client" > "$PORTFILE"
    launch "$client"
    for _ in $(seq 1 "$1"); do
        if healthy "$client"; then
            say "$(version) pid $(cat "$PIDFILE"), log $2"
            url
            return 0
        fi
        running || break
        sleep 0.2
    done
    say "$NAME did not start; its log:"
    tail -20 "$2" >&2 || true
    stop_server
    exit 1
}

# main COMMAND TRIES LOG
main() {
    case "${1:-start}" in
        start) start "$2" "$3" ;;
        stop) stop_server ;;
        url)
            if running; then url; else say "not running"; exit 1; fi ;;
        *) echo "usage: $0 [start|stop|url]" >&2; exit 2 ;;
    esac
}
