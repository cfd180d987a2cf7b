# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The simulated cloud as one object: model, services and HTTP server.

Typical test use::

    sim = SimCloud(topology='etc/simcloud/seed004.yaml')
    url = sim.start()                  # http://127.0.0.1:<port>
    auth = v3.Password(**sim.auth_args('admin'))
    ...
    sim.stop()

URL layout (one port): ``/identity`` (Keystone, ``/identity/v3``),
``/compute/v2.1`` (Nova), ``/alarming`` (AODH, ``/alarming/v2``) and
``/sim`` (control API, loopback only, no auth).
"""
import json
import logging
import os
import threading
import time

from fenix_tools.simcloud import alarming
from fenix_tools.simcloud import compute
from fenix_tools.simcloud import control
from fenix_tools.simcloud import delivery
from fenix_tools.simcloud import events as events_mod
from fenix_tools.simcloud import identity as identity_mod
from fenix_tools.simcloud import listener as listener_mod
from fenix_tools.simcloud import model
from fenix_tools.simcloud import telemetry
from fenix_tools.simcloud import timers as timers_mod
from fenix_tools.simcloud import topology as topology_mod
from fenix_tools.simcloud import util
from fenix_tools.simcloud import wsgi

LOG = logging.getLogger(__name__)

SERVICE_NAMES = {'identity': 'keystone', 'compute': 'nova',
                 'alarming': 'aodh', 'maintenance': 'fenix'}


class SimCloud:
    """A simulated OpenStack cloud served over HTTP on one port.

    :param topology: a path (YAML/JSON), a mapping in the topology format,
        or None for an empty cloud with the default users.
    :param host: address to bind (loopback by default).
    :param port: port to bind; 0 picks a free one.
    :param public_host: host name to put in URLs (default: ``host``, or
        127.0.0.1 when binding to all addresses).
    :param transport_url: when set, also listen for notifications on this
        oslo.messaging transport (topic ``notifications``).
    :param notification_transport: an oslo.messaging transport object to
        listen on instead (tests share one ``fake://`` transport).
    :param maintenance_url: Fenix's URL for the ``maintenance`` catalog
        entry (can be set later with :meth:`set_maintenance_url`).
    :param state_file: load the cloud from this file if it exists, and
        save it there on :meth:`stop`.
    """

    def __init__(self, topology=None, host='127.0.0.1', port=0,
                 public_host=None, transport_url=None,
                 notification_transport=None, maintenance_url=None,
                 state_file=None, listener_pool=None):
        saved_events = None
        if state_file and os.path.exists(state_file):
            with open(state_file) as f:
                data = json.load(f)
            saved_events = data.pop('events', None)
            topo = topology_mod.normalize(data)
        elif isinstance(topology, str):
            topo = topology_mod.load(topology)
        else:
            topo = topology_mod.normalize(topology or {})
        self.topology = topo
        self.bind_host = host
        self.bind_port = port
        self.public_host = public_host or (
            '127.0.0.1' if host in ('0.0.0.0', '', '::') else host)
        self.state_file = state_file
        self.lock = threading.RLock()
        self.events = events_mod.EventLog()
        if saved_events:
            self.events.load(saved_events)
        self.history = events_mod.History(self.events)
        self.timers = timers_mod.Timers()
        self.cloud = model.Cloud(topo, self.events, self.timers, self.lock)
        self.identity = identity_mod.IdentityStore(topo, self.catalog,
                                                   self.lock)
        self.alarms = alarming.AlarmStore(topo, self.events, self.lock,
                                          self.identity)
        tele = topo['telemetry']
        self.converter = telemetry.EventConverter(
            tele['event_definitions'], tele['drop_unmatched'])
        self.deliverer = delivery.Deliverer(
            self.events, topo['alarming']['delivery_workers'],
            topo['alarming']['delivery_timeout'])
        self.endpoints = dict(topo['endpoints'])
        if maintenance_url:
            self.endpoints['maintenance'] = maintenance_url
        self._transport_url = transport_url
        self._transport = notification_transport
        self._listener_pool = listener_pool
        self._listener = None
        self._httpd = None
        self._thread = None
        self.port = None
        self.app = wsgi.PrefixDispatcher({
            '/identity': identity_mod.IdentityApp(self),
            '/compute': compute.ComputeApp(
                self, topo['compute']['max_microversion']),
            '/alarming': alarming.AlarmingApp(self),
            '/sim': control.ControlApp(self),
        }, root=self._root)

    # --- lifecycle -----------------------------------------------------------

    def start(self):
        """Bind, serve in a background thread; return the base URL."""
        if self._httpd is not None:
            return self.url
        self._httpd = wsgi.HTTPServer((self.bind_host, self.bind_port),
                                      self.app)
        self.port = self._httpd.server_address[1]
        self.timers.start()
        self.deliverer.start()
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={'poll_interval': 0.05},
                                        name='simcloud-http', daemon=True)
        self._thread.start()
        if self._transport_url or self._transport is not None:
            self._listener = listener_mod.NotificationListener(
                self, transport_url=self._transport_url,
                transport=self._transport, pool=self._listener_pool)
            self._listener.start()
        LOG.info('simulated cloud listening on %s', self.url)
        return self.url

    def stop(self):
        """Stop serving and every background thread.

        The state file is saved if one was given.
        """
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.close_connections()
            self._thread.join(timeout=10)
            self._httpd = None
        self.timers.stop()
        self.deliverer.stop()
        if self.state_file:
            self.save_state(self.state_file)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # --- URLs and catalog ----------------------------------------------------

    @property
    def url(self):
        host = self.public_host
        if ':' in host:
            host = '[%s]' % host
        return 'http://%s:%s' % (host, self.port)

    @property
    def identity_url(self):
        return self.url + '/identity'

    @property
    def auth_url(self):
        """The keystoneauth ``auth_url`` (versioned, v3)."""
        return self.url + '/identity/v3'

    @property
    def compute_url(self):
        return self.url + '/compute/v2.1'

    @property
    def alarming_url(self):
        return self.url + '/alarming'

    @property
    def control_url(self):
        return self.url + '/sim'

    def service_urls(self):
        urls = {'identity': self.identity_url, 'compute': self.compute_url,
                'alarming': self.alarming_url}
        with self.lock:
            urls.update(self.endpoints)
        return urls

    def catalog(self):
        """The service catalog put in tokens.

        Built when asked, so an endpoint set later shows in the next token.
        """
        region = self.topology['region']
        out = []
        for stype, url in self.service_urls().items():
            sid = util.stable_hex('service', stype)
            out.append({
                'id': sid, 'type': stype,
                'name': SERVICE_NAMES.get(stype, stype),
                'endpoints': [{'id': util.stable_hex('endpoint',
                                                     stype + iface),
                               'interface': iface, 'region': region,
                               'region_id': region, 'url': url}
                              for iface in ('public', 'internal',
                                            'admin')]})
        return out

    def set_endpoint(self, service_type, url):
        """Add or change a catalog endpoint (``None`` removes it)."""
        if service_type in ('identity', 'compute', 'alarming'):
            raise ValueError('%s is served by the simulated cloud itself'
                             % service_type)
        with self.lock:
            if url:
                self.endpoints[service_type] = url
            else:
                self.endpoints.pop(service_type, None)
        self.events.record('endpoint.set', service_type=service_type,
                           url=url)

    def set_maintenance_url(self, url):
        self.set_endpoint('maintenance', url)

    def auth_args(self, username, project=None):
        """Keystoneauth ``v3.Password`` arguments for a topology user.

        Scoped to ``project`` or else the user's default project.
        """
        user = self.identity.user(username)
        if user is None:
            raise KeyError('no user %s' % username)
        pid = project and self.identity.project(project)['id'] or \
            user['default_project']
        return {'auth_url': self.auth_url, 'username': user['name'],
                'password': user['password'],
                'project_id': pid,
                'user_domain_name': 'Default'}

    def project_id(self, name):
        project = self.identity.project(name)
        return project['id'] if project else None

    def _root(self, req):
        return wsgi.json_response({
            'name': 'simcloud', 'topology': self.topology['name'],
            'services': self.service_urls(), 'control': self.control_url})

    # --- notifications -------------------------------------------------------

    def receive_notification(self, notification, intake='python'):
        """Turn one notification into an event and fire matching alarms.

        The alarms' webhooks are queued. Returns ``{'event', 'alarms',
        'dropped'}``.
        """
        payload = notification.get('payload')
        self.events.record(
            'notification.receive', intake=intake,
            event_type=notification.get('event_type'),
            publisher_id=notification.get('publisher_id'),
            priority=notification.get('priority'),
            message_id=notification.get('message_id'),
            project=(payload or {}).get('project_id')
            if isinstance(payload, dict) else None,
            payload=payload)
        try:
            event = self.converter.to_event(notification)
        except telemetry.DropEvent as exc:
            self.events.record('notification.drop',
                               event_type=notification.get('event_type'),
                               reason=str(exc))
            return {'event': None, 'alarms': [], 'dropped': str(exc)}
        with self.lock:
            # Evaluate and queue under one lock: concurrent notifications
            # reach each alarm's webhook in the order they were evaluated.
            fired = self.alarms.evaluate(event)
            for view, previous, reason, actions in fired:
                body = {'alarm_name': view['name'],
                        'alarm_id': view['alarm_id'],
                        'severity': view['severity'],
                        'previous': previous, 'current': 'alarm',
                        'reason': reason,
                        'reason_data': {'type': 'event', 'event': event}}
                for url in actions:
                    self.deliverer.submit(view['alarm_id'], url, body, {
                        'alarm_id': view['alarm_id'],
                        'alarm_name': view['name'],
                        'project_id': view['project_id'],
                        'event_type': event['event_type'],
                        'message_id': event['message_id']})
        return {'event': event, 'alarms': [v['alarm_id'] for v, _, _, _ in
                                           fired], 'dropped': None}

    def notify(self, event_type, payload, publisher_id='fenix',
               timestamp=None, priority='INFO', ctxt=None, message_id=None):
        """Inject a notification from Python (same as the HTTP intake)."""
        return self.receive_notification({
            'event_type': event_type, 'payload': payload,
            'publisher_id': publisher_id,
            'timestamp': timestamp or util.iso_micro(util.utcnow()),
            'priority': priority, 'ctxt': ctxt or {},
            'message_id': message_id or util.new_uuid()})

    def deliveries(self, since=0, **match):
        """Webhook deliveries done (records with the POSTed ``body``)."""
        return self.deliverer.deliveries(since=since, **match)

    def wait_deliveries(self, count, timeout=10.0, since=0, **match):
        """Wait until at least ``count`` deliveries match; return them."""
        def enough():
            found = self.deliveries(since=since, **match)
            return found if len(found) >= count else None
        result = self.events.wait_until(enough, timeout)
        return result or self.deliveries(since=since, **match)

    # --- events and history --------------------------------------------------

    def now(self):
        """The clock of the event log (``time.monotonic()``)."""
        return time.monotonic()

    def get_events(self, since=0, **filters):
        return self.events.events(since=since, **filters)

    def wait_for_event(self, kind, timeout=10.0, since=0, **match):
        """Wait for the first event of ``kind`` after ``since``.

        ``kind`` is a prefix if it ends with '.'; the event's fields must
        equal ``match``. Returns None on timeout.
        """
        def predicate(event):
            if kind.endswith('.'):
                if not event['kind'].startswith(kind):
                    return False
            elif event['kind'] != kind:
                return False
            return all(event.get(k) == v for k, v in match.items())
        return self.events.wait_for(predicate, timeout, since=since)

    def wait_until(self, condition, timeout=10.0):
        """Wait until ``condition()`` is true (re-checked on every event)."""
        return self.events.wait_until(condition, timeout)

    def wait_idle(self, timeout=10.0):
        """Wait until no timer nor delivery is in flight.

        Timers are migrations, boots, confirms... Returns True if idle.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if not self.timers.wait_idle(max(0.0, remaining)):
                return False
            remaining = deadline - time.monotonic()
            if not self.deliverer.wait_idle(max(0.0, remaining)):
                return False
            if self.timers.pending() == 0 and self.deliverer.pending() == 0:
                return True

    def errors(self):
        """Unexpected exceptions in API handlers (should be empty)."""
        return self.events.events(kind='api.error')

    # --- state changes from tests --------------------------------------------

    def set_faults(self, config):
        with self.lock:
            self.cloud.faults.configure(config)
        self.events.record('fault.set', faults=self.cloud.faults.to_dict())

    def clear_faults(self):
        self.set_faults({})

    def add_fault(self, kind, **rule):
        """Add one rule to ``faults.migrations`` or ``faults.api``."""
        with self.lock:
            if kind == 'migrations':
                self.cloud.faults.add_migration_rule(**rule)
            else:
                self.cloud.faults.add_api_rule(**rule)
            faults = self.cloud.faults.to_dict()
        self.events.record('fault.set', faults=faults)

    def fail_migrations(self, server=None, host=None, type='any',
                        times=None, vm_state='active', reason=None,
                        duration=None, leak=None):
        """Make matching migrations fail (see :mod:`faults`).

        ``leak=True`` leaves their destination's resources claimed for
        the scheduler (None: the ``leak_allocations`` setting).
        """
        self.add_fault('migrations', server=server, host=host, type=type,
                       times=times, vm_state=vm_state, reason=reason,
                       duration=duration, leak=leak)

    def slow_migrations(self, duration, server=None, host=None, type='any',
                        times=None):
        self.add_fault('migrations', server=server, host=host, type=type,
                       times=times, fail=False, duration=duration)

    def fail_api(self, path, status=503, service='any', method=None,
                 times=None, delay=0.0, message=None):
        self.add_fault('api', path=path, status=status, service=service,
                       method=method, times=times, delay=delay,
                       message=message)

    def complete_now(self, server):
        """Make the operation in flight on ``server`` (id or name: a
        migration, boot, confirm...) due now, whatever its duration.

        It completes (or fails) on the timer thread, as it would have at
        its time; wait for its event. False if nothing is in flight.
        """
        with self.lock:
            found = self.cloud.find_server(server)
            handle = found.pending if found is not None else None
        return handle is not None and self.timers.run_now(handle)

    def heal_allocations(self):
        """Drop the claims leaked by failed migrations; returns the hosts.
        """
        return self.cloud.heal_allocations()

    def set_timing(self, **timing):
        unknown = set(timing) - set(topology_mod.DEFAULT_TIMING)
        if unknown:
            raise ValueError('unknown timing keys: %s'
                             % ', '.join(sorted(unknown)))
        with self.lock:
            for key, value in timing.items():
                self.cloud.timing[key] = float(value)
            current = dict(self.cloud.timing)
        self.events.record('timing.set', timing=current)
        return current

    def set_host_state(self, host, state):
        self.cloud.set_host_state(host, state)

    def expire_tokens(self):
        count = self.identity.expire_all()
        self.events.record('token.expire', count=count)
        return count

    # --- snapshots -----------------------------------------------------------

    def snapshot(self):
        """Everything, as a topology mapping (loadable again)."""
        with self.lock:
            data = self.cloud.snapshot()
            data['name'] = self.topology['name']
            data['region'] = self.topology['region']
            data['identity'] = dict(self.topology['identity'])
            data['projects'] = [dict(p) for p in
                                self.identity.projects.values()]
            data['users'] = [dict(u) for u in self.identity.users.values()]
            data['compute'] = dict(self.topology['compute'])
            data['alarming'] = dict(self.topology['alarming'])
            data['telemetry'] = dict(self.topology['telemetry'])
            data['endpoints'] = dict(self.endpoints)
            data['alarms'] = [dict(a.view(), project=a.project_id,
                                   user=a.user_id)
                              for a in sorted(self.alarms.alarms.values(),
                                              key=lambda a: a.seq)]
            return data

    def save_state(self, path=None):
        path = path or self.state_file
        data = self.snapshot()
        data['events'] = self.events.dump()
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(data, f)
        os.replace(tmp, path)
        return path
