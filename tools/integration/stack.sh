#!/usr/bin/env bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Fenix's integration tier: a real (small) OpenStack on loopback.
#
#   stack.sh setup    venv with the pinned services (requirements.txt)
#   stack.sh start    databases, vhost, configs, Keystone, Placement, Nova
#                     (api, conductor, scheduler, N fake computes), AODH
#                     (api, listener, notifier), Ceilometer notification
#                     agent; waits until ready. Runs setup when needed.
#   stack.sh stop     stops exactly the processes start recorded
#   stack.sh status   what runs
#   stack.sh stop-compute|start-compute|restart-compute computeN
#   stack.sh kill-compute computeN     SIGKILL (a crash: no graceful stop)
#   stack.sh ensure-compute computeN   starts it unless it runs
#   stack.sh stop-ceilometer|start-ceilometer   a cloud without Ceilometer;
#                     start-ceilometer drops what queued meanwhile on
#                     notifications.* and waits until it consumes again
#   stack.sh env      prints shell exports for the tests
#
# Shared services (already running on the machine): MariaDB on
# 127.0.0.1:3306 (user openstack_citest, databases fenixit_*) and RabbitMQ on
# 127.0.0.1:5672 (vhost fenix-integration, user fenixit; rabbitmqctl).
# Every process started is recorded in $D/run/pids ("pid name" lines);
# stop kills exactly those, by PID. A failing start stops what it started.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
D=${FENIX_INTEGRATION_DIR:-/tmp/fenix-integration}
V=$D/venv
VB=$V/bin
PY=${FENIX_INTEGRATION_PYTHON:-python3}
N=${FENIX_INTEGRATION_COMPUTES:-3}
DB_USER=${FENIX_INTEGRATION_DB_USER:-openstack_citest}
DB_PASS=${FENIX_INTEGRATION_DB_PASSWORD:-openstack_citest}
DB_HOST=127.0.0.1
DB_PORT=${FENIX_INTEGRATION_DB_PORT:-3306}
DB_PREFIX=fenixit_
MQ_VHOST=fenix-integration
MQ_USER=fenixit
MQ_PASS=fenixit
MQ_PORT=${FENIX_INTEGRATION_MQ_PORT:-5672}
TRANSPORT="rabbit://$MQ_USER:$MQ_PASS@127.0.0.1:$MQ_PORT/$MQ_VHOST"
AMQP="amqp://$MQ_USER:$MQ_PASS@127.0.0.1:$MQ_PORT/$MQ_VHOST"
B=${FENIX_INTEGRATION_PORT_BASE:-25}
P_KEYSTONE=${B}000
P_NOVA=${B}774
P_PLACEMENT=${B}778
P_GLANCE=${B}292
P_NEUTRON=${B}696
P_AODH=${B}042
P_FENIX=${B}347
ADMIN_PASS=admin-secret
IMAGE_ID=8c1d5e3a-5f1e-4c33-9b8e-2d0f8a7f7e11
AUTH_URL=http://127.0.0.1:$P_KEYSTONE/v3
PIDS=$D/run/pids
TIMES=$D/times.txt

log() { echo "[stack $(date +%H:%M:%S)] $*"; }
die() { echo "[stack] ERROR: $*" >&2; exit 1; }
now() { date +%s.%N; }
PH_T0=$(now)
PH_LAST=$PH_T0
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }
phase() {
    local t; t=$(now)
    printf '%-22s %6s s  (total %6s s)\n' "$1" "$(since "$PH_LAST")" \
        "$(since "$PH_T0")" | tee -a "$TIMES"
    PH_LAST=$t
}

# --- processes -------------------------------------------------------------

alive() {  # a re-parented zombie counts as gone
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ $st != Z* ]]
}

pid_of() { [ -f "$PIDS" ] && awk -v n="$1" '$2 == n {print $1}' "$PIDS" | tail -1; }

# spawn NAME CMD... : start in the background, log to logs/NAME.log, record.
spawn() {
    local name=$1; shift
    local old; old=$(pid_of "$name" || true)
    if [ -n "$old" ] && alive "$old"; then
        die "$name already runs (pid $old)"
    fi
    setsid "$@" >> "$D/logs/$name.log" 2>&1 < /dev/null &
    local pid=$!
    echo "$pid $name" >> "$PIDS"
    log "started $name (pid $pid)"
}

descendants() {  # PIDs of the children (recursively) of PID
    local c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$c"; descendants "$c"
    done
}

