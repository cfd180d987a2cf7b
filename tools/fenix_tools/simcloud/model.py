# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The compute side of the simulated cloud: hosts, services, flavors,
servers, server groups, migrations and instance actions.

Everything is kept in memory under one re-entrant lock (``cloud.lock``),
with indexes so that the servers of one host or all hypervisors are listed
in time proportional to the answer. Operations behave like Nova's: a cold
migration goes ACTIVE -> RESIZE (task ``resize_migrating``) -> VERIFY_RESIZE
on the target -> (confirm) ACTIVE; a live migration shows MIGRATING (task
``migrating``) and ends ACTIVE on the target; a failed migration leaves its
record in ``error`` and the server ACTIVE on its source, or in ERROR when a
nova-compute it needed went down during the move. Operations that take time
complete on the background timer thread.
"""
import collections
import hashlib
import itertools
import threading

from fenix_tools.simcloud import events as events_mod
from fenix_tools.simcloud import faults as faults_mod
from fenix_tools.simcloud import scheduler
from fenix_tools.simcloud import timers as timers_mod
from fenix_tools.simcloud import topology
from fenix_tools.simcloud import util

ZONE_COMPUTE = 'nova'
ZONE_INTERNAL = 'internal'

# vm_state -> {task_state: status}, 'default' otherwise (Nova's mapping)
_STATUS = {
    'active': {'default': 'ACTIVE', 'migrating': 'MIGRATING',
               'resize_prep': 'RESIZE', 'resize_migrating': 'RESIZE',
               'resize_migrated': 'RESIZE', 'resize_finish': 'RESIZE',
               'rebuilding': 'REBUILD', 'rebooting': 'REBOOT',
               'deleting': 'ACTIVE'},
    'building': {'default': 'BUILD'},
    'stopped': {'default': 'SHUTOFF', 'resize_prep': 'RESIZE',
                'resize_migrating': 'RESIZE', 'resize_migrated': 'RESIZE',
                'resize_finish': 'RESIZE', 'rebuilding': 'REBUILD'},
    'resized': {'default': 'VERIFY_RESIZE',
                'resize_reverting': 'REVERT_RESIZE'},
    'paused': {'default': 'PAUSED', 'migrating': 'MIGRATING'},
    'error': {'default': 'ERROR', 'rebuilding': 'REBUILD'},
    'deleted': {'default': 'DELETED'},
}

# Nova's default quota for metadata items, and the states (task_state
# None) in which metadata may change.
MAX_SERVER_META = 128
METADATA_VM_STATES = ('active', 'paused', 'suspended', 'stopped')

POWER_RUNNING = 1
POWER_SHUTDOWN = 4
POWER_NOSTATE = 0

IN_PROGRESS_LIVE = ('queued', 'preparing', 'running', 'post-migrating')
IN_PROGRESS = IN_PROGRESS_LIVE + ('accepted', 'pre-migrating', 'migrating',
                                  'confirming', 'reverting')


def server_status(vm_state, task_state):
    states = _STATUS.get(vm_state, {'default': 'UNKNOWN'})
    return states.get(task_state, states['default'])


class Host:
    __slots__ = ('name', 'type', 'vcpus', 'memory_mb', 'disk_gb', 'id',
                 'uuid', 'ip', 'state', 'servers', 'used', 'leaked',
                 'services', 'compute_service', 'state_changed',
                 'version', 'capabilities')

    def __init__(self, spec, host_id, ip):
        self.name = spec['name']
        self.type = spec['type']
        self.vcpus = spec['vcpus']
        self.memory_mb = spec['memory_mb']
        self.disk_gb = spec['disk_gb']
        self.id = host_id
        self.uuid = util.stable_uuid('hypervisor', self.name)
        self.ip = spec.get('ip') or ip
        self.state = spec.get('state', 'up')
        self.servers = set()
        self.used = [0, 0, 0]
        # Claimed in "Placement" by failed migrations (fault
        # ``leak_allocations``): the scheduler counts it, the hypervisor
        # view does not.
        self.leaked = [0, 0, 0]
        self.services = []
        self.compute_service = None
        self.state_changed = util.utcnow()
        self.version = spec.get('version') or topology.DEFAULT_HOST_VERSION
        self.capabilities = list(spec.get('capabilities') or ())


class Service:
    __slots__ = ('id', 'uuid', 'binary', 'host', 'zone', 'disabled',
                 'disabled_reason', 'forced_down', 'updated_at',
                 'created_at', 'down_time')

    def __init__(self, service_id, binary, host, spec):
        self.id = service_id
        self.uuid = util.stable_uuid('service', host.name + '/' + binary)
        self.binary = binary
        self.host = host
        self.zone = ZONE_COMPUTE if binary == 'nova-compute' else \
            ZONE_INTERNAL
        self.disabled = spec['disabled']
        self.disabled_reason = spec['disabled_reason']
        self.forced_down = spec['forced_down']
        self.created_at = self.updated_at = util.utcnow()
        # timing.service_down_time: how long a crashed host still reads up
        self.down_time = 0.0

    @property
    def state(self):
        """The reported state: with ``down_time`` > 0 a host that went
        down still reads 'up' until its heartbeat is that old (Nova's
        ``service_down_time``); ``forced_down`` is immediate."""
        if self.forced_down:
            return 'down'
        if self.host.state == 'up':
            return 'up'
        if self.down_time > 0 and (
                util.utcnow() - self.host.state_changed).total_seconds() \
                < self.down_time:
            return 'up'
        return 'down'


class Flavor:
    __slots__ = ('id', 'name', 'vcpus', 'ram', 'disk', 'ephemeral', 'swap',
                 'is_public', 'extra_specs', 'description')

    def __init__(self, spec):
        for key in self.__slots__:
            setattr(self, key, spec.get(key))


class ServerGroup:
    __slots__ = ('id', 'name', 'project_id', 'user_id', 'policy', 'rules',
                 'members', 'created')

    def __init__(self, group_id, name, project_id, user_id, policy, rules):
        self.id = group_id
        self.name = name
        self.project_id = project_id
        self.user_id = user_id
        self.policy = policy
        self.rules = dict(rules or {})
        self.members = []
        self.created = util.utcnow()


class Server:
    __slots__ = ('id', 'name', 'project_id', 'user_id', 'flavor',
                 'image_id', 'host', 'vm_state', 'task_state',
                 'power_state', 'created', 'updated', 'seq', 'addresses',
                 'group_id', 'metadata', 'fault', 'instance_name',
                 'launched_at', 'key_name', 'description', 'tags', 'locked',
                 'claims', 'old_vm_state', 'pending', 'migration_dest',
                 'migration_id', 'reservation_id', 'floating_ip')

    @property
    def status(self):
        return server_status(self.vm_state, self.task_state)


class Migration:
    __slots__ = ('id', 'uuid', 'instance_uuid', 'migration_type', 'status',
                 'source_compute', 'dest_compute', 'dest_host',
                 'created_at', 'updated_at', 'old_flavor_id',
                 'new_flavor_id', 'user_id', 'project_id', 'outcome',
                 'message')

    def __init__(self, mig_id, server, mtype, source, user_id, project_id):
        self.id = mig_id
        self.uuid = util.new_uuid()
        self.instance_uuid = server.id
        self.migration_type = mtype
        self.status = 'accepted'
        self.source_compute = source
        self.dest_compute = None
        self.dest_host = None
        self.created_at = self.updated_at = util.utcnow()
        self.old_flavor_id = self.new_flavor_id = server.flavor.id
        self.user_id = user_id
        self.project_id = project_id
        self.outcome = None
        self.message = None


class InstanceAction:
    __slots__ = ('action', 'request_id', 'instance_uuid', 'user_id',
                 'project_id', 'start_time', 'updated_at', 'message',
                 'events')

    def __init__(self, action, server, ctx):
        self.action = action
        # The id of the API request that started it (the one answered in
        # its X-Openstack-Request-Id), as Nova records it.
        self.request_id = getattr(ctx, 'request_id', None) or \
            util.request_id()
        self.instance_uuid = server.id
        self.user_id = ctx.user_id if ctx else server.user_id
        self.project_id = ctx.project_id if ctx else server.project_id
        self.start_time = self.updated_at = util.utcnow()
        self.message = None
        self.events = []

    def event(self, name, host=None, ok=True, traceback=None):
        now = util.utcnow()
        self.events.append({'event': name, 'start_time': now,
                            'finish_time': now,
                            'result': 'Success' if ok else 'Error',
                            'traceback': traceback, 'host': host})
        self.updated_at = now
        if not ok:
            self.message = 'Error'


class Cloud:
    """Hosts, services, flavors, servers, groups, migrations."""

    def __init__(self, topo, events=None, timers=None, lock=None):
        self.lock = lock or threading.RLock()
        self.events = events if events is not None else \
            events_mod.EventLog()
        self.timers = timers if timers is not None else timers_mod.Timers()
        self.faults = faults_mod.Faults(topo['faults'])
        self.timing = dict(topo['timing'])
        # Cold migrations waiting for a crashed host: {host: [(server,
        # migration, action)]} (see _hold_cold).
        self.held = {}
        self.sched = dict(topo['scheduler'])
        self.max_limit = topo['compute']['max_limit']
        self.hosts = {}
        self.hosts_by_id = {}
        self.hosts_by_uuid = {}
        self.compute_hosts = []
        self.services = {}
        self.services_by_uuid = {}
        self.flavors = {}
        self.flavors_by_name = {}
        self.servers = {}
        self.groups = {}
        self.migrations = {}
        self.migrations_by_uuid = {}
        self.actions = collections.defaultdict(list)
        self._seq = itertools.count(1)
        self._mig_ids = itertools.count(1)
        self._svc_ids = itertools.count(1)
        self._ips = itertools.count(10)
        self._fips = itertools.count(10)
        self._names = itertools.count(1)
        self._build(topo)

    # --- loading -------------------------------------------------------------

    def _build(self, topo):
        for index, spec in enumerate(topo['hosts']):
            ip = '192.168.%d.%d' % (index // 250, index % 250 + 2)
            host = Host(spec, index + 1, ip)
            self.hosts[host.name] = host
            self.hosts_by_id[host.id] = host
            self.hosts_by_uuid[host.uuid] = host
            for binary, sspec in spec['services'].items():
                svc = Service(next(self._svc_ids), binary, host, sspec)
                svc.down_time = self.timing.get('service_down_time', 0.0)
                host.services.append(svc)
                self.services[svc.id] = svc
                self.services_by_uuid[svc.uuid] = svc
                if binary == 'nova-compute':
                    host.compute_service = svc
            if host.type == 'compute':
                self.compute_hosts.append(host)
        for spec in topo['flavors']:
            self.add_flavor(spec)
        for spec in topo['server_groups']:
            group = ServerGroup(spec['id'], spec['name'], spec['project'],
                                spec.get('user'), spec['policy'],
                                spec['rules'])
            self.groups[group.id] = group
        for spec in topo['servers']:
            self._load_server(spec)
        self.events.record(
            'cloud.load', name=topo['name'], hosts=len(self.hosts),
            servers=len(self.servers), groups=len(self.groups),
            disabled_hosts=sorted(
                h.name for h in self.compute_hosts
                if h.compute_service and h.compute_service.disabled))

    def add_flavor(self, spec):
        flavor = Flavor(spec)
        self.flavors[flavor.id] = flavor
        self.flavors_by_name[flavor.name] = flavor
        return flavor

    def find_flavor(self, ref):
        return self.flavors.get(ref) or self.flavors_by_name.get(ref)

    def find_server(self, ref):
        """A server by id or (first match) name, or None."""
        with self.lock:
            return self.servers.get(ref) or next(
                (s for s in self.servers.values() if s.name == ref), None)

    def _new_server(self, server_id, name, project_id, user_id, flavor,
                    image_id, group_id=None, metadata=None):
        s = Server()
        s.id = server_id
        s.name = name
        s.project_id = project_id
        s.user_id = user_id or util.stable_hex('user', 'admin')
        s.flavor = flavor
        s.image_id = image_id
        s.host = None
        s.vm_state = 'building'
        s.task_state = 'scheduling'
        s.power_state = POWER_NOSTATE
        s.created = s.updated = util.utcnow()
        s.seq = next(self._seq)
        s.addresses = {}
        s.group_id = group_id
        s.metadata = dict(metadata or {})
        s.fault = None
        s.instance_name = 'instance-%08x' % s.seq
        s.launched_at = None
        s.key_name = None
        s.description = None
        s.tags = []
        s.locked = False
        s.claims = {}
        s.old_vm_state = None
        s.pending = None
        s.migration_dest = None
        s.migration_id = None
        s.reservation_id = 'r-%s' % util.new_uuid()[:8]
        s.floating_ip = None
        return s

    def _assign_ips(self, server, networks, floating):
        if networks == 'none':
            return
        n = next(self._ips)
        fixed = '10.0.%d.%d' % (n // 250, n % 250 + 2)
        mac = 'fa:16:3e:%02x:%02x:%02x' % ((n >> 16) & 255, (n >> 8) & 255,
                                           n & 255)
        entries = [{'addr': fixed, 'version': 4,
                    'OS-EXT-IPS:type': 'fixed',
                    'OS-EXT-IPS-MAC:mac_addr': mac}]
        if floating:
            if isinstance(floating, str):
                fip = floating
            else:
                f = next(self._fips)
                fip = '172.24.%d.%d' % (4 + f // 250, f % 250 + 2)
            entries.append({'addr': fip, 'version': 4,
                            'OS-EXT-IPS:type': 'floating',
                            'OS-EXT-IPS-MAC:mac_addr': mac})
            server.floating_ip = fip
        server.addresses = {'private': entries}

    def _load_server(self, spec):
        flavor = self.find_flavor(spec['flavor'])
        s = self._new_server(spec['id'], spec['name'], spec['project'],
                             spec.get('user'), flavor, spec['image'],
                             spec.get('server_group'), spec['metadata'])
        self._assign_ips(s, spec.get('networks', 'auto'),
                         spec['floating_ip'])
        group = self.groups.get(s.group_id) if s.group_id else None
        if group is not None:
            group.members.append(s.id)
        self.servers[s.id] = s
        host = None
        if spec.get('host'):
            host = self.hosts[spec['host']]
            why = scheduler.check_host(self, host, s, flavor, group=group)
            if why not in (None, 'ComputeFilter'):
                raise topology.TopologyError(
                    'servers: %s cannot be placed on %s (%s)'
                    % (s.name, host.name, why))
            if host.type != 'compute':
                raise topology.TopologyError(
                    'servers: %s: %s is not a compute host'
                    % (s.name, host.name))
        elif spec['vm_state'] != 'error':
            host, _ = scheduler.select_destination(self, s)
        if host is None:
            s.vm_state = 'error'
            s.task_state = None
            s.fault = {'code': 500, 'message': scheduler.NO_VALID_HOST,
                       'created': util.iso_z(util.utcnow())}
        else:
            self._claim(s, host)
            s.host = host.name
            host.servers.add(s.id)
            s.vm_state = spec['vm_state']
            s.task_state = None
            s.power_state = (POWER_SHUTDOWN if s.vm_state == 'stopped'
                             else POWER_RUNNING)
            s.launched_at = s.created
        self.actions[s.id].append(InstanceAction('create', s, None))
        self.events.record('server.create', server=s.id, name=s.name,
                           project=s.project_id, host=s.host,
                           status=s.status)

    # --- bookkeeping ---------------------------------------------------------

    def _claim(self, server, host):
        f = server.flavor
        amount = (f.vcpus, f.ram, f.disk + f.ephemeral)
        old = server.claims.get(host.name)
        if old:
            self._release(server, host.name)
        server.claims[host.name] = amount
        for i in range(3):
            host.used[i] += amount[i]

    def _release(self, server, host_name):
        amount = server.claims.pop(host_name, None)
        host = self.hosts.get(host_name)
        if amount and host is not None:
            for i in range(3):
                host.used[i] -= amount[i]

    def _set_state(self, server, vm_state=None, task_state=(),
                   power_state=None):
        before = (server.status, server.vm_state, server.task_state)
        if vm_state is not None:
            server.vm_state = vm_state
        if task_state != ():
            server.task_state = task_state
        if power_state is not None:
            server.power_state = power_state
        after = (server.status, server.vm_state, server.task_state)
        if after != before:
            server.updated = util.utcnow()
            self.events.record('server.state', server=server.id,
                               name=server.name, host=server.host,
                               status=after[0], vm_state=after[1],
                               task_state=after[2], previous=before[0])

    def _set_host(self, server, host_name):
        old = server.host
        if old == host_name:
            return
        if old and old in self.hosts:
            self.hosts[old].servers.discard(server.id)
        server.host = host_name
        if host_name:
            self.hosts[host_name].servers.add(server.id)
        server.updated = util.utcnow()
        self.events.record('server.host', server=server.id,
                           name=server.name, host=host_name,
                           previous_host=old)

    def _action(self, server, ctx, name):
        action = InstanceAction(name, server, ctx)
        self.actions[server.id].append(action)
        return action

    def _new_migration(self, server, ctx, mtype):
        mig = Migration(next(self._mig_ids), server, mtype, server.host,
                        ctx.user_id if ctx else None,
                        ctx.project_id if ctx else server.project_id)
        self.migrations[mig.id] = mig
        self.migrations_by_uuid[mig.uuid] = mig
        server.migration_id = mig.id
        return mig

    def _mig_status(self, mig, status):
        mig.status = status
        mig.updated_at = util.utcnow()

    def _host_up(self, name):
        host = self.hosts.get(name)
        return bool(host and host.state == 'up' and host.compute_service and
                    not host.compute_service.forced_down)

    @staticmethod
    def _check_state(server, action, vm_states, task_states=(None,)):
        if server.locked:
            raise util.Conflict('Instance %s is locked' % server.id)
        if server.vm_state not in vm_states:
            raise util.Conflict(
                "Cannot '%s' instance %s while it is in vm_state %s"
                % (action, server.id, server.vm_state))
        if server.task_state not in task_states:
            raise util.Conflict(
                "Cannot '%s' instance %s while it is in task_state %s"
                % (action, server.id, server.task_state))

    def _reported_up(self, name):
        """Whether ``name``'s nova-compute reads up (see Service.state)."""
        host = self.hosts.get(name)
        return bool(host and host.compute_service and
                    host.compute_service.state == 'up')

    def _check_up(self, host):
        """Nova's API refusal (ServiceUnavailable, 409) of an operation
        that needs ``host``'s nova-compute when it is known down."""
        if host and not self._reported_up(host):
            raise util.Conflict('Service is unavailable at this time.')

    def _target_host(self, name):
        host = self.hosts.get(name)
        if host is None or host.type != 'compute':
            raise util.BadRequest('Compute host %s could not be found.'
                                  % name)
        return host

    def _fail_migration(self, server, mig, action, reason, vm_state=None,
                        leak=False, event=None):
        """End a move in failure.

        The server keeps its current host; the claim on the migration's
        other host is released (or leaked, see :meth:`_leak`). With
        ``vm_state='error'`` the server goes to ERROR with a fault, as Nova
        does when a compute fails a move, and answers 409 to further moves
        until ``os-resetState``.
        """
        other = (mig.source_compute if server.host == mig.dest_compute
                 else mig.dest_compute)
        if other and leak:
            self._leak(server, other, mig)
        elif other:
            self._release(server, other)
        self._mig_status(mig, 'error')
        mig.message = reason
        server.migration_dest = None
        if vm_state == 'error':
            server.fault = {'code': 500, 'message': reason,
                            'created': util.iso_z(util.utcnow())}
            self._set_state(server, vm_state='error', task_state=None)
        else:
            self._set_state(server, task_state=None)
        if action is not None:
            action.event(event or self._event_name(mig),
                         host=mig.source_compute, ok=False, traceback=reason)
        self.events.record('migration.error', server=server.id,
                           name=server.name, migration=mig.id,
                           type=mig.migration_type,
                           source=mig.source_compute,
                           dest=mig.dest_compute, reason=reason,
                           vm_state=server.vm_state)

    def _refuse_move(self, server, mig, action, event, reason):
        """A move the conductor could not start (no valid host...)."""
        action.event(event, ok=False, traceback=reason)
        self._fail_migration(server, mig, None, reason)

    def _leak(self, server, host_name, mig):
        """Keep a failed move's claim on ``host_name`` for the scheduler
        only (a Placement allocation nobody owns any more)."""
        amount = server.claims.pop(host_name, None)
        host = self.hosts.get(host_name)
        if not amount or host is None:
            return
        for i in range(3):
            host.used[i] -= amount[i]
            host.leaked[i] += amount[i]
        self.events.record('allocation.leak', server=server.id,
                           name=server.name, host=host_name,
                           migration=mig.id, vcpus=amount[0],
                           memory_mb=amount[1], disk_gb=amount[2])

    def heal_allocations(self):
        """Drop every leaked claim (what an operator does with
        ``nova-manage placement audit --delete``); returns the hosts."""
        with self.lock:
            healed = sorted(h.name for h in self.hosts.values()
                            if any(h.leaked))
            for name in healed:
                self.hosts[name].leaked = [0, 0, 0]
            if healed:
                self.events.record('allocation.heal', hosts=healed)
            return healed

    def _down_reason(self, *hosts):
        """Why a move cannot go on: one of ``hosts`` is down (or None)."""
        for name in hosts:
            if name and not self._host_up(name):
                return 'Compute service of %s is unavailable at this ' \
                       'time.' % name
        return None

    @staticmethod
    def _event_name(mig):
        return {'migration': 'compute_resize_instance',
                'live-migration': 'compute_live_migration',
                'evacuation': 'compute_rebuild_instance'}.get(
                    mig.migration_type, 'compute_' + mig.migration_type)

    def _latest_action(self, server, name):
        for action in reversed(self.actions.get(server.id, ())):
            if action.action == name:
                return action
        return None

    def _start_timer(self, server, delay, func):
        if delay <= 0:
            func()
            return
        server.pending = self.timers.call_later(delay, func)

    def _start_move(self, server, mig, dest, mtype, status, task_state,
                    finish):
        """Claim ``dest`` for a move and run ``finish`` when it is due."""
        mig.dest_compute = dest.name
        mig.dest_host = dest.ip
        self._claim(server, dest)
        server.migration_dest = dest.name
        outcome = self.faults.migration_outcome(
            mtype, server, mig.source_compute, dest.name)
        mig.outcome = outcome
        if outcome.fail:
            self.events.record('fault.trigger', server=server.id,
                               migration=mig.id, type=mtype,
                               source=mig.source_compute, dest=dest.name,
                               rule=outcome.rule, reason=outcome.reason)
        self._mig_status(mig, status)
        self._set_state(server, task_state=task_state)
        self.events.record('migration.start', server=server.id,
                           name=server.name, migration=mig.id, type=mtype,
                           source=mig.source_compute, dest=dest.name)
        duration = outcome.duration
        if duration is None:
            duration = self.timing[{'cold': 'cold_migration',
                                    'live': 'live_migration'}.get(mtype,
                                                                  mtype)]
        self._start_timer(server, duration, finish)

    def _schedule(self, server, mig, action, event, host=None):
        """The scheduler's destination for a move, or None: then the move
        is refused (migration in error, server unchanged)."""
        dest, reasons = scheduler.select_destination(
            self, server, exclude={server.host}, only=host)
        if dest is None:
            self._refuse_move(server, mig, action, event, '%s (filters: %s)'
                              % (scheduler.NO_VALID_HOST, reasons))
        return dest

    def _arrive(self, server, mig, action, status, mtype, event, event_host,
                **state):
        """A move puts the server on its destination (a cold migration
        keeps the source's claim until the resize is confirmed)."""
        if mtype != 'cold':
            self._release(server, mig.source_compute)
        server.migration_dest = None
        self._set_host(server, mig.dest_compute)
        self._mig_status(mig, status)
        action.event(event, host=event_host)
        self._set_state(server, task_state=None, **state)
        self.events.record('migration.finish', server=server.id,
                           name=server.name, migration=mig.id, type=mtype,
                           source=mig.source_compute, dest=mig.dest_compute)

    def _end_resize(self, server, mig, action, status, event, kind):
        """A confirmed or reverted resize: back to the state before it."""
        self._mig_status(mig, status)
        action.event(event, host=mig.source_compute)
        back = server.old_vm_state or 'active'
        self._set_state(server, vm_state=back, task_state=None,
                        power_state=(POWER_SHUTDOWN if back == 'stopped'
                                     else POWER_RUNNING))
        self.events.record('migration.' + kind, server=server.id,
                           name=server.name, migration=mig.id,
                           source=mig.source_compute, dest=mig.dest_compute)

    def _landed(self, server, mig, status, action, hosts, event=None,
                outcome=None):
        """Whether a move due now may complete.

        False when it no longer applies (server deleted, migration no
        longer in ``status``) or when it fails now: an injected fault, or
        one of ``hosts`` went down meanwhile (then, as with real Nova, the
        server goes to ERROR).
        """
        server.pending = None
        if server.id not in self.servers or mig.status != status:
            return False
        if outcome is not None and outcome.fail:
            self._fail_migration(server, mig, action, outcome.reason,
                                 outcome.vm_state, outcome.leak, event)
            return False
        reason = self._down_reason(*hosts)
        if reason:
            self._fail_migration(server, mig, action, reason, 'error',
                                 self.faults.leak_allocations, event)
            return False
        return True

    # --- services and hosts --------------------------------------------------

    def update_service(self, svc, status=None, disabled_reason=None,
                       forced_down=None):
        """Change a service; ``status`` is 'enabled' or 'disabled'."""
        with self.lock:
            before = (svc.disabled, svc.disabled_reason, svc.forced_down)
            if status == 'disabled':
                svc.disabled = True
                svc.disabled_reason = disabled_reason
            elif status == 'enabled':
                svc.disabled = False
                svc.disabled_reason = None
            if forced_down is not None:
                svc.forced_down = bool(forced_down)
            after = (svc.disabled, svc.disabled_reason, svc.forced_down)
            svc.updated_at = util.utcnow()
            if after != before:
                self.events.record(
                    'service.update', host=svc.host.name, binary=svc.binary,
                    service=svc.uuid, disabled=svc.disabled,
                    disabled_reason=svc.disabled_reason,
                    forced_down=svc.forced_down,
                    previous={'disabled': before[0],
                              'disabled_reason': before[1],
                              'forced_down': before[2]})
            return svc

    def set_host_state(self, name, state):
        """Simulate a host crash (``down``) or its return (``up``)."""
        with self.lock:
            host = util.find(self.hosts, name, 'Host %s not found' % name)
            if state not in ('up', 'down'):
                raise util.BadRequest('state must be up or down')
            if host.state != state:
                host.state = state
                host.state_changed = util.utcnow()
                self.events.record('host.state', host=name, state=state)
                if state == 'up':
                    self._release_held(name)
            return host

    def upgrade_host(self, name, version, capabilities=None):
        """Install ``version`` on a host (an action plug-in's upgrade):
        it then advertises that version and ``capabilities`` (kept as
        they are when None). Recorded as ``host.upgrade`` with what the
        host held at that moment (servers, and whether its nova-compute
        was disabled), so that a test sees an upgrade made while the host
        was not empty. Returns (host view, changed): the same version and
        capabilities again change nothing and record nothing."""
        with self.lock:
            host = util.find(self.hosts, name, 'Host %s not found' % name)
            if not isinstance(version, str) or not version:
                raise util.BadRequest("'version' is required (a string).")
            caps = sorted(set(host.capabilities if capabilities is None
                              else (str(c) for c in capabilities)))
            changed = (version, caps) != (host.version,
                                          sorted(host.capabilities))
            if changed:
                svc = host.compute_service
                self.events.record(
                    'host.upgrade', host=name, version=version,
                    previous=host.version, capabilities=caps,
                    servers=sorted(host.servers),
                    disabled=bool(svc and svc.disabled))
                host.version, host.capabilities = version, caps
            return self.host_software(name), changed

    def host_software(self, name):
        """What the control API shows of a host's software."""
        with self.lock:
            host = util.find(self.hosts, name, 'Host %s not found' % name)
            svc = host.compute_service
            return {'host': name, 'version': host.version,
                    'capabilities': sorted(host.capabilities),
                    'state': host.state, 'servers': len(host.servers),
                    'disabled': bool(svc and svc.disabled)}

    def find_service(self, host, binary):
        h = self.hosts.get(host)
        if h is not None:
            for svc in h.services:
                if svc.binary == binary:
                    return svc
        return None

    # --- servers -------------------------------------------------------------

    def create_server(self, ctx, name, flavor, image_id, group=None,
                      networks='auto', forced_host=None, requested_host=None,
                      metadata=None, key_name=None, description=None,
                      floating_ip=False, server_id=None):
        with self.lock:
            s = self._new_server(server_id or util.new_uuid(), name,
                                 ctx.project_id, ctx.user_id, flavor,
                                 image_id, group.id if group else None,
                                 metadata)
            s.key_name = key_name
            s.description = description
            self._assign_ips(s, networks, floating_ip)
            if group is not None:
                group.members.append(s.id)
            self.servers[s.id] = s
            action = self._action(s, ctx, 'create')
            self.events.record('server.create', server=s.id, name=s.name,
                               project=s.project_id, host=None,
                               status=s.status)
            if forced_host is not None:
                host = self.hosts.get(forced_host)
                if host is None or host.type != 'compute':
                    host = None
                reasons = {'ForcedHost': 1}
            else:
                host, reasons = scheduler.select_destination(
                    self, s, only=requested_host)
            if host is None:
                s.fault = {'code': 500, 'message': scheduler.NO_VALID_HOST,
                           'created': util.iso_z(util.utcnow()),
                           'details': 'filters: %s' % reasons}
                action.event('conductor_schedule_and_build_instances',
                             ok=False, traceback=scheduler.NO_VALID_HOST)
                self._set_state(s, vm_state='error', task_state=None)
                return s
            self._claim(s, host)
            self._set_host(s, host.name)
            self._set_state(s, task_state='spawning')

            def finish():
                with self.lock:
                    s.pending = None
                    if s.id not in self.servers or \
                            s.vm_state != 'building':
                        return
                    s.launched_at = util.utcnow()
                    action.event('compute_build_and_run_instance',
                                 host=s.host)
                    self._set_state(s, vm_state='active', task_state=None,
                                    power_state=POWER_RUNNING)

            self._start_timer(s, self.timing['boot'], finish)
            return s

    def delete_server(self, ctx, server):
        with self.lock:
            if server.locked:
                raise util.Conflict('Instance %s is locked' % server.id)
            self._action(server, ctx, 'delete')

            def finish():
                with self.lock:
                    if server.id not in self.servers:
                        return
                    self._remove_server(server)

            if self.timing['delete'] > 0:
                if server.pending is not None:
                    server.pending.cancel()
                self._set_state(server, task_state='deleting')
                server.pending = self.timers.call_later(
                    self.timing['delete'], finish)
            else:
                finish()

    def _remove_server(self, server):
        if server.pending is not None:
            server.pending.cancel()
            server.pending = None
        mig = self.migrations.get(server.migration_id)
        if mig is not None and mig.status in IN_PROGRESS:
            self._mig_status(mig, 'error')
            mig.message = 'Instance deleted during migration'
        # Nova soft-deletes an instance's migration records with it: they
        # are no longer listed by os-migrations.
        for mig in [m for m in self.migrations.values()
                    if m.instance_uuid == server.id]:
            del self.migrations[mig.id]
            self.migrations_by_uuid.pop(mig.uuid, None)
        for host_name in list(server.claims):
            self._release(server, host_name)
        group = self.groups.get(server.group_id)
        if group is not None and server.id in group.members:
            group.members.remove(server.id)
        if server.host and server.host in self.hosts:
            self.hosts[server.host].servers.discard(server.id)
        host = server.host
        server.vm_state = 'deleted'
        server.task_state = None
        del self.servers[server.id]
        self.events.record('server.delete', server=server.id,
                           name=server.name, host=host,
                           previous_host=host)

    def stop_server(self, ctx, server):
        with self.lock:
            self._check_state(server, 'stop', ('active', 'error'))
            self._check_up(server.host)
            self._action(server, ctx, 'stop').event('compute_stop_instance',
                                                    host=server.host)
            self._set_state(server, vm_state='stopped',
                            power_state=POWER_SHUTDOWN)

    def start_server(self, ctx, server):
        with self.lock:
            self._check_state(server, 'start', ('stopped',))
            self._check_up(server.host)
            self._action(server, ctx, 'start').event(
                'compute_start_instance', host=server.host)
            self._set_state(server, vm_state='active',
                            power_state=POWER_RUNNING)

    def update_metadata(self, ctx, server, metadata, replace=False):
        """Merge ``metadata`` into the server's (or replace it all).

        Nova's rules: not while locked, only in a stable state (else 409),
        at most :data:`MAX_SERVER_META` items (else 403). Returns the
        server's metadata.
        """
        with self.lock:
            self._check_state(server, 'update metadata', METADATA_VM_STATES)
            new = dict(metadata) if replace else dict(server.metadata,
                                                      **metadata)
            if len(new) > MAX_SERVER_META:
                raise util.Forbidden('Maximum number of metadata items '
                                     'exceeds %d' % MAX_SERVER_META)
            self._set_metadata(server, new)
            return dict(new)

    def delete_metadata(self, ctx, server, key):
        with self.lock:
            if key not in server.metadata:
                raise util.NotFound('Metadata item was not found')
            self._check_state(server, 'delete metadata', METADATA_VM_STATES)
            new = dict(server.metadata)
            del new[key]
            self._set_metadata(server, new)

    def _set_metadata(self, server, new):
        if new == server.metadata:
            return
        previous, server.metadata = server.metadata, new
        server.updated = util.utcnow()
        self.events.record('server.metadata', server=server.id,
                           name=server.name, metadata=dict(new),
                           previous=previous)

    def reset_state(self, ctx, server, state):
        with self.lock:
            if state not in ('active', 'error'):
                raise util.BadRequest("Invalid input for field/attribute "
                                      "state. Value: %s." % state)
            self._action(server, ctx, 'resetState')
            self._set_state(server, vm_state=state, task_state=None)

    # --- cold migration ------------------------------------------------------

    def cold_migrate(self, ctx, server, host=None):
        with self.lock:
            self._check_state(server, 'migrate', ('active', 'stopped'))
            self._check_up(server.host)
            if host is not None:
                self._target_host(host)
                if host == server.host:
                    raise util.BadRequest(
                        'Unable to migrate instance (%s) to current host '
                        '(%s).' % (server.id, host))
            action = self._action(server, ctx, 'migrate')
            mig = self._new_migration(server, ctx, 'migration')
            self._mig_status(mig, 'pre-migrating')
            dest = self._schedule(server, mig, action,
                                  'conductor_migrate_server', host)
            if dest is None:
                raise util.BadRequest(
                    'No valid host was found. No valid host found for cold '
                    'migrate')
            server.old_vm_state = server.vm_state
            action.event('conductor_migrate_server')
            self._start_move(server, mig, dest, 'cold', 'migrating',
                             'resize_migrating',
                             lambda: self._finish_cold(server, mig, action))
            return mig

    def _finish_cold(self, server, mig, action):
        with self.lock:
            if self._hold_cold(server, mig, action):
                return
            if not self._landed(server, mig, 'migrating', action,
                                (mig.dest_compute, mig.source_compute),
                                outcome=mig.outcome):
                return
            self._arrive(server, mig, action, 'finished', 'cold',
                         'compute_finish_resize', mig.dest_compute,
                         vm_state='resized')

    def _hold_cold(self, server, mig, action):
        """With ``timing.service_down_time`` > 0 (Nova has not noticed a
        crash yet): a cold migration due while its source or destination
        host is down waits in Nova, as the RPC waits in the compute's
        queue: migration ``pre-migrating``, server ``resize_prep``, until
        the host is up again (:meth:`_release_held`). True when held."""
        if self.timing.get('service_down_time', 0) <= 0 or \
                server.id not in self.servers or mig.status != 'migrating':
            return False
        for name in (mig.source_compute, mig.dest_compute):
            if name and not self._host_up(name):
                self._mig_status(mig, 'pre-migrating')
                self._set_state(server, task_state='resize_prep')
                self.held.setdefault(name, []).append((server, mig, action))
                self.events.record('migration.held', server=server.id,
                                   name=server.name, migration=mig.id,
                                   host=name)
                return True
        return False

    def _release_held(self, name):
        """``name`` is up again: the moves held for it go on. Its own
        servers' moves (it was their source): the restarted compute first
        clears the task (the server rests on it, ACTIVE), then the queued
        resize fails on it (server ERROR). Moves to it: run again."""
        for server, mig, action in self.held.pop(name, ()):
            if server.id not in self.servers or \
                    mig.status != 'pre-migrating':
                continue
            if name == mig.source_compute:
                self._set_state(server, task_state=None)
                self.events.record('migration.task_cleared',
                                   server=server.id, name=server.name,
                                   migration=mig.id, host=name)
                self._start_timer(server, self.timing['cold_migration'],
                                  lambda s=server, m=mig, a=action:
                                  self._fail_queued(s, m, a))
            else:
                self._start_move(
                    server, mig, self.hosts[mig.dest_compute], 'cold',
                    'migrating', 'resize_migrating',
                    lambda s=server, m=mig, a=action:
                    self._finish_cold(s, m, a))

    def _fail_queued(self, server, mig, action):
        with self.lock:
            server.pending = None
            if server.id not in self.servers or \
                    mig.status != 'pre-migrating':
                return
            self._fail_migration(
                server, mig, action,
                "Conflict updating instance %s. Expected: {'task_state': "
                "['resize_prep']}. Actual: {'task_state': None}"
                % server.id, 'error', False, 'compute_resize_instance')

    def _resized_migration(self, server, action):
        self._check_state(server, action, ('resized',))
        mig = self.migrations.get(server.migration_id)
        if mig is None or mig.status != 'finished':
            raise util.BadRequest('Instance has not been resized.')
        return mig

    def confirm_resize(self, ctx, server):
        with self.lock:
            mig = self._resized_migration(server, 'confirmResize')
            # compute.api: the migration's source compute must be up.
            self._check_up(mig.source_compute)
            action = self._action(server, ctx, 'confirmResize')
            self._mig_status(mig, 'confirming')

            def finish():
                with self.lock:
                    # Confirming cleans the source up, on the source.
                    if not self._landed(server, mig, 'confirming', action,
                                        (mig.source_compute,),
                                        event='compute_confirm_resize'):
                        return
                    self._release(server, mig.source_compute)
                    self._end_resize(server, mig, action, 'confirmed',
                                     'compute_confirm_resize', 'confirm')

            self._start_timer(server, self.timing['confirm_resize'], finish)

    def revert_resize(self, ctx, server):
        with self.lock:
            mig = self._resized_migration(server, 'revertResize')
            action = self._action(server, ctx, 'revertResize')
            self._mig_status(mig, 'reverting')
            self._set_state(server, task_state='resize_reverting')

            def finish():
                with self.lock:
                    # Reverting runs on the destination, then the source.
                    if not self._landed(server, mig, 'reverting', action,
                                        (mig.dest_compute,
                                         mig.source_compute),
                                        event='compute_revert_resize'):
                        return
                    self._release(server, mig.dest_compute)
                    self._set_host(server, mig.source_compute)
                    self._end_resize(server, mig, action, 'reverted',
                                     'compute_finish_revert_resize',
                                     'revert')

            self._start_timer(server, self.timing['revert_resize'], finish)

    # --- live migration ------------------------------------------------------

    def live_migrate(self, ctx, server, host=None, force=False,
                     async_=True):
        with self.lock:
            self._check_state(server, 'os-migrateLive',
                              ('active', 'paused'))
            if host is not None:
                self._target_host(host)
            action = self._action(server, ctx, 'live-migration')
            mig = self._new_migration(server, ctx, 'live-migration')
            # The conductor's checks: ComputeServiceUnavailable, self
            # migration, then the scheduler (or the forced host).
            dest = None
            reason = self._down_reason(server.host)
            if reason is None and host is not None and host == server.host:
                reason = 'Unable to migrate instance (%s) to current host ' \
                         '(%s).' % (server.id, host)
            elif reason is None and host is not None and force:
                reason = self._down_reason(host)
                dest = self.hosts[host]
            if reason is not None:
                self._refuse_move(server, mig, action,
                                  'conductor_live_migrate_instance', reason)
                dest = None
            elif dest is None:
                dest = self._schedule(server, mig, action,
                                      'conductor_live_migrate_instance', host)
            if dest is None:
                if not async_:
                    raise util.BadRequest(mig.message)
                return mig
            action.event('conductor_live_migrate_instance')
            self._start_move(server, mig, dest, 'live', 'running',
                             'migrating',
                             lambda: self._finish_live(server, mig, action))
            return mig

    def _finish_live(self, server, mig, action):
        with self.lock:
            if not self._landed(server, mig, 'running', action,
                                (mig.dest_compute, mig.source_compute),
                                outcome=mig.outcome):
                return
            self._arrive(server, mig, action, 'completed', 'live',
                         'compute_live_migration', mig.source_compute)

    def _live_migration_of(self, server, migration_id):
        return util.find(
            self.migrations, migration_id,
            'Migration %s could not be found for instance %s'
            % (migration_id, server.id),
            lambda m: (m.instance_uuid == server.id and
                       m.migration_type == 'live-migration'))

    def abort_live_migration(self, ctx, server, migration_id):
        with self.lock:
            mig = self._live_migration_of(server, migration_id)
            if mig.status not in IN_PROGRESS_LIVE:
                raise util.BadRequest(
                    'Migration %s state of instance %s is %s. Cannot abort '
                    'live migration.' % (mig.id, server.id, mig.status))
            if server.pending is not None:
                server.pending.cancel()
                server.pending = None
            self._release(server, mig.dest_compute)
            server.migration_dest = None
            self._mig_status(mig, 'cancelled')
            self._set_state(server, task_state=None)
            self._action(server, ctx, 'live_migration_abort')
            self.events.record('migration.cancel', server=server.id,
                               name=server.name, migration=mig.id,
                               source=mig.source_compute,
                               dest=mig.dest_compute)

    def force_complete(self, ctx, server, migration_id):
        with self.lock:
            mig = self._live_migration_of(server, migration_id)
            if mig.status != 'running':
                raise util.BadRequest(
                    'Migration %s state of instance %s is %s. Cannot force '
                    'complete while the migration is in this state.'
                    % (mig.id, server.id, mig.status))
            if server.pending is not None:
                server.pending.cancel()
                server.pending = None
            action = self._latest_action(server, 'live-migration')
            self._finish_live(server, mig, action)

    # --- evacuation ----------------------------------------------------------

    def evacuate(self, ctx, server, host=None, force=False, stopped=False):
        with self.lock:
            self._check_state(server, 'evacuate',
                              ('active', 'stopped', 'error'))
            if server.host and self._host_up(server.host):
                raise util.BadRequest('Compute service of %s is still in '
                                      'use.' % server.host)
            if host is not None:
                if host not in self.hosts or \
                        self.hosts[host].type != 'compute':
                    raise util.NotFound('Compute host %s not found.' % host)
                if host == server.host:
                    raise util.BadRequest("The target host can't be the "
                                          "same one.")
            action = self._action(server, ctx, 'evacuate')
            mig = self._new_migration(server, ctx, 'evacuation')
            if host is not None and force:
                dest = self.hosts[host]
            else:
                dest = self._schedule(server, mig, action,
                                      'conductor_rebuild_server', host)
            if dest is None:
                return mig

            def finish():
                with self.lock:
                    # The source is down by definition: only the
                    # destination matters.
                    if not self._landed(server, mig, 'pre-migrating',
                                        action, (mig.dest_compute,),
                                        outcome=mig.outcome):
                        return
                    self._arrive(
                        server, mig, action, 'done', 'evacuate',
                        'compute_rebuild_instance', mig.dest_compute,
                        vm_state='stopped' if stopped else 'active',
                        power_state=(POWER_SHUTDOWN if stopped
                                     else POWER_RUNNING))

            self._start_move(server, mig, dest, 'evacuate', 'pre-migrating',
                             'rebuilding', finish)
            return mig

    # --- server groups -------------------------------------------------------

    def create_group(self, ctx, name, policy, rules=None):
        with self.lock:
            group = ServerGroup(util.new_uuid(), name, ctx.project_id,
                                ctx.user_id, policy, rules)
            self.groups[group.id] = group
            self.events.record('server_group.create', group=group.id,
                               name=name, policy=policy,
                               project=ctx.project_id)
            return group

    def delete_group(self, group):
        with self.lock:
            self.groups.pop(group.id, None)
            for member in group.members:
                server = self.servers.get(member)
                if server is not None and server.group_id == group.id:
                    server.group_id = None
            self.events.record('server_group.delete', group=group.id,
                               name=group.name, project=group.project_id)

    # --- queries -------------------------------------------------------------

    def busy(self):
        """True while a migration/boot/confirm is in flight."""
        with self.lock:
            return any(s.pending is not None for s in self.servers.values())

    def host_id(self, server):
        """Nova's ``hostId``: opaque per (project, host)."""
        if not server.host:
            return ''
        return hashlib.sha224(
            (server.project_id + server.host).encode()).hexdigest()

    def snapshot(self):
        """The whole compute state as JSON-able data.

        Used by ``/sim/topology`` and the state file; loadable again as a
        topology.
        """
        with self.lock:
            hosts = []
            for h in self.hosts.values():
                hosts.append({
                    'name': h.name, 'type': h.type, 'vcpus': h.vcpus,
                    'memory_mb': h.memory_mb, 'disk_gb': h.disk_gb,
                    'ip': h.ip, 'state': h.state, 'version': h.version,
                    'capabilities': sorted(h.capabilities),
                    'services': {s.binary: {
                        'disabled': s.disabled,
                        'disabled_reason': s.disabled_reason,
                        'forced_down': s.forced_down} for s in h.services},
                    'usage': {'vcpus': h.used[0], 'memory_mb': h.used[1],
                              'disk_gb': h.used[2]},
                    'leaked': {'vcpus': h.leaked[0],
                               'memory_mb': h.leaked[1],
                               'disk_gb': h.leaked[2]},
                    'servers': sorted(h.servers)})
            servers = []
            for s in self.servers.values():
                servers.append({
                    'id': s.id, 'name': s.name, 'project': s.project_id,
                    'user': s.user_id, 'flavor': s.flavor.id,
                    'image': s.image_id, 'host': s.host,
                    'floating_ip': s.floating_ip or False,
                    'server_group': s.group_id,
                    'vm_state': (s.vm_state if s.vm_state in (
                        'active', 'stopped', 'error') else 'active'),
                    'status': s.status, 'task_state': s.task_state,
                    'metadata': s.metadata})
            return {
                'hosts': hosts,
                'flavors': [{k: getattr(f, k) for k in Flavor.__slots__}
                            for f in self.flavors.values()],
                'server_groups': [{
                    'id': g.id, 'name': g.name, 'project': g.project_id,
                    'user': g.user_id, 'policy': g.policy,
                    'rules': g.rules, 'members': list(g.members)}
                    for g in self.groups.values()],
                'servers': servers,
                'timing': dict(self.timing),
                'scheduler': dict(self.sched),
                'faults': self.faults.to_dict(),
            }
