#!/usr/bin/env bash
# Start MariaDB, PostgreSQL, RabbitMQ and Redis (the engines' tooz
# coordination backend in the three-engine test) on loopback if they are not
# running (they normally are on the CI machine). Idempotent.
set -u
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
    for _ in $(seq 1 120); do port_open "$1" && return 0; sleep 0.5; done
    echo "port $1 did not open" >&2; return 1
}
if ! port_open 3306; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_port 3306
fi
if ! port_open 5432; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    wait_port 5432
fi
if ! port_open 5672; then
    rabbitmq-server -detached
    wait_port 5672
fi
if ! port_open 6379; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379
    wait_port 6379
fi
echo "MariaDB, PostgreSQL, RabbitMQ and Redis are listening"