stop_pid() {  # stop_pid PID NAME: TERM, bounded wait, then KILL; then any
              # worker it left behind (cotyledon/oslo.service children)
    local pid=$1 name=$2 i kids c
    alive "$pid" || return 0
    kids=$(descendants "$pid")
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        alive "$pid" || break
        sleep 0.2
    done
    if alive "$pid"; then
        log "$name (pid $pid) ignored SIGTERM for 20 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    for c in $kids; do
        if alive "$c"; then
            log "$name: worker $c outlived its parent: SIGKILL"
            kill -KILL "$c" 2>/dev/null || true
        fi
    done
}

forget() {  # drop NAME from the pid file
    [ -f "$PIDS" ] || return 0
    awk -v n="$1" '$2 != n' "$PIDS" > "$PIDS.tmp" && mv "$PIDS.tmp" "$PIDS"
}

do_stop() {
    [ -f "$PIDS" ] || { log "nothing recorded; nothing to stop"; return 0; }
    local t0; t0=$(now)
    # Reverse start order; the long-stopping ones (computes, agents) in
    # parallel.
    local pid name
    local -a waiters=()
    while read -r pid name; do
        [ -n "$pid" ] || continue
        stop_pid "$pid" "$name" &
        waiters+=($!)
    done < <(tac "$PIDS")
    for pid in "${waiters[@]}"; do wait "$pid" || true; done
    rm -f "$PIDS"
    log "stopped everything in $(since "$t0") s"
}

do_status() {
    [ -f "$PIDS" ] || { echo "not running"; return 3; }
    local pid name rc=0 rss
    while read -r pid name; do
        if alive "$pid"; then
            rss=$(awk '/VmRSS/ {print $2}' /proc/"$pid"/status 2>/dev/null)
            printf '%-22s %7s  up   %6s MB\n' "$name" "$pid" $(( ${rss:-0} / 1024 ))
        else
            printf '%-22s %7s  DOWN\n' "$name" "$pid"; rc=1
        fi
    done < "$PIDS"
    return $rc
}

# --- setup -------------------------------------------------------------------

do_setup() {
    mkdir -p "$D"
    local stamp=$D/venv/.fenix-integration-requirements
    if [ -x "$VB/python" ] && [ -f "$stamp" ] && \
            cmp -s "$stamp" "$HERE/requirements.txt"; then
        log "venv up to date ($V)"
    else
        log "creating venv $V (pinned services: $HERE/requirements.txt)"
        [ -x "$VB/python" ] || "$PY" -m venv "$V"
        "$VB/pip" install -q -U pip
        "$VB/pip" install -q -r "$HERE/requirements.txt"
        cp "$HERE/requirements.txt" "$stamp"
    fi
    local virt
    virt=$("$VB/python" -c 'import os, nova.virt as v; print(os.path.dirname(v.__file__))')
    cp "$HERE/helpers/stable_fake.py" "$virt/stable_fake.py"
    command -v mysql > /dev/null || command -v mariadb > /dev/null || \
        die "no mysql/mariadb client (apt-get install mariadb-client)"
    command -v rabbitmqctl > /dev/null || die "no rabbitmqctl (RabbitMQ)"
    phase setup
}

# --- databases and message queue ----------------------------------------------

sql() {
    mysql --protocol=TCP -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" \
        -p"$DB_PASS" -N -B -e "$1"
}

db_url() { echo "mysql+pymysql://$DB_USER:$DB_PASS@$DB_HOST:$DB_PORT/$DB_PREFIX$1?charset=utf8"; }

prepare_backends() {
    local db stmt=""
    for db in keystone nova_api nova nova_cell0 placement aodh fenix; do
        stmt+="DROP DATABASE IF EXISTS $DB_PREFIX$db; CREATE DATABASE $DB_PREFIX$db CHARACTER SET utf8mb4;"
    done
    sql "$stmt" || die "cannot create databases as $DB_USER on $DB_HOST:$DB_PORT"
    # A fresh vhost every start: no queues left over from an earlier run.
    rabbitmqctl -q delete_vhost "$MQ_VHOST" > /dev/null 2>&1 || true
    rabbitmqctl -q add_vhost "$MQ_VHOST" > /dev/null
    rabbitmqctl -q add_user "$MQ_USER" "$MQ_PASS" > /dev/null 2>&1 || \
        rabbitmqctl -q change_password "$MQ_USER" "$MQ_PASS" > /dev/null
    rabbitmqctl -q set_permissions -p "$MQ_VHOST" "$MQ_USER" '.*' '.*' '.*' > /dev/null
    phase databases+vhost
}

