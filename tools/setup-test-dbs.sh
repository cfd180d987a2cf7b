#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Create the 'openstack_citest' user and database that oslo.db's
# opportunistic test fixtures use, on MariaDB/MySQL and on PostgreSQL.
# Idempotent: run it as often as you like. Run as root (or as a user that
# can reach both servers as their administrator).
#
# Environment (all optional):
#   MYSQL_HOST            MariaDB host (default 127.0.0.1)
#   MYSQL_ROOT_USER       administrator (default root)
#   MYSQL_ROOT_PASSWORD   its password (default: none)
#   PG_HOST               PostgreSQL host (default 127.0.0.1)
#   PG_ADMIN_USER         administrator (default postgres)
#   SKIP_MYSQL=1 / SKIP_POSTGRESQL=1   leave that server alone
#   DB_WAIT_SECONDS       how long to wait for a server to answer (30)
set -u
# Each step checks its own result ("|| return 1"): errexit does not apply
# inside a function called as "f || rc=1".

CITEST=openstack_citest
MYSQL_HOST=${MYSQL_HOST:-127.0.0.1}
MYSQL_ROOT_USER=${MYSQL_ROOT_USER:-root}
PG_HOST=${PG_HOST:-127.0.0.1}
PG_ADMIN_USER=${PG_ADMIN_USER:-postgres}
DB_WAIT_SECONDS=${DB_WAIT_SECONDS:-30}

log() { echo "setup-test-dbs: $*" >&2; }

# Wait until "$1" (a function that sets up how to reach the server and
# succeeds when it answers) succeeds, trying once a second for up to
# DB_WAIT_SECONDS (a server started just before this script may not accept
# connections yet).
wait_for() {
    local i=0
    until "$1"; do
        i=$((i + 1))
        if [ "$i" -ge "$DB_WAIT_SECONDS" ]; then
            return 1
        fi
        sleep 1
    done
}

# --- MariaDB / MySQL ------------------------------------------------------
mysql_admin() {
    local args=(-u "$MYSQL_ROOT_USER")
    if [ -n "${MYSQL_ROOT_PASSWORD:-}" ]; then
        args+=("-p$MYSQL_ROOT_PASSWORD")
    fi
    if [ "${MYSQL_USE_SOCKET:-0}" != 1 ]; then
        args+=(-h "$MYSQL_HOST")
    fi
    mysql "${args[@]}" "$@"
}

# TCP first, then the unix socket (Debian's root@localhost authenticates
# by socket).
mysql_reachable() {
    local mode
    for mode in 0 1; do
        MYSQL_USE_SOCKET=$mode
        if mysql_admin -e 'SELECT 1' >/dev/null 2>&1; then
            return 0
        fi
    done
    return 1
}

setup_mysql() {
    if ! wait_for mysql_reachable; then
        log "cannot reach MariaDB/MySQL as $MYSQL_ROOT_USER"
        return 1
    fi
    local sql="" host
    for host in localhost 127.0.0.1 '%'; do
        sql+="CREATE USER IF NOT EXISTS '$CITEST'@'$host'
                  IDENTIFIED BY '$CITEST';
              ALTER USER '$CITEST'@'$host' IDENTIFIED BY '$CITEST';
              GRANT ALL PRIVILEGES ON *.* TO '$CITEST'@'$host'
                  WITH GRANT OPTION;
"
    done
    sql+="CREATE DATABASE IF NOT EXISTS $CITEST;
          FLUSH PRIVILEGES;"
    mysql_admin -e "$sql" || return 1
    # Check the way the fixtures connect: as the citest user over TCP.
    mysql -u "$CITEST" "-p$CITEST" -h "$MYSQL_HOST" "$CITEST" \
        -e 'SELECT 1' >/dev/null || return 1
    log "MariaDB/MySQL: user and database $CITEST ready"
}

# --- PostgreSQL -----------------------------------------------------------
PSQL_MODE=tcp
pg_admin() {
    if [ "$PSQL_MODE" = tcp ]; then
        psql -v ON_ERROR_STOP=1 -X -q -U "$PG_ADMIN_USER" -h "$PG_HOST" \
            -d postgres "$@"
    else
        # Peer authentication on the local socket.
        local cmd="psql -v ON_ERROR_STOP=1 -X -q -d postgres"
        local a
        for a in "$@"; do
            cmd+=" $(printf '%q' "$a")"
        done
        su "$PG_ADMIN_USER" -c "$cmd"
    fi
}

# TCP first, then peer authentication as the postgres system user.
pg_reachable() {
    local mode
    for mode in tcp su; do
        PSQL_MODE=$mode
        if pg_admin -c 'SELECT 1' >/dev/null 2>&1; then
            return 0
        fi
    done
    return 1
}

setup_postgresql() {
    if ! wait_for pg_reachable; then
        log "cannot reach PostgreSQL as $PG_ADMIN_USER"
        return 1
    fi
    # The fixtures create and drop a database per test run: CREATEDB is
    # enough (they only end their own connections before a drop).
    pg_admin -c "DO \$\$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$CITEST') THEN
        CREATE ROLE $CITEST LOGIN PASSWORD '$CITEST' CREATEDB;
    ELSE
        ALTER ROLE $CITEST LOGIN PASSWORD '$CITEST' CREATEDB;
    END IF;
END
\$\$;" || return 1
    if [ -z "$(pg_admin -tA -c "SELECT 1 FROM pg_database
                                 WHERE datname = '$CITEST'")" ]; then
        pg_admin -c "CREATE DATABASE $CITEST OWNER $CITEST" || return 1
    fi
    PGPASSWORD=$CITEST psql -X -q -U "$CITEST" -h "$PG_HOST" -d "$CITEST" \
        -c 'SELECT 1' >/dev/null || return 1
    log "PostgreSQL: role and database $CITEST ready"
}

rc=0
if [ "${SKIP_MYSQL:-0}" != 1 ]; then
    setup_mysql || { log "MariaDB/MySQL setup FAILED"; rc=1; }
fi
if [ "${SKIP_POSTGRESQL:-0}" != 1 ]; then
    setup_postgresql || { log "PostgreSQL setup FAILED"; rc=1; }
fi
exit $rc
