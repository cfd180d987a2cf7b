# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The sample VNFM: one project's application manager.

``SampleVNFM(session, ...)`` with a keystoneauth session of a member of the
project. ``start()`` listens for events (webhook ``POST /maintenance``,
state ``GET /status``), creates the servers through novaclient, registers
the constraints with Fenix, subscribes to the project event with aodhclient
and starts the invariant checker. ``stop()`` undoes all of that.

Events are handled one at a time, in arrival order, by a worker thread; the
webhook answers AODH at once. Every reply is PUT to the ``reply_url`` the
event gave (which names the event), never to a URL of its own making.
"""
import collections
import datetime
import logging
import queue
import socket
import threading
import time
import uuid

from fenix_tools import common
from fenix_tools.vnfm import app as app_mod
from fenix_tools.vnfm import checker as checker_mod
from fenix_tools.vnfm import traits

LOG = logging.getLogger(__name__)

# Event states (SPEC 3.5).
MAINTENANCE = 'MAINTENANCE'
SCALE_IN = 'SCALE_IN'
PREPARE_MAINTENANCE = 'PREPARE_MAINTENANCE'
PLANNED_MAINTENANCE = 'PLANNED_MAINTENANCE'
MAINTENANCE_COMPLETE = 'MAINTENANCE_COMPLETE'
INSTANCE_ACTION_DONE = 'INSTANCE_ACTION_DONE'
REPLY_EVENTS = (MAINTENANCE, SCALE_IN, PREPARE_MAINTENANCE,
                PLANNED_MAINTENANCE, MAINTENANCE_COMPLETE)

DEFAULT_EVENT_TYPE = 'maintenance.planned'
EVENT_TYPES = ('maintenance.planned', 'maintenance.scheduled')
WEBHOOK_PATH = '/maintenance'
ROLE_KEY = 'ha_role'
ACTIVE_ROLE = 'active'
STANDBY_ROLE = 'standby'

# Replies that will not get better by sending them again.
_FINAL_HTTP = (400, 401, 403, 404, 409, 413)
# Fenix's answer to a reply that does not answer the current event (or a
# repeat of one already applied).
_CONFLICT = 409
# Fenix cannot answer right now (engine, broker or database away; or no
# connection at all, status None): tried again, never taken as an answer.
_UNAVAILABLE_HTTP = (502, 503, 504)
# Seconds a call without a deadline of its own (a constraint update, a
# read or reply when reply_at is not honoured) keeps being tried through
# an outage.
OUTAGE_PATIENCE = 300
# Seconds between looks at a held answer's gate (Behaviour.hold_replies).
HOLD_POLL = 0.2
# Longest pause between two tries through an outage.
OUTAGE_RETRY_MAX = 5
# Events whose instances are moved: the checker watches that each move
# waits for the answer.
MOVE_EVENTS = (PREPARE_MAINTENANCE, PLANNED_MAINTENANCE)
# How many event signatures are remembered to drop duplicate deliveries.
_SEEN_EVENTS = 1000


def ack(state):
    return 'ACK_' + state


def nack(state):
    return 'NACK_' + state


class VNFMError(Exception):
    pass


class SampleVNFM(object):
    """One project's sample application manager.

    :param session: keystoneauth session (member of the project).
    :param fenix_url: Fenix endpoint; default the catalog's
        ``maintenance`` endpoint.
    :param app: :class:`~fenix_tools.vnfm.app.AppProfile`.
    :param behaviour: :class:`~fenix_tools.vnfm.app.Behaviour`.
    :param listen: (host, port) of the HTTP service (port 0: any).
    :param webhook_host: host name AODH should call (default the listen
        host).
    :param event_types: project event types to subscribe to.
    :param check_interval: seconds between invariant checks.
    :param nova: / aodh: / fenix: inject clients (tests).
    :param subscribe: create the AODH alarm(s) (off: events are fed by
        the caller, e.g. a test posting to the webhook).
    :param teardown: delete the servers on stop.
    """

    def __init__(self, session=None, fenix_url=None, app=None,
                 behaviour=None, listen=('127.0.0.1', 0), webhook_host=None,
                 event_types=(DEFAULT_EVENT_TYPE,), check_interval=0.1,
                 nova_api_version='2.1', interface='public',
                 region_name=None, name=None, nova=None, aodh=None,
                 fenix=None, project_id=None, user_id=None, subscribe=True,
                 teardown=True, deploy=True):
        self.session = session
        self.app = app or app_mod.get_app('seed004')
        self.behaviour = behaviour or app_mod.Behaviour()
        self.listen = listen
        self.webhook_host = webhook_host
        for event_type in event_types:
            if not event_type:
                raise ValueError('empty event type')
        self.event_types = tuple(event_types)
        self.check_interval = check_interval
        self.nova_api_version = nova_api_version
        self.interface = interface
        self.region_name = region_name
        self.name = name or ('vnfm-%s' % self.app.name)
        self.subscribe = subscribe
        self.teardown = teardown
        self.deploy = deploy
        self._fenix_url = fenix_url
        self.nova = nova
        self._check_nova = None
        self.aodh = aodh
        self.fenix = fenix
        self.project_id = project_id
        self.user_id = user_id

        self._lock = threading.RLock()
        self._servers = {}          # id -> {'id', 'name', 'kind', ...}
        self._active = None
        self._server_group = None   # Nova server group id (HA group)
        self._nonha_group = None    # our own group id
        self._counters = {app_mod.HA: 0, app_mod.NON_HA: 0}
        self._pending_moves = {}    # id -> host key when acknowledged
        self._seen_active = set()
        self._views = {}            # last snapshot of Nova
        self._seen_events = collections.OrderedDict()  # signature: time
        self._deployed = False
        self._alarms = []
        self._registered_instances = set()
        self._registered_groups = set()
        self._roles_in_nova = True
        self._flavor_obj = None

        self.events = common.EventLog()
        self.replies = common.EventLog()
        # The copies of replies delivered again (Behaviour.repeat_replies).
        self.repeats = common.EventLog()
        self.actions = common.EventLog()
        self.errors = common.EventLog()
        self.recorder = checker_mod.ViolationRecorder()
        self.reply_order = checker_mod.ReplyOrder(self.recorder)
        self._timers = {}         # repeated replies not delivered yet
        self.checker = None
        self._queue = queue.Queue()
        self._busy = 0
        self._idle = threading.Condition()
        self._stop = threading.Event()
        self._worker = None
        self._http = None
        self._started = False

    # --- lifecycle ----------------------------------------------------------

    @property
    def url(self):
        if self._http is None:
            return None
        host, port = self._http.address
        if not self.webhook_host and host in ('0.0.0.0', '::', ''):
            # Listening everywhere: AODH needs a name it can reach.
            host = socket.getfqdn()
        return 'http://%s:%d' % (self.webhook_host or host, port)

    @property
    def webhook_url(self):
        return self.url + WEBHOOK_PATH if self.url else None

    def _make_clients(self):
        if self.session is not None:
            if self.project_id is None:
                self.project_id = self.session.get_project_id()
            if self.user_id is None:
                self.user_id = self.session.get_user_id()
        if self.nova is None:
            from novaclient import client as nova_client
            self.nova = nova_client.Client(
                self.nova_api_version, session=self.session,
                endpoint_type=self.interface, region_name=self.region_name)
        if self._check_nova is None:
            if self.session is not None:
                from keystoneauth1 import session as ks_session
                from novaclient import client as nova_client
                # Own HTTP connection pool for the checker thread.
                self._check_nova = nova_client.Client(
                    self.nova_api_version,
                    session=ks_session.Session(auth=self.session.auth,
                                               timeout=10),
                    endpoint_type=self.interface,
                    region_name=self.region_name)
            else:
                self._check_nova = self.nova
        if self.aodh is None and self.subscribe:
            from aodhclient import client as aodh_client
            self.aodh = aodh_client.Client(
                '2', session=self.session, interface=self.interface,
                region_name=self.region_name)
        if self.fenix is None:
            headers = {}
            if self.project_id:
                # Fenix in noauth mode takes the caller's identity from
                # these; with keystone auth_token replaces them.
                headers = common.noauth_headers(self.project_id,
                                                self.user_id)
            self.fenix = common.FenixClient(
                url=self._fenix_url, session=self.session, headers=headers,
                interface=self.interface, region_name=self.region_name)

    def start(self):
        """Listen, deploy, register, subscribe, check. Raises VNFMError
        (after cleaning up) when the application cannot be deployed."""
        if self._started:
            return self
        self._stop.clear()
        self._http = common.JsonHTTPServer(self.listen[0], self.listen[1],
                                           name=self.name)
        self._http.add_route('POST', WEBHOOK_PATH + '(/.*)?', self._on_post)
        self._http.add_route('POST', '/', self._on_post)
        self._http.add_route('GET', '/status', self._on_status)
        self._http.add_route('GET', '/healthcheck',
                             lambda r: (200, {'ok': True}))
        self._http.start()
        self._started = True
        try:
            self._make_clients()
            self._worker = threading.Thread(target=self._work,
                                            name='%s-worker' % self.name,
                                            daemon=True)
            self._worker.start()
            if self.deploy:
                self._deploy()
            self.register_constraints()
            if self.subscribe:
                self._subscribe()
            self.checker = checker_mod.Checker(
                self._list_servers, self.check_model, self.recorder,
                interval=self.check_interval,
                on_snapshot=self._on_snapshot)
            self.checker.start()
        except Exception as e:
            LOG.exception('%s: start failed', self.name)
            self.stop()
            if isinstance(e, VNFMError):
                raise
            raise VNFMError('%s: start failed: %s' % (self.name, e))
        LOG.info('%s: started; webhook %s, project %s', self.name,
                 self.webhook_url, self.project_id)
        return self

    def stop(self):
        """Undo start(): best effort, every step even if one fails."""
        if not self._started:
            return
        self._stop.set()
        self._cancel_repeats()
        if self.checker is not None:
            self.checker.stop()
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=30)
            self._worker = None
        for alarm_id in list(self._alarms):
            self._best_effort('delete alarm %s' % alarm_id,
                              self.aodh.alarm.delete, alarm_id)
            self._alarms.remove(alarm_id)
        self.unregister_constraints()
        if self.teardown and self._deployed:
            with self._lock:
                ids = list(self._servers)
            self._best_effort('delete servers', self._delete_servers, ids,
                              'teardown', False)
            if self._server_group:
                self._best_effort('delete server group',
                                  self.nova.server_groups.delete,
                                  self._server_group)
            self._deployed = False
        if self._http is not None:
            self._http.stop()
            self._http = None
        self._started = False
        LOG.info('%s: stopped', self.name)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _best_effort(self, what, func, *args):
        try:
            return func(*args)
        except Exception as e:
            self._error('%s: %s' % (what, e))
            return None

    def _error(self, message, **extra):
        LOG.warning('%s: %s', self.name, message)
        return self.errors.add(message=message, **extra)

    # --- Nova ---------------------------------------------------------------

    def _version_at_least(self, minor):
        version = getattr(self.nova, 'api_version', None)
        try:
            current = (version.ver_major, version.ver_minor)
        except AttributeError:
            return False
        return current >= (2, minor)

    def _create_server_group(self):
        name = '%s-ha-group' % self.app.name
        if self._version_at_least(64):
            group = self.nova.server_groups.create(name=name,
                                                   policy='anti-affinity')
        else:
            group = self.nova.server_groups.create(
                name=name, policies=['anti-affinity'])
        return group.id

    def _flavor(self):
        flavors = self.nova.flavors.list()
        if not flavors:
            raise VNFMError('Nova has no flavor')
        if self.app.flavor:
            for flavor in flavors:
                if self.app.flavor in (flavor.id, flavor.name):
                    return flavor
            raise VNFMError('no flavor %r (known: %s)' % (
                self.app.flavor, ', '.join(f.name for f in flavors)))
        # Default: the largest flavor, so that the application fills the
        # cloud with few servers (seed-004 style topologies define the
        # one that takes half a compute).
        return max(flavors, key=lambda f: (f.vcpus, f.ram, f.disk))

    def _create_servers(self, kind, count, reason):
        if count <= 0:
            return []
        if self._flavor_obj is None:
            self._flavor_obj = self._flavor()
        flavor = self._flavor_obj
        created = []
        for _ in range(count):
            with self._lock:
                index = self._counters[kind]
                self._counters[kind] += 1
            name = '%s-%s-%d' % (self.app.name, kind, index)
            kwargs = {'meta': {'app': self.app.name, 'kind': kind}}
            if kind == app_mod.HA and self._server_group:
                kwargs['scheduler_hints'] = {'group': self._server_group}
            if self._version_at_least(37):
                kwargs['nics'] = 'none'
            server = self.nova.servers.create(name, self.app.image, flavor,
                                              **kwargs)
            group = (self._server_group if kind == app_mod.HA
                     else self._nonha_group)
            with self._lock:
                self._servers[server.id] = {
                    'id': server.id, 'name': name, 'kind': kind,
                    'group_id': group, 'created': common.utc_iso()}
            created.append(server.id)
        self._wait_active(created)
        self.actions.add(action='create', reason=reason, servers=created)
        return created

    def _wait_active(self, ids):
        pending = set(ids)

        def all_active():
            for server in self.nova.servers.list(detailed=True):
                if server.id in pending:
                    if server.status == 'ERROR':
                        raise VNFMError('server %s (%s) went to ERROR'
                                        % (server.name, server.id))
                    if server.status == 'ACTIVE':
                        pending.discard(server.id)
            return not pending
        try:
            common.wait_until(all_active, self.app.build_timeout,
                              interval=0.1, what='servers ACTIVE',
                              stop_event=self._stop)
        except common.WaitTimeout as e:
            raise VNFMError('%s: still not ACTIVE: %s'
                            % (e, ', '.join(sorted(pending))))

    def _delete_servers(self, ids, reason, wait=True):
        ids = list(ids)
        if not ids:
            return []
        with self._lock:
            for sid in ids:
                self._servers.pop(sid, None)
                self._pending_moves.pop(sid, None)
                self._seen_active.discard(sid)
        for sid in ids:
            if sid in self._registered_instances:
                self._delete_instance_constraint(sid)
        from novaclient import exceptions as nova_exc
        for sid in ids:
            try:
                self.nova.servers.delete(sid)
            except nova_exc.NotFound:
                pass
        if wait:
            gone = set()

            def all_gone():
                present = {s.id for s in self.nova.servers.list()}
                gone.update(set(ids) - present)
                return len(gone) == len(ids)
            try:
                common.wait_until(all_gone, self.app.build_timeout,
                                  interval=0.1, what='servers deleted',
                                  stop_event=self._stop)
            except common.WaitTimeout as e:
                raise VNFMError(str(e))
        self.actions.add(action='delete', reason=reason, servers=ids)
        return ids

    def _deploy(self):
        self._nonha_group = str(uuid.uuid4())
        if self.app.ha_count:
            self._server_group = self._create_server_group()
        self._deployed = True
        ha = self._create_servers(app_mod.HA, self.app.ha_count, 'deploy')
        self._create_servers(app_mod.NON_HA, self.app.nonha_count,
                             'deploy')
        if ha:
            with self._lock:
                self._active = ha[0]
            self._mark_roles()
            self.actions.add(action='role', active=ha[0],
                             standby=ha[1:], reason='deploy')

    def _mark_roles(self):
        """Write the roles into the servers' metadata (``ha_role``), where
        an operator (and the simulated cloud) can see them."""
        if not self._roles_in_nova:
            return
        with self._lock:
            roles = {sid: (ACTIVE_ROLE if sid == self._active
                           else STANDBY_ROLE)
                     for sid, s in self._servers.items()
                     if s['kind'] == app_mod.HA}
        for sid, role in sorted(roles.items(),
                                key=lambda kv: kv[1] == ACTIVE_ROLE):
            try:
                self.nova.servers.set_meta_item(sid, ROLE_KEY, role)
            except Exception as e:
                if getattr(e, 'code', None) == 409:
                    # Nova refuses metadata changes while the server is
                    # busy (a move under way): this one stays stale until
                    # the next change of roles.
                    LOG.info('%s: role of %s not recorded now: %s',
                             self.name, sid, e)
                    continue
                # Not every Nova (or simulation) has the server metadata
                # API: the roles are still tracked here.
                self._roles_in_nova = False
                LOG.info('%s: roles not recorded in Nova metadata: %s',
                         self.name, e)
                self.actions.add(action='roles_in_nova', supported=False,
                                 reason=str(e))
                return

    def _list_servers(self):
        return self._check_nova.servers.list(detailed=True)

    def _on_snapshot(self, views):
        self.reply_order.observe(views)
        with self._lock:
            self._views = views
            for sid, view in views.items():
                if sid in self._servers and checker_mod.in_service(view):
                    self._seen_active.add(sid)
                    key = self._pending_moves.get(sid)
                    now_key = checker_mod.host_key(view)
                    if key and now_key and now_key != key:
                        # Moved and back in service: the move is over even
                        # if no INSTANCE_ACTION_DONE said so.
                        self._pending_moves.pop(sid)

    def check_model(self):
        with self._lock:
            groups = []
            for group_id in (self._server_group, self._nonha_group):
                if not group_id:
                    continue
                body = self._group_body(group_id)
                body['members'] = [sid for sid, s in self._servers.items()
                                   if s['group_id'] == group_id]
                groups.append(body)
            ha_ids = [sid for sid, s in self._servers.items()
                      if s['kind'] == app_mod.HA]
            return checker_mod.CheckModel(
                active_id=self._active, ha_ids=ha_ids, groups=groups,
                pending_moves=set(self._pending_moves),
                seen_active=set(self._seen_active),
                expect_active=self._deployed and bool(ha_ids))

    # --- constraints --------------------------------------------------------

    def _group_body(self, group_id):
        if group_id == self._server_group:
            return {'group_id': group_id, 'project_id': self.project_id,
                    'group_name': '%s-ha-group' % self.app.name,
                    'anti_affinity_group': True,
                    'max_instances_per_host': 1,
                    'max_impacted_members':
                        self.app.ha_max_impacted_members,
                    'recovery_time': self.app.ha_recovery_time,
                    'resource_mitigation': self.app.resource_mitigation}
        return {'group_id': group_id, 'project_id': self.project_id,
                'group_name': '%s-nonha-group' % self.app.name,
                'anti_affinity_group': False,
                'max_instances_per_host': 0,
                'max_impacted_members': self.app.nonha_max_impacted_members,
                'recovery_time': self.app.nonha_recovery_time,
                'resource_mitigation': self.app.resource_mitigation}

    def _instance_body(self, sid):
        server = self._servers[sid]
        return {'instance_id': sid, 'project_id': self.project_id,
                'group_id': server['group_id'],
                'instance_name': server['name'],
                'max_interruption_time': self.app.max_interruption_time,
                'migration_type': self._configured_action(sid),
                'resource_mitigation': self.app.resource_mitigation,
                'lead_time': self.app.lead_time}

    def _through_outage(self, what, call, left=None):
        """``call()``, tried again while Fenix answers 'unavailable' (503,
        no connection) and ``left()`` (seconds; None: OUTAGE_PATIENCE from
        now) says there is time. Any other error is raised at once; the
        last 'unavailable' one when the time is up or the VNFM stops."""
        started = time.monotonic()
        if left is None:
            def left():
                return OUTAGE_PATIENCE - (time.monotonic() - started)
        attempt = 0
        while True:
            attempt += 1
            try:
                result = call()
            except common.FenixError as e:
                if not unavailable(e):
                    raise
                pause = min(OUTAGE_RETRY_MAX,
                            self.behaviour.retry_interval * attempt)
                remaining = left()
                if remaining is not None and remaining <= pause:
                    raise
                if attempt == 1:
                    self.actions.add(action='fenix_unavailable', what=what,
                                     error=str(e))
                if self._stop.wait(pause):
                    raise
                continue
            if attempt > 1:
                self.actions.add(action='fenix_available', what=what,
                                 attempts=attempt)
            return result

    def _reply_time_left(self, event):
        """Seconds left to answer ``event`` (None: not bounded by it)."""
        if not self.behaviour.honour_reply_at:
            return None
        left = _seconds_until(event.reply_at)
        if left is None:
            return None
        return left - self.behaviour.reply_margin

    def register_constraints(self):
        """PUT every group and instance constraint (idempotent)."""
        with self._lock:
            groups = [g for g in (self._server_group, self._nonha_group)
                      if g and any(s['group_id'] == g
                                   for s in self._servers.values())]
            bodies = [self._group_body(g) for g in groups]
            instances = [self._instance_body(sid) for sid in self._servers]
        ok = True
        for body in bodies:
            try:
                self._through_outage(
                    'register group', lambda b=body:
                    self.fenix.put_instance_group(b))
                self._registered_groups.add(body['group_id'])
            except common.FenixError as e:
                ok = False
                self._error('register group %s: %s'
                            % (body['group_name'], e))
        for body in instances:
            ok = self._put_instance_constraint(body) and ok
        return ok

    def _put_instance_constraint(self, body):
        try:
            self._through_outage('register instance',
                                 lambda: self.fenix.put_instance(body))
            self._registered_instances.add(body['instance_id'])
            return True
        except common.FenixError as e:
            self._error('register instance %s: %s'
                        % (body['instance_name'], e))
            return False

    def _delete_instance_constraint(self, sid):
        try:
            self._through_outage('unregister instance',
                                 lambda: self.fenix.delete_instance(sid))
        except common.FenixError as e:
            if e.status != 404:
                self._error('unregister instance %s: %s' % (sid, e))
        self._registered_instances.discard(sid)

    def unregister_constraints(self):
        for sid in list(self._registered_instances):
            self._delete_instance_constraint(sid)
        for gid in list(self._registered_groups):
            try:
                self.fenix.delete_instance_group(gid)
            except common.FenixError as e:
                if e.status != 404:
                    self._error('unregister group %s: %s' % (gid, e))
            self._registered_groups.discard(gid)

    # --- AODH ---------------------------------------------------------------

    def _subscribe(self):
        for event_type in self.event_types:
            alarm = self.aodh.alarm.create({
                'name': '%s-%s' % (self.name, event_type),
                'type': 'event',
                'description': 'maintenance events for %s' % self.name,
                'severity': 'moderate',
                'event_rule': {
                    'event_type': event_type,
                    'query': [{'field': 'traits.project_id', 'op': 'eq',
                               'type': 'string',
                               'value': self.project_id}]},
                'alarm_actions': [self.webhook_url],
                'repeat_actions': True,
            })
            alarm_id = (alarm.get('alarm_id') if isinstance(alarm, dict)
                        else getattr(alarm, 'alarm_id', None))
            self._alarms.append(alarm_id)
            self.actions.add(action='subscribe', event_type=event_type,
                             alarm_id=alarm_id, url=self.webhook_url)

    # --- HTTP ---------------------------------------------------------------

    def _on_post(self, request):
        try:
            body = request.json()
        except ValueError:
            return 400, {'error': 'body is not JSON'}
        self.accept(body)
        return 200, {'accepted': True}

    def _on_status(self, request):
        return 200, self.status()

    def accept(self, body):
        """Queue one webhook body for the worker (what POST does)."""
        with self._idle:
            self._busy += 1
        self._queue.put((body, traits.utcnow()))

    def _work(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            body, received = item
            try:
                self.handle(body, received_at=received)
            except Exception as e:
                LOG.exception('%s: event handling failed', self.name)
                self._error('event handling failed: %s' % e)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def wait_idle(self, timeout):
        """Wait until every queued event has been handled (and every
        repeated reply delivered)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    # --- events -------------------------------------------------------------

    def handle(self, body, received_at=None):
        """Decode and act on one event (synchronously). ``received_at``:
        when the webhook got it (default now)."""
        try:
            event = traits.decode_body(body)
        except traits.DecodeError as e:
            self._error('undecodable event: %s' % e, body=body)
            return None
        record = {'event_type': event.event_type, 'state': event.state,
                  'session_id': event.session_id,
                  'event_id': event.event_id,
                  'instance_ids': event.instance_ids,
                  'reply_url': event.reply_url,
                  'reply_at': _iso(event.reply_at),
                  'actions_at': _iso(event.actions_at),
                  'metadata': event.metadata,
                  'allowed_actions': event.allowed_actions,
                  'problems': event.problems}
        if event.project_id and self.project_id and \
                event.project_id != self.project_id:
            self.events.add(ignored='other project', **record)
            return None
        # Fenix emits each project event under two event types; a VNFM
        # subscribed to both gets it twice. Only a delivery under the OTHER
        # type is a duplicate: two events of one type are two events, even
        # when they look alike (two PLANNED_MAINTENANCE for two hosts sent
        # within the same second carry the same reply_at).
        signature = event.signature()
        with self._lock:
            first_type = self._seen_events.pop(signature, None)
            duplicate = (first_type is not None and
                         first_type != event.event_type)
            if not duplicate:
                self._seen_events[signature] = event.event_type
            while len(self._seen_events) > _SEEN_EVENTS:
                self._seen_events.popitem(last=False)
        if duplicate:
            self.events.add(duplicate=True, **record)
            return None
        self.events.add(**record)
        state = event.state
        if state in MOVE_EVENTS:
            self.reply_order.event_received(
                event.key, state, event.reply_at,
                instance_ids=([str(i) for i in event.instance_ids]
                              if event.per_instance else None),
                at=received_at, sent=event.generated)
        if event.problems:
            self._error('event %s: could not decode %s' % (
                state, ', '.join('%s (%s)' % kv
                                 for kv in sorted(event.problems.items()))))
        if state in REPLY_EVENTS and self.behaviour.is_silent(state):
            self.actions.add(action='silent', state=state)
            return None
        handler = {
            MAINTENANCE: self._on_maintenance,
            SCALE_IN: self._on_scale_in,
            PREPARE_MAINTENANCE: self._on_move,
            PLANNED_MAINTENANCE: self._on_move,
            MAINTENANCE_COMPLETE: self._on_complete,
            INSTANCE_ACTION_DONE: self._on_action_done,
        }.get(state)
        if handler is None:
            self._error('unknown event state %r' % state)
            return None
        return handler(event)

    def own_ids(self):
        with self._lock:
            return set(self._servers)

    def _affected(self, event):
        """The instance ids an event is about (read through an outage of
        Fenix until the event's reply_at)."""
        if event.per_instance:
            return [str(i) for i in event.instance_ids]
        url = event.instances_url
        if not url:
            raise VNFMError('event has no instance list nor URL: %r'
                            % (event.instance_ids,))
        data = self._through_outage(
            'read the instances', lambda: self.fenix.get(url),
            left=lambda: self._reply_time_left(event)) or {}
        ids = data.get('instance_ids') if isinstance(data, dict) else data
        if not isinstance(ids, list):
            raise VNFMError('%s did not give an instance_ids list' % url)
        return [str(i) for i in ids]

    def _on_maintenance(self, event):
        state = event.state
        if self.behaviour.is_nack(state):
            return self._reply(event, {'state': nack(state)})
        try:
            ids = self._affected(event)
        except common.FenixError as e:
            if unavailable(e):
                # Fenix is away until the deadline: no answer at all is
                # what it gets (it decides), never a NACK.
                self._error('MAINTENANCE: Fenix unavailable until the '
                            'deadline; not answered: %s' % e)
                return None
            self._error('MAINTENANCE: cannot read the instances: %s' % e)
            return self._reply(event, {'state': nack(state)})
        except VNFMError as e:
            self._error('MAINTENANCE: cannot read the instances: %s' % e)
            return self._reply(event, {'state': nack(state)})
        unknown = sorted(set(ids) - self.own_ids())
        if unknown:
            self._error('MAINTENANCE names instances that are not ours: %s'
                        % ', '.join(unknown))
            return self._reply(event, {'state': nack(state)})
        return self._reply(event, {'state': ack(state)})

    def _choose_scale_in(self, count):
        with self._lock:
            candidates = [s for s in self._servers.values()
                          if s['kind'] == app_mod.NON_HA]
            views = dict(self._views)
        candidates.sort(key=lambda s: s['name'])
        if self.app.scale_in_policy == 'colocated':
            by_host = {}
            for s in candidates:
                key = checker_mod.host_key(views.get(s['id'], {}))
                by_host.setdefault(key, []).append(s)
            # Hosts holding most of our removable servers first, so that
            # removing them can empty a host.
            ordered = sorted(by_host.values(), key=lambda ss: -len(ss))
            chosen = [s for ss in ordered for s in reversed(ss)]
        else:
            # Like a Heat group: the newest members go first.
            chosen = list(reversed(candidates))
        return [s['id'] for s in chosen[:count]]

    def _on_scale_in(self, event):
        state = event.state
        if self.behaviour.is_nack(state) or not self.app.resource_mitigation:
            return self._reply(event, {'state': nack(state)})
        victims = self._choose_scale_in(self.app.scale_in_count)
        try:
            self._delete_servers(victims, 'scale_in')
        except Exception as e:
            self._error('scale in failed: %s' % e)
            return self._reply(event, {'state': nack(state)})
        self.register_constraints()
        self.actions.add(action='scale_in', servers=victims,
                         session_id=event.session_id)
        return self._reply(event, {'state': ack(state)})

    def _configured_action(self, sid):
        server = self._servers.get(sid, {})
        actions = self.behaviour.instance_actions
        return actions.get(sid, actions.get(server.get('name'),
                                            self.app.migration_type))

    def _action_for(self, sid, allowed):
        with self._lock:
            action = self._configured_action(sid)
        if allowed and action not in allowed:
            fallback = (app_mod.MIGRATE if app_mod.MIGRATE in allowed
                        else allowed[0])
            self._error('%s not allowed for %s; using %s'
                        % (action, sid, fallback))
            action = fallback
        return action

    def _standbys(self, avoid):
        """(active, standbys in service now that are not about to be
        moved, whether a standby outside ``avoid`` exists at all)."""
        with self._lock:
            current = self._active
            others = [
                sid for sid, s in sorted(self._servers.items(),
                                         key=lambda kv: kv[1]['name'])
                if s['kind'] == app_mod.HA and sid != current
                and sid not in avoid]
            candidates = [sid for sid in others
                          if sid not in self._pending_moves]
            views = dict(self._views)
        return current, [sid for sid in candidates
                         if checker_mod.in_service(views.get(sid))], \
            bool(others)

    def _switch_over(self, avoid, reason, wait=None):
        """Make a standby active; ``avoid``: ids about to be moved.

        ``wait``: seconds to wait for a standby to be in service again
        when none is now (its own move, e.g. by another session, is under
        way): the active is not given up while nothing can take over.
        Only then, when none came back, the move of the active is agreed
        to without a switch-over (logged as an error; the checker sees
        the outage)."""
        current, usable, others = self._standbys(avoid)
        if not usable and others and wait:
            # A standby this event does not move is away now (being
            # moved): wait for it to be back.
            deadline = time.monotonic() + wait
            while not usable and time.monotonic() < deadline:
                if self._stop.wait(min(self.check_interval,
                                       max(0.0, deadline -
                                           time.monotonic()))):
                    break
                current, usable, others = self._standbys(avoid)
            if usable:
                self.actions.add(action='switch_over_waited',
                                 reason=reason,
                                 seconds=round(wait - max(
                                     0.0, deadline - time.monotonic()), 2))
        if not usable:
            self._error('switch-over impossible: no standby in service '
                        '(%s)' % reason)
            return None
        new = usable[0]
        with self._lock:
            self._active = new
        self._mark_roles()
        self.actions.add(action='switch_over', old_active=current,
                         new_active=new, reason=reason)
        LOG.info('%s: switch-over %s -> %s (%s)', self.name, current, new,
                 reason)
        return new

    def _on_move(self, event):
        state = event.state
        if self.behaviour.is_nack(state):
            return self._reply(event, {'state': nack(state)})
        try:
            ids = self._affected(event)
        except common.FenixError as e:
            if unavailable(e):
                self._error('%s: Fenix unavailable until the deadline; '
                            'not answered: %s' % (state, e))
                return None
            self._error('%s: cannot read the instances: %s' % (state, e))
            return self._reply(event, {'state': nack(state)})
        except VNFMError as e:
            self._error('%s: cannot read the instances: %s' % (state, e))
            return self._reply(event, {'state': nack(state)})
        if not event.per_instance:
            self.reply_order.event_instances(event.key, ids)
        own = self.own_ids()
        affected = [i for i in ids if i in own]
        foreign = sorted(set(ids) - own)
        if foreign:
            self._error('%s names instances that are not ours: %s'
                        % (state, ', '.join(foreign)))
        with self._lock:
            active = self._active
        if self.behaviour.switch_over and active in affected:
            self._switch_over(set(affected), state,
                              wait=self._reply_time_left(event))
        allowed = event.allowed_actions
        actions = {sid: self._action_for(sid, allowed) for sid in affected}
        if event.metadata:
            self.actions.add(action='metadata', state=state,
                             metadata=event.metadata)
        with self._lock:
            for sid in affected:
                key = checker_mod.host_key(self._views.get(sid, {}))
                self._pending_moves[sid] = key or '?'
        if event.per_instance:
            if not affected:
                body = {'state': nack(state)}
            else:
                body = {'state': ack(state),
                        'instance_action': actions[affected[0]]}
        else:
            body = {'state': ack(state), 'instance_actions': actions}
        result = self._reply(event, body)
        own_action = [sid for sid, a in actions.items()
                      if a == app_mod.OWN_ACTION]
        if own_action:
            self._own_action(own_action, state)
        return result

    def _own_action(self, ids, reason):
        """Replace the given servers ourselves (delete + create anew)."""
        with self._lock:
            kinds = [self._servers[sid]['kind'] for sid in ids
                     if sid in self._servers]
        try:
            self._delete_servers(ids, 'own_action')
            new = []
            for kind in (app_mod.HA, app_mod.NON_HA):
                count = kinds.count(kind)
                new += self._create_servers(kind, count, 'own_action')
            with self._lock:
                bodies = [self._instance_body(sid) for sid in new]
            for body in bodies:
                self._put_instance_constraint(body)
            self.actions.add(action='own_action', replaced=ids, new=new,
                             reason=reason)
        except Exception as e:
            self._error('own action on %s failed: %s'
                        % (', '.join(ids), e))

    def _on_action_done(self, event):
        ids = event.instance_ids if event.per_instance else []
        with self._lock:
            for sid in ids:
                self._pending_moves.pop(sid, None)
        self.actions.add(action='instance_action_done', instances=ids,
                         session_id=event.session_id)
        if self.behaviour.ack_instance_action_done and event.reply_url:
            return self._reply(event,
                               {'state': ack(INSTANCE_ACTION_DONE)})
        return None

    def _on_complete(self, event):
        state = event.state
        if self.behaviour.is_nack(state):
            return self._reply(event, {'state': nack(state)})
        with self._lock:
            self._pending_moves.clear()
            have = sum(1 for s in self._servers.values()
                       if s['kind'] == app_mod.NON_HA)
            have_ha = sum(1 for s in self._servers.values()
                          if s['kind'] == app_mod.HA)
        try:
            new = self._create_servers(
                app_mod.HA, max(0, self.app.ha_count - have_ha),
                'scale_out')
            new += self._create_servers(
                app_mod.NON_HA, max(0, self.app.nonha_count - have),
                'scale_out')
        except Exception as e:
            self._error('scale out failed: %s' % e)
            return self._reply(event, {'state': nack(state)})
        self.register_constraints()
        self.actions.add(action='scale_out', servers=new,
                         session_id=event.session_id)
        return self._reply(event, {'state': ack(state)})

    # --- replies ------------------------------------------------------------

    def _held(self, event):
        """Wait while the behaviour holds answers to ``event``'s state
        (until released, or ``reply_at`` less the margin); False when the
        manager stops meanwhile."""
        gate = self.behaviour.hold_replies.get(event.state)
        if gate is None:
            return True
        while not gate.is_set():
            left = _seconds_until(event.reply_at)
            if left is not None and left <= self.behaviour.reply_margin:
                return True
            if self._stop.wait(min(HOLD_POLL, left or HOLD_POLL)):
                return False
        return True

    def _reply(self, event, body):
        """PUT ``body`` to the event's reply_url, with bounded retries;
        returns the reply record. With ``Behaviour.repeat_replies`` the
        same PUT is made again later (see :meth:`_repeat`)."""
        url = event.reply_url
        record = {'state': body.get('state'), 'event': event.state,
                  'session_id': event.session_id, 'url': url,
                  'event_id': event.event_id,
                  'body': body, 'attempts': 0, 'ok': False,
                  'status': None, 'error': None}
        if not url:
            record['error'] = 'no reply_url'
            self._error('%s: no reply_url to answer to' % event.state)
            return self.replies.add(**record)
        behaviour = self.behaviour
        left = _seconds_until(event.reply_at)
        delay = behaviour.reply_delay
        if delay > 0:
            if behaviour.honour_reply_at and left is not None:
                delay = max(0.0, min(delay, left - behaviour.reply_margin))
            if self._stop.wait(delay):
                record['error'] = 'stopped'
                return self.replies.add(**record)
        if not self._held(event):
            record['error'] = 'stopped'
            return self.replies.add(**record)
        self.reply_order.reply_started(event.key)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            record['attempts'] = attempt
            away = False
            try:
                self.fenix.put(url, body)
                record['ok'] = True
                record['status'] = 200
                record['error'] = None
                break
            except common.FenixError as e:
                record['status'] = e.status
                record['error'] = str(e)
                if attempt > 1 and e.status == _CONFLICT and \
                        'already answered' in str(e):
                    # An earlier attempt got through (its answer was
                    # lost on the way back): the reply was taken.
                    record['ok'] = True
                    record['note'] = 'taken at an earlier attempt'
                    break
                if e.status in _FINAL_HTTP:
                    break
                # Fenix unavailable (503, no connection): tried again
                # until reply_at, beyond reply_retries; the engine drops
                # a request it answered 503 for, so the reply is applied
                # once, by the try that gets a 200 (or was already taken:
                # 409 "already answered" above).
                away = unavailable(e)
            if away:
                record['outage'] = True
                if not behaviour.honour_reply_at or \
                        event.reply_at is None:
                    if time.monotonic() - started > OUTAGE_PATIENCE:
                        break
            elif attempt >= behaviour.reply_retries:
                break
            left = _seconds_until(event.reply_at)
            if behaviour.honour_reply_at and left is not None and \
                    left <= behaviour.retry_interval:
                break
            if self._stop.wait(behaviour.retry_interval):
                break
        left = _seconds_until(event.reply_at)
        record['late'] = left is not None and left < 0
        self.reply_order.reply_finished(event.key, record['ok'])
        if not record['ok']:
            self._error('reply %s to %s failed: %s'
                        % (body.get('state'), url, record['error']))
        for delay in behaviour.repeat_replies:
            self._schedule_repeat(delay, event, url, body, record['ok'])
        return self.replies.add(**record)

    # --- repeated replies (Behaviour.repeat_replies) -------------------------

    def _schedule_repeat(self, delay, event, url, body, original_ok):
        token = object()
        timer = threading.Timer(delay, self._repeat,
                                args=(token, event, url, body, original_ok))
        timer.daemon = True
        timer.name = '%s-repeat' % self.name
        with self._lock:
            # A reply that ends after stop() began: its copies are among
            # those stop() drops (it cancelled the ones known then).
            if self._stop.is_set():
                return
            self._timers[token] = timer
            with self._idle:
                self._busy += 1
        timer.start()

    def _repeat(self, token, event, url, body, original_ok):
        """Deliver a reply again, once, as it was. Fenix must refuse it
        (409: already answered, not the current event, late or after the
        end); that is expected and no error. A copy Fenix takes after the
        original was taken is an error (a reply applied twice)."""
        with self._lock:
            if self._timers.pop(token, None) is None:
                return  # cancelled (and counted) by stop()
        try:
            record = {'state': body.get('state'), 'event': event.state,
                      'event_id': event.event_id,
                      'session_id': event.session_id, 'url': url,
                      'body': body, 'status': None, 'error': None}
            try:
                self.fenix.put(url, body)
                record['status'] = 200
            except common.FenixError as e:
                record['status'] = e.status
                record['error'] = str(e)
            self.repeats.add(**record)
            informational = body.get('state') == ack(INSTANCE_ACTION_DONE)
            if record['status'] == 200 and original_ok and \
                    not informational:
                self._error('a repeated reply %s to %s was taken again'
                            % (body.get('state'), url), repeat=record)
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def _cancel_repeats(self):
        """Drop the copies not delivered yet."""
        with self._lock:
            timers = list(self._timers.values())
            self._timers.clear()
        for timer in timers:
            timer.cancel()
        with self._idle:
            self._busy -= len(timers)
            self._idle.notify_all()

    # --- inspection ---------------------------------------------------------

    def roles(self):
        with self._lock:
            standby = [sid for sid, s in self._servers.items()
                       if s['kind'] == app_mod.HA and sid != self._active]
            return {'active': self._active, 'standby': standby}

    def servers(self):
        with self._lock:
            out = []
            for sid, s in sorted(self._servers.items(),
                                 key=lambda kv: kv[1]['name']):
                view = self._views.get(sid, {})
                role = None
                if s['kind'] == app_mod.HA:
                    role = (ACTIVE_ROLE if sid == self._active
                            else STANDBY_ROLE)
                out.append(dict(s, role=role, status=view.get('status'),
                                task_state=view.get('task_state'),
                                host_id=view.get('host_id'),
                                host=view.get('host')))
            return out

    def violations(self):
        return self.recorder.violations()

    def wait_for_event(self, state, timeout, count=1):
        return self.events.wait_for(
            lambda items: sum(1 for i in items if i.get('state') == state
                              and not i.get('duplicate')) >= count,
            timeout)

    def wait_for_reply(self, state, timeout):
        return self.replies.wait_for(
            lambda items: any(i.get('state') == state for i in items),
            timeout)

    def status(self):
        with self._lock:
            groups = [self._group_body(g)
                      for g in (self._server_group, self._nonha_group) if g]
            pending = dict(self._pending_moves)
        return {
            'name': self.name,
            'project_id': self.project_id,
            'webhook_url': self.webhook_url,
            'fenix_url': getattr(self.fenix, 'url', None),
            'event_types': list(self.event_types),
            'alarms': list(self._alarms),
            'app': self.app.to_dict(),
            'behaviour': self.behaviour.to_dict(),
            'servers': self.servers(),
            'roles': self.roles(),
            'groups': groups,
            'pending_moves': pending,
            'events': self.events.list(),
            'replies': self.replies.list(),
            'repeats': self.repeats.list(),
            'actions': self.actions.list(),
            'errors': self.errors.list(),
            'violations': self.violations(),
            'open_violations': self.recorder.open_violations(),
            'checker': self.checker.status() if self.checker else None,
        }


def _iso(value):
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


def unavailable(error):
    """True when a FenixError says Fenix cannot answer *right now*."""
    return error.status is None or error.status in _UNAVAILABLE_HTTP


def _seconds_until(when):
    if not isinstance(when, datetime.datetime):
        return None
    return (when - traits.utcnow()).total_seconds()