# --- configuration ------------------------------------------------------------

authtoken() {  # authtoken USER: a [keystone_authtoken] section body
    cat <<EOF
www_authenticate_uri = $AUTH_URL
auth_url = $AUTH_URL
auth_type = password
username = $1
password = $1-secret
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
memcached_servers =
service_token_roles_required = true
EOF
}

service_creds() {  # password auth of USER in the service project
    cat <<EOF
auth_url = $AUTH_URL
auth_type = password
username = $1
password = $1-secret
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
EOF
}

write_configs() {
    local e=$D/etc
    mkdir -p "$e"/{keystone/fernet-keys,keystone/credential-keys,nova,placement,aodh,ceilometer,fenix}
    cat > "$e/keystone/keystone.conf" <<EOF
[DEFAULT]
log_file = $D/logs/keystone-app.log
[database]
connection = $(db_url keystone)
[token]
provider = fernet
[fernet_tokens]
key_repository = $e/keystone/fernet-keys
[credential]
key_repository = $e/keystone/credential-keys
[oslo_policy]
enforce_new_defaults = true
enforce_scope = true
EOF

    cat > "$e/placement/placement.conf" <<EOF
[DEFAULT]
log_file = $D/logs/placement-app.log
[api]
auth_strategy = keystone
[keystone_authtoken]
$(authtoken placement)
[placement_database]
connection = $(db_url placement)
EOF

    cp "$V/etc/nova/api-paste.ini" "$e/nova/api-paste.ini"
    cat > "$e/nova/nova.conf" <<EOF
[DEFAULT]
transport_url = $TRANSPORT
compute_driver = stable_fake.StableFakeDriver
state_path = $D/state/nova
my_ip = 127.0.0.1
log_dir = $D/logs
report_interval = 5
service_down_time = 20
sync_power_state_interval = -1
cpu_allocation_ratio = 1.0
ram_allocation_ratio = 1.0
disk_allocation_ratio = 1.0
reserved_host_memory_mb = 0
reserved_host_disk_mb = 0
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = $e/nova/api-paste.ini
[keystone_authtoken]
$(authtoken nova)
[placement]
$(service_creds placement)
valid_interfaces = public
[glance]
endpoint_override = http://127.0.0.1:$P_GLANCE
[neutron]
auth_type = admin_token
token = admin
endpoint = http://127.0.0.1:$P_NEUTRON
endpoint_override = http://127.0.0.1:$P_NEUTRON
[oslo_concurrency]
lock_path = $D/state/nova/lock
[vnc]
enabled = false
[compute]
live_migration_wait_for_vif_plug = false
[quota]
instances = -1
cores = -1
ram = -1
server_groups = -1
server_group_members = -1
[fake_capacity]
vcpus = 4
memory_mb = 4096
local_gb = 40
[oslo_messaging_notifications]
driver = noop
EOF
    cat > "$e/nova/db.conf" <<EOF
[api_database]
connection = $(db_url nova_api)
[database]
connection = $(db_url nova)
EOF
    local i
    for i in $(seq 1 "$N"); do
        mkdir -p "$D/state/compute$i/instances" "$D/state/compute$i/lock"
        cat > "$e/nova/compute$i.conf" <<EOF
[DEFAULT]
host = compute$i
state_path = $D/state/compute$i
instances_path = $D/state/compute$i/instances
log_file = $D/logs/nova-compute$i-app.log
[oslo_concurrency]
lock_path = $D/state/compute$i/lock
EOF
        "$VB/python" -c "import uuid,sys; print(uuid.uuid5(uuid.UUID('6f1d4a52-6a3e-4a5c-9a55-0e0d4ac0ffee'), sys.argv[1]))" \
            "compute$i" > "$D/state/compute$i/compute_id"
    done
    mkdir -p "$D/state/nova/lock"

    cat > "$e/aodh/aodh.conf" <<EOF
[DEFAULT]
transport_url = $TRANSPORT
log_dir = $D/logs
# A new alarm must be seen by the next event, not after 60 s.
event_alarm_cache_ttl = 0
[api]
auth_mode = keystone
paste_config = $e/aodh/api-paste.ini
[database]
connection = $(db_url aodh)
[keystone_authtoken]
$(authtoken aodh)
[service_credentials]
$(service_creds aodh)
interface = internalURL
[oslo_messaging_notifications]
driver = messagingv2
EOF
    local paste
    paste=$("$VB/python" -c 'import aodh.api, os; print(os.path.join(os.path.dirname(aodh.api.__file__), "api-paste.ini"))')
    # keystonemiddleware must read our file, not look for /etc/aodh.
    sed "/^\[filter:authtoken\]/,/^\$/ s|^oslo_config_project = aodh\$|&\noslo_config_file = $e/aodh/aodh.conf|" \
        "$paste" > "$e/aodh/api-paste.ini"
    grep -q "oslo_config_file" "$e/aodh/api-paste.ini" || \
        die "could not point aodh's api-paste.ini at aodh.conf"

    cp "$HERE/etc/event_pipeline.yaml" "$HERE/etc/event_definitions.yaml" "$e/ceilometer/"
    cat > "$e/ceilometer/ceilometer.conf" <<EOF
[DEFAULT]
transport_url = $TRANSPORT
log_dir = $D/logs
event_pipeline_cfg_file = $e/ceilometer/event_pipeline.yaml
[notification]
pipelines = event
workers = 1
[event]
definitions_cfg_file = $e/ceilometer/event_definitions.yaml
[oslo_messaging_notifications]
topics = notifications
EOF

    cat > "$e/fenix/fenix.conf" <<EOF
# Fenix against the integration stack (written by tools/integration/stack.sh).
[DEFAULT]
transport_url = $TRANSPORT
[api]
host = 127.0.0.1
port = $P_FENIX
auth_strategy = keystone
public_endpoint = http://127.0.0.1:$P_FENIX
[keystone_authtoken]
$(authtoken fenix)
[service_user]
$(service_creds fenix)
[database]
connection = $(db_url fenix)
[oslo_messaging_notifications]
driver = messagingv2
[download]
directory = $D/state/fenix-downloads
EOF
    phase configs
}

