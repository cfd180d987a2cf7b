# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""In-memory stand-ins for the Cloud facade and a VNFM, and the real
notifier with its outbox sent at once (:class:`FakeNotifier`).

:class:`FakeCloud` answers like :class:`fenix.common.cloud.Cloud` from
dicts: hosts with capacity and a nova-compute service, servers with
flavors, server groups, managers. ``move()`` relocates a server at once to
the given host or to the enabled host with most free RAM that fits (and
respects anti-affinity), as Nova's scheduler would; it refuses disabled
or full hosts (``target_refused``, as :meth:`Cloud.move` says it). It
also watches for what must never happen (a host put in maintenance while
it holds a server) and keeps a log of calls.
"""
import collections
import os
import threading
from unittest import mock

from oslo_config import cfg

from fenix.common import context
from fenix.common import exception
from fenix.common import notifier
from fenix.common import states as st
from fenix.common import timeutils
from fenix.engine import manager
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.tests import outbox_fixture

CONF = cfg.CONF


class FakeCloud(object):

    def __init__(self):
        self.lock = threading.RLock()
        self.hosts = collections.OrderedDict()
        self.controllers = []
        self.servers_ = collections.OrderedDict()
        self.groups = []
        self.managers = set()
        self.calls = []
        self.moves = []
        # server id -> message: every move of it fails with that message.
        self.fail_moves = {}
        # Called (server id, kind, host) before a move; a dict it returns
        # is the move's result.
        self.move_hook = None
        # Called (server id) whenever one server is read.
        self.on_server_read = None

    def disable_first_target(self):
        """The first move's target is disabled just before Nova gets the
        request (another session started maintaining it); this fake
        refuses it as Nova does ("No valid host"). Returns the list that
        gets the disabled host."""
        dead = []

        def hook(server_id, kind, host):
            if not dead and host:
                dead.append(host)
                with self.lock:
                    self.hosts[host].update(
                        status='disabled', reason='maintenance by another '
                                                  'session')
            return None

        self.move_hook = hook
        return dead

    # --- building the cloud -------------------------------------------------
    def add_host(self, name, vcpus=4, ram=8192, disk=80, status='enabled',
                 reason=None, state='up'):
        self.hosts[name] = {'vcpus': vcpus, 'ram': ram, 'disk': disk,
                            'status': status, 'reason': reason,
                            'state': state}

    def add_server(self, sid, host, project='p1', vcpus=2, ram=4096,
                   disk=40, floating_ip=False, name=None,
                   vm_state='active'):
        with self.lock:
            self.servers_[sid] = {
                'id': sid, 'name': name or sid, 'project_id': project,
                'user_id': 'u', 'host': host,
                'status': 'ACTIVE' if vm_state == 'active' else
                vm_state.upper(),
                'vm_state': vm_state, 'task_state': None,
                'flavor': {'vcpus': vcpus, 'ram': ram, 'disk': disk},
                'floating_ip': floating_ip, 'addresses': {},
                'metadata': {}}

    def delete_server(self, sid):
        with self.lock:
            self.servers_.pop(sid, None)

    def add_group(self, gid, policy, members, project='p1'):
        self.groups.append({'id': gid, 'name': gid, 'policy': policy,
                            'policies': [policy], 'rules': {},
                            'members': list(members), 'project_id': project,
                            'user_id': 'u'})

    # --- the Cloud facade ---------------------------------------------------
    def compute_services(self, binary='nova-compute', host=None):
        self.calls.append(('compute_services', binary, host))
        if binary != 'nova-compute':
            names = [c for c in self.controllers]
            return [{'id': n, 'host': n, 'binary': binary,
                     'status': 'enabled', 'state': 'up',
                     'disabled_reason': None, 'forced_down': False}
                    for n in names if host in (None, n)]
        with self.lock:
            return [{'id': 'svc-' + n, 'host': n, 'binary': binary,
                     'status': h['status'], 'state': h['state'],
                     'disabled_reason': h['reason'], 'forced_down': False}
                    for n, h in sorted(self.hosts.items())
                    if host in (None, n)]

    def controller_hosts(self):
        return sorted(self.controllers)

    def disable_compute(self, host, reason):
        self.calls.append(('disable_compute', host, reason))
        with self.lock:
            self.hosts[host].update(status='disabled', reason=reason)

    def enable_compute(self, host):
        self.calls.append(('enable_compute', host))
        with self.lock:
            self.hosts[host].update(status='enabled', reason=None)

    def _used(self, host):
        used = [0, 0, 0]
        for srv in self.servers_.values():
            if srv['host'] == host:
                used[0] += srv['flavor']['vcpus']
                used[1] += srv['flavor']['ram']
                used[2] += srv['flavor']['disk']
        return used

    def hypervisors(self):
        with self.lock:
            result = []
            for name, h in sorted(self.hosts.items()):
                used = self._used(name)
                result.append({
                    'id': name, 'hostname': name,
                    'hypervisor_hostname': name, 'vcpus': h['vcpus'],
                    'vcpus_used': used[0], 'memory_mb': h['ram'],
                    'memory_mb_used': used[1], 'local_gb': h['disk'],
                    'local_gb_used': used[2],
                    'running_vms': len(self.servers(name)),
                    'state': h['state'], 'status': h['status'],
                    'usage_source': 'hypervisor'})
            return result

    def servers(self, host=None, all_tenants=True):
        with self.lock:
            return [dict(s) for s in self.servers_.values()
                    if host is None or s['host'] == host]

    def server(self, server_id):
        if self.on_server_read is not None:
            self.on_server_read(server_id)
        with self.lock:
            srv = self.servers_.get(server_id)
            return dict(srv) if srv else None

    def server_groups(self):
        return [dict(g) for g in self.groups]

    def projects_with_manager(self, event_types=None):
        return set(self.managers)

    def _fits(self, srv, host):
        h = self.hosts[host]
        used = self._used(host)
        f = srv['flavor']
        if used[0] + f['vcpus'] > h['vcpus'] or \
                used[1] + f['ram'] > h['ram'] or \
                used[2] + f['disk'] > h['disk']:
            return False
        for group in self.groups:
            if srv['id'] in group['members'] and \
                    group['policy'] == 'anti-affinity':
                for other in group['members']:
                    o = self.servers_.get(other)
                    if other != srv['id'] and o and o['host'] == host:
                        return False
        return True

    def move(self, server_id, kind, host=None, source=None, apart_from=()):
        if host:
            # As Cloud.move: a peer on the target refuses it before Nova
            # is asked.
            with self.lock:
                peer = next((p for p in apart_from
                             if (self.servers_.get(p) or {}).get('host') ==
                             host), None)
            if peer is not None:
                self.calls.append(('peer_on_target', server_id, host, peer))
                return {'ok': False, 'host': None, 'attempts': 0,
                        'target_refused': True, 'peer_on_target': peer,
                        'message': 'instance %s of its anti-affinity group '
                                   'is on %s now' % (peer, host)}
        self.calls.append(('move', server_id, kind, host))
        if self.move_hook is not None:
            result = self.move_hook(server_id, kind, host)
            if result is not None:
                return result
        with self.lock:
            srv = self.servers_.get(server_id)
            if srv is None:
                return {'ok': False, 'host': None, 'attempts': 1,
                        'message': 'server %s does not exist' % server_id}
            if server_id in self.fail_moves:
                return {'ok': False, 'host': None, 'attempts': 3,
                        'message': self.fail_moves[server_id]}
            if kind == st.LIVE_MIGRATE and srv['vm_state'] not in (
                    'active', 'paused'):
                return {'ok': False, 'host': None, 'attempts': 1,
                        'message': 'Instance %s is not running' % server_id}
            source = srv['host']
            names = [host] if host else list(self.hosts)
            fitting = [n for n in names if n != source and n in self.hosts
                       and self.hosts[n]['status'] == 'enabled'
                       and self.hosts[n]['state'] == 'up'
                       and self._fits(srv, n)]
            if not fitting:
                # As Cloud.move: a named target that refused is not
                # asked again (one request).
                return {'ok': False, 'host': None, 'attempts': 1,
                        'message': 'No valid host was found.%s' % (
                            ' (%s)' % host if host else ''),
                        'target_refused': bool(host)}
            target = max(fitting, key=lambda n: (
                self.hosts[n]['ram'] - self._used(n)[1], n))
            srv['host'] = target
            self.moves.append((server_id, kind, source, target))
            return {'ok': True, 'host': target, 'attempts': 1,
                    'message': 'now on %s' % target}

    def wait_for_move(self, server_id, source_host, kind, timeout=None):
        self.calls.append(('wait_for_move', server_id, source_host, kind))
        with self.lock:
            srv = self.servers_.get(server_id)
            if srv is None:
                return {'ok': False, 'host': None,
                        'message': 'the server no longer exists'}
            if srv.get('pending_target'):
                srv['host'] = srv.pop('pending_target')
                srv['task_state'] = None
                self.moves.append((server_id, kind, source_host,
                                   srv['host']))
                return {'ok': True, 'host': srv['host'],
                        'message': 'now on %s' % srv['host']}
            return {'ok': False, 'host': None, 'message': 'nothing moved'}


class FakeNotifier(outbox_fixture.InlineNotifier):
    """The real notifier, its outbox sent at once after every commit: the
    messages sent are recorded and project events handed to VNFMs."""

    def __init__(self, cloud):
        super().__init__()
        self.cloud = cloud
        self.project_events = []
        self.host_events = []
        self.session_events = []
        self.vnfms = {}
        self.violations = []

    def deliver(self, row):
        payload, event_type = row['payload'], row['event_type']
        if event_type == notifier.HOST_EVENT_TYPE:
            host, state = payload['host'], payload['state']
            if state == st.IN_MAINTENANCE and self.cloud.servers(host=host):
                self.violations.append('%s put in maintenance holding %s' % (
                    host, [s['id'] for s in self.cloud.servers(host=host)]))
            self.host_events.append((host, state))
        elif event_type == notifier.SESSION_EVENT_TYPE:
            self.session_events.append((payload['state'],
                                        payload['percent_done']))
        elif event_type == CONF.workflow.project_event_types[0]:
            # One project event is a message per configured type: seen once.
            # Its times as datetimes, for the tests to compare.
            payload = dict(payload, **{
                k: timeutils.parse_time(payload[k])
                for k in ('actions_at', 'reply_at') if payload.get(k)})
            self.project_events.append(payload)
            vnfm = self.vnfms.get(payload['project_id'])
            if vnfm is not None:
                vnfm(payload)

    def events_of(self, project_id=None, state=None):
        return [e for e in self.project_events
                if project_id in (None, e['project_id']) and
                state in (None, e['state'])]


class FakeVNFM(object):
    """A project's manager: answers through the engine's reply API.

    ``replies``: event -> 'ACK' | 'NACK' | None (silent) or a list of them
    used in turn; default ACK. ``actions``: event -> instance action for
    every instance the event is about (default MIGRATE). ``hooks``: event
    -> callable(payload, vnfm) run before replying (scale in, own action).
    ``name_events``: reply naming the event (its ``event_id``, as a
    manager PUTting to the ``reply_url`` does); off: as a manager that
    builds the upstream URL itself. ``answered``: (payload, body, the
    engine's answer or the ReplyConflict it raised) of each reply.
    """

    def __init__(self, cloud, notifier, project_id, replies=None,
                 actions=None, hooks=None, name_events=True):
        self.cloud = cloud
        self.project_id = project_id
        self.replies = dict(replies or {})
        self.actions = dict(actions or {})
        self.hooks = dict(hooks or {})
        self.name_events = name_events
        self.done = []
        self.received = []
        self.answered = []
        self.engine = manager.EngineManager(notifier, host='test-engine')
        self.ctx = context.get_admin_context()
        notifier.vnfms[project_id] = self
        cloud.managers.add(project_id)

    def _reply_for(self, event):
        reply = self.replies.get(event, 'ACK')
        if isinstance(reply, list):
            return reply.pop(0) if len(reply) > 1 else reply[0]
        return reply

    def __call__(self, payload):
        event = payload['state']
        self.received.append(event)
        if event == st.INSTANCE_ACTION_DONE:
            self.done.extend(payload['instance_ids'])
            return
        sid = payload['session_id']
        hook = self.hooks.get(event)
        if hook is not None:
            hook(payload, self)
        reply = self._reply_for(event)
        if reply is None:
            return
        body = {'state': '%s_%s' % (reply, event)}
        event_id = payload['event_id'] if self.name_events else None
        if event in (st.PREPARE_MAINTENANCE, st.PLANNED_MAINTENANCE):
            ids = self.engine.get_project(self.ctx, sid, self.project_id,
                                          event_id=event_id)['instance_ids']
            action = self.actions.get(event, st.MIGRATE)
            body['instance_actions'] = {i: action for i in ids}
        try:
            result = self.engine.project_reply(
                self.ctx, sid, self.project_id, body, event_id=event_id)
        except exception.ReplyConflict as e:
            # Fenix refused it (409); a real manager's error does not
            # reach Fenix's notifier either.
            result = e
        self.answered.append((payload, body, result))


class FakeCloudTestCase(base.TestCase):
    """A database, a download directory, fast polls, and a FakeCloud (with
    its FakeNotifier) standing in for fenix.common.cloud.Cloud."""

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        self.config(group='download',
                    directory=os.path.join(self.tmpdir, 'downloads'))
        self.config(group='workflow', nova_poll_interval=0.01)
        self.cloud = FakeCloud()
        self.notifier = FakeNotifier(self.cloud)
        patcher = mock.patch('fenix.common.cloud.Cloud',
                             return_value=self.cloud)
        patcher.start()
        self.addCleanup(patcher.stop)