# --- services -----------------------------------------------------------------

waitport() { "$VB/python" "$HERE/helpers/wait_ready.py" port "$1" "${2:-60}" || die "port $1 did not open (see $D/logs)"; }

start_keystone() {
    local KM="$VB/keystone-manage --config-file $D/etc/keystone/keystone.conf"
    {
        $KM db_sync
        $KM fernet_setup --keystone-user root --keystone-group root
        $KM credential_setup --keystone-user root --keystone-group root
        $KM bootstrap --bootstrap-password "$ADMIN_PASS" \
            --bootstrap-admin-url "$AUTH_URL" --bootstrap-public-url "$AUTH_URL" \
            --bootstrap-internal-url "$AUTH_URL" --bootstrap-region-id RegionOne
    } >> "$D/logs/keystone-manage.log" 2>&1 || die "keystone-manage failed (logs/keystone-manage.log)"
    OS_KEYSTONE_CONFIG_FILES=$D/etc/keystone/keystone.conf \
        spawn keystone "$VB/python" "$HERE/helpers/wsgi_serve.py" "$P_KEYSTONE" keystone.wsgi.api:application
}

sync_nova_dbs() {  # placement, nova, aodh schemas (no Keystone needed)
    local C="--config-file $D/etc/nova/nova.conf --config-file $D/etc/nova/db.conf"
    {
        OS_PLACEMENT_CONFIG_DIR=$D/etc/placement "$VB/placement-manage" \
            --config-file "$D/etc/placement/placement.conf" db sync
        "$VB/nova-manage" $C api_db sync
        "$VB/nova-manage" $C cell_v2 map_cell0 --database_connection "$(db_url nova_cell0)"
        "$VB/nova-manage" $C cell_v2 create_cell --name cell1
        "$VB/nova-manage" $C db sync
        "$VB/aodh-dbsync" --config-file "$D/etc/aodh/aodh.conf"
    } >> "$D/logs/db-sync.log" 2>&1
}

start_services() {
    local C="--config-file $D/etc/nova/nova.conf"
    spawn fake-glance-neutron "$VB/python" "$HERE/helpers/fake_glance_neutron.py" \
        "$P_GLANCE" "$P_NEUTRON" "$IMAGE_ID"
    OS_PLACEMENT_CONFIG_DIR=$D/etc/placement \
        spawn placement "$VB/python" "$HERE/helpers/wsgi_serve.py" "$P_PLACEMENT" placement.wsgi.api:application
    OS_NOVA_CONFIG_DIR=$D/etc/nova OS_NOVA_CONFIG_FILES="api-paste.ini;nova.conf;db.conf" \
        spawn nova-api "$VB/python" "$HERE/helpers/wsgi_serve.py" "$P_NOVA" nova.wsgi.osapi_compute:application
    spawn nova-conductor "$VB/nova-conductor" $C --config-file "$D/etc/nova/db.conf"
    spawn nova-scheduler "$VB/nova-scheduler" $C --config-file "$D/etc/nova/db.conf"
    local i
    for i in $(seq 1 "$N"); do start_compute "compute$i"; done
    local A="--config-file $D/etc/aodh/aodh.conf"
    spawn aodh-api "$VB/python" "$HERE/helpers/wsgi_serve.py" "$P_AODH" aodh.api.app:build_wsgi_app -- $A
    spawn aodh-listener "$VB/aodh-listener" $A
    spawn aodh-notifier "$VB/aodh-notifier" $A
    start_ceilometer
}

start_compute() {
    spawn "nova-$1" "$VB/nova-compute" --config-file "$D/etc/nova/nova.conf" \
        --config-file "$D/etc/nova/$1.conf"
}

kill_compute() {
    local pid c; pid=$(pid_of "nova-$1" || true)
    [ -n "$pid" ] || die "no nova-$1 recorded"
    for c in $(descendants "$pid") "$pid"; do
        kill -KILL "$c" 2>/dev/null || true
    done
    for c in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && die "nova-$1 (pid $pid) survived SIGKILL"
    forget "nova-$1"
    log "killed nova-$1 (pid $pid)"
}

compute_runs() {
    local pid; pid=$(pid_of "nova-$1" || true)
    [ -n "$pid" ] && alive "$pid"
}

ensure_compute() {
    if compute_runs "$1"; then
        log "nova-$1 runs"
    else
        forget "nova-$1"
        start_compute "$1"
    fi
}

start_ceilometer() {
    spawn ceilometer-notification "$VB/ceilometer-agent-notification" \
        --config-file "$D/etc/ceilometer/ceilometer.conf"
}

stop_ceilometer() {
    local pid; pid=$(pid_of ceilometer-notification || true)
    [ -n "$pid" ] || die "no ceilometer-notification recorded"
    stop_pid "$pid" ceilometer-notification
    forget ceilometer-notification
    log "stopped ceilometer-notification (pid $pid)"
}

restart_ceilometer() {  # after stop_ceilometer: a clean start
    local q
    # Notifications sent while no agent ran would reach AODH as stale
    # events of finished sessions: drop them (a fresh start has none).
    for q in notifications.info notifications.error notifications.warn \
            notifications.audit notifications.critical notifications.debug \
            notifications.sample; do
        rabbitmqctl -q purge_queue -p "$MQ_VHOST" "$q" > /dev/null 2>&1 || true
    done
    start_ceilometer
    "$VB/python" "$HERE/helpers/wait_ready.py" consumers "$AMQP" \
        notifications.info --timeout 90 \
        || die "ceilometer not consuming (logs/ceilometer-*.log)"
}

stop_compute() {
    local pid; pid=$(pid_of "nova-$1" || true)
    [ -n "$pid" ] || die "no nova-$1 recorded"
    stop_pid "$pid" "nova-$1"
    forget "nova-$1"
    log "stopped nova-$1 (pid $pid)"
}

post_start() {
    local w="$VB/python $HERE/helpers/wait_ready.py"
    waitport "$P_NOVA" 60
    waitport "$P_AODH" 60
    # Computes register (compute_nodes rows), then get a host mapping.
    local C="--config-file $D/etc/nova/nova.conf --config-file $D/etc/nova/db.conf" i
    for i in $(seq 1 60); do
        "$VB/nova-manage" $C cell_v2 discover_hosts >> "$D/logs/db-sync.log" 2>&1 || true
        if [ "$(sql "SELECT COUNT(*) FROM ${DB_PREFIX}nova_api.host_mappings" | tail -1)" -ge "$N" ]; then
            break
        fi
        sleep 1
    done
    $w computes "$D/cloud.json" "$N" 120 || die "computes not up (logs/nova-compute*.log)"
    phase nova-computes-up
    $w consumers "$AMQP" notifications.info alarm.all.sample alarming.sample --timeout 90 \
        || die "ceilometer/aodh not consuming (logs/ceilometer-*.log, aodh-*.log)"
    $w aodh "$D/cloud.json" 60 || die "aodh API not answering"
    $w flavor "$D/cloud.json" || die "could not create the flavor"
    phase telemetry-ready
}

write_env() {
    cat > "$D/env.sh" <<EOF
export FENIX_INTEGRATION_DIR=$D
export FENIX_INTEGRATION_CLOUD=$D/cloud.json
export FENIX_INTEGRATION_FENIX_CONF=$D/etc/fenix/fenix.conf
export FENIX_INTEGRATION_STACK=$HERE/stack.sh
export OS_AUTH_URL=$AUTH_URL
export OS_USERNAME=admin OS_PASSWORD=$ADMIN_PASS OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default
export OS_IDENTITY_API_VERSION=3 OS_REGION_NAME=RegionOne
EOF
}

DBSYNC_PID=
on_start_failure() {
    local rc=$?
    if [ $rc -ne 0 ]; then
        if [ -n "$DBSYNC_PID" ]; then
            for c in $(descendants "$DBSYNC_PID"); do kill -KILL "$c" 2>/dev/null || true; done
        fi
        echo "[stack] start failed (rc $rc); last lines of the newest logs:" >&2
        ls -t "$D"/logs/*.log 2>/dev/null | head -3 | while read -r f; do
            echo "--- $f" >&2; tail -15 "$f" >&2
        done
        do_stop
    fi
}

do_start() {
    if [ -f "$PIDS" ] && [ -s "$PIDS" ]; then
        if do_status > /dev/null; then log "already running"; return 0; fi
        log "a previous start left processes behind: stopping them first"
        do_stop
    fi
    do_setup
    trap on_start_failure EXIT
    trap 'exit 130' INT TERM
    rm -rf "$D/logs" "$D/state" "$D/etc" "$D/run" "$D/cloud.json"
    mkdir -p "$D/logs" "$D/state" "$D/run"
    : > "$PIDS"
    prepare_backends
    write_configs
    sync_nova_dbs &
    DBSYNC_PID=$!
    start_keystone
    waitport "$P_KEYSTONE" 60
    "$VB/python" "$HERE/helpers/bootstrap_keystone.py" "$AUTH_URL" "$ADMIN_PASS" "$D/cloud.json" \
        "keystone=identity=$AUTH_URL" \
        "nova=compute=http://127.0.0.1:$P_NOVA/v2.1" \
        "placement=placement=http://127.0.0.1:$P_PLACEMENT" \
        "aodh=alarming=http://127.0.0.1:$P_AODH" \
        "fenix=maintenance=http://127.0.0.1:$P_FENIX/v1" \
        >> "$D/logs/bootstrap.log" 2>&1 || die "keystone entities (logs/bootstrap.log)"
    phase keystone
    wait "$DBSYNC_PID" || die "database sync failed (logs/db-sync.log)"
    DBSYNC_PID=
    phase db-sync
    start_services
    post_start
    "$VB/python" - "$D/cloud.json" <<EOF
import json, sys
p = sys.argv[1]
d = json.load(open(p))
d.update({'image_id': '$IMAGE_ID', 'flavor': 'fenix.half',
          'computes': ['compute%d' % i for i in range(1, $N + 1)],
          'transport_url': '$TRANSPORT', 'fenix_port': $P_FENIX,
          'fenix_db': '$(db_url fenix)', 'dir': '$D',
          'stack': '$HERE/stack.sh'})
json.dump(d, open(p, 'w'), indent=2, sort_keys=True)
EOF
    write_env
    trap - EXIT INT TERM
    phase ready
    log "ready: Keystone $AUTH_URL; source $D/env.sh (admin)"
}

usage() { sed -n '6,27p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

cmd=${1:-}
case "$cmd" in
    setup) mkdir -p "$D/run"; do_setup ;;
    start) mkdir -p "$D/run"; : > "$TIMES"; do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    stop-compute) stop_compute "${2:?computeN}" ;;
    start-compute) start_compute "${2:?computeN}" ;;
    restart-compute) stop_compute "${2:?computeN}"; start_compute "$2" ;;
    kill-compute) kill_compute "${2:?computeN}" ;;
    ensure-compute) ensure_compute "${2:?computeN}" ;;
    stop-ceilometer) stop_ceilometer ;;
    start-ceilometer) restart_ceilometer ;;
    env) cat "$D/env.sh" ;;
    *) usage ;;
esac
