# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``/sim``: the control API for tests, demos and Fenix's HTTP notifier.

No authentication; only loopback clients are served (others get 403).
Every answer is JSON; errors are ``{"error": {"code", "message"}}``.
"""
import ipaddress

from fenix_tools.simcloud import events as events_mod
from fenix_tools.simcloud import service
from fenix_tools.simcloud import topology
from fenix_tools.simcloud import util
from fenix_tools.simcloud import wsgi

ROUTES = [
    ('GET', '/', 'this index'),
    ('GET', '/health', 'liveness'),
    ('GET', '/topology', 'snapshot of everything (loadable as a topology)'),
    ('GET', '/events', '?since=N&kind=K&server=S&host=H: the event log'),
    ('GET', '/events/kinds', 'the event kinds and what they mean'),
    ('GET', '/deliveries', '?since=N&alarm_id=A: webhook POSTs done'),
    ('POST', '/notifications', 'one notification {event_type, payload, '
                               'publisher_id, timestamp, priority}, or an '
                               'array of them (taken in order)'),
    ('GET', '/faults', 'current fault injection'),
    ('PUT', '/faults', 'replace fault injection (topology faults: format)'),
    ('DELETE', '/faults', 'clear all faults'),
    ('POST', '/faults/migrations', 'add one migration fault rule'),
    ('POST', '/faults/api', 'add one API fault rule'),
    ('POST', '/allocations/heal', 'drop the claims leaked by failed '
                                  'migrations (faults leak_allocations)'),
    ('GET', '/timing', 'operation durations (seconds)'),
    ('PUT', '/timing', 'change some durations'),
    ('GET', '/endpoints', 'extra catalog endpoints'),
    ('PUT', '/endpoints/{service_type}', '{"url": ...}: set an endpoint'),
    ('DELETE', '/endpoints/{service_type}', 'remove an endpoint'),
    ('PUT', '/hosts/{host}', '{"state": "down"|"up"}: crash/revive a host'),
    ('GET', '/hosts/{host}/software', 'the version and capabilities the '
                                      'host advertises'),
    ('POST', '/hosts/{host}/upgrade', '{"version", "capabilities": '
                                      'optional}: upgrade the host\'s '
                                      'software (changed: false when it '
                                      'already runs that)'),
    ('POST', '/tokens/expire', 'expire every token'),
    ('POST', '/save', '{"path": optional}: write the state file'),
    ('GET', '/wait-idle', '?timeout=S: wait until no operation is in '
                          'flight'),
    ('GET', '/history/servers/{server}', 'timeline and host intervals'),
    ('GET', '/history/disabled-hosts', '?at=T: disabled compute hosts'),
    ('GET', '/history/maintenance', 'host maintenance windows and servers '
                                    'found on a host during its window'),
]


class ControlApp(service.ServiceApp):
    name = 'sim'
    faultable = False

    def add_routes(self, r):
        r.add('GET', '/', self.index)
        r.add('GET', '/health', self.health)
        r.add('GET', '/topology', self.get_topology)
        r.add('GET', '/events', self.get_events)
        r.add('GET', '/events/kinds', self.get_kinds)
        r.add('GET', '/deliveries', self.get_deliveries)
        r.add('POST', '/notifications', self.post_notification)
        r.add('GET', '/faults', self.get_faults)
        r.add('PUT', '/faults', self.put_faults)
        r.add('DELETE', '/faults', self.delete_faults)
        r.add('POST', '/faults/migrations', self.add_migration_fault)
        r.add('POST', '/faults/api', self.add_api_fault)
        r.add('POST', '/allocations/heal', self.heal_allocations)
        r.add('GET', '/timing', self.get_timing)
        r.add('PUT', '/timing', self.put_timing)
        r.add('GET', '/endpoints', self.get_endpoints)
        r.add('PUT', '/endpoints/{service_type}', self.put_endpoint)
        r.add('DELETE', '/endpoints/{service_type}', self.delete_endpoint)
        r.add('PUT', '/hosts/{host}', self.put_host)
        r.add('GET', '/hosts/{host}/software', self.get_software)
        r.add('POST', '/hosts/{host}/upgrade', self.upgrade_host)
        r.add('POST', '/tokens/expire', self.expire_tokens)
        r.add('POST', '/save', self.save)
        r.add('GET', '/wait-idle', self.wait_idle)
        r.add('GET', '/history/servers/{server}', self.server_history)
        r.add('GET', '/history/disabled-hosts', self.disabled_hosts)
        r.add('GET', '/history/maintenance', self.maintenance)

    def prepare(self, req, path):
        addr = req.environ.get('REMOTE_ADDR', '')
        try:
            loopback = ipaddress.ip_address(addr).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise util.Forbidden('The control API is served to loopback '
                                 'clients only.')

    def error_body(self, exc):
        return {'error': {'code': exc.status, 'message': exc.message}}

    @staticmethod
    def _float(req, name, default=None):
        value = req.GET.get(name)
        if value is None:
            return default
        try:
            return float(value)
        except ValueError:
            raise util.BadRequest('%s must be a number' % name)

    def index(self, req):
        return wsgi.json_response({'routes': [
            {'method': m, 'path': '/sim' + (p if p != '/' else ''),
             'help': h} for m, p, h in ROUTES]})

    def health(self, req):
        return wsgi.json_response({'status': 'ok', 'url': self.sim.url,
                                   'events': self.sim.events.last_seq})

    def get_topology(self, req):
        data = self.sim.snapshot()
        with self.sim.lock:
            for user in data['users']:
                user.pop('password', None)
        return wsgi.json_response(data)

    def get_events(self, req):
        since = int(self._float(req, 'since', 0))
        filters = {}
        for key in ('kind', 'server', 'host'):
            if req.GET.get(key):
                filters[key] = req.GET[key]
        found = self.sim.events.events(since=since, **filters)
        return wsgi.json_response({'events': found,
                                   'last': self.sim.events.last_seq})

    def get_kinds(self, req):
        return wsgi.json_response({'kinds': events_mod.KINDS})

    def get_deliveries(self, req):
        since = int(self._float(req, 'since', 0))
        match = {k: req.GET[k] for k in ('alarm_id', 'url', 'project_id',
                                         'event_type') if req.GET.get(k)}
        return wsgi.json_response(
            {'deliveries': self.sim.deliveries(since=since, **match)})

    def post_notification(self, req):
        body = wsgi.json_body(req)
        if isinstance(body, list):
            # Several at once (fenix-http with [notification_http] batch):
            # all are checked first, then taken in their order.
            if not body:
                raise util.BadRequest('An array of notifications must not '
                                      'be empty.')
            for n, item in enumerate(body):
                self._check_notification(item, ' (item %d)' % n)
            results = [self._take_notification(item) for item in body]
            return wsgi.json_response({'notifications': results},
                                      status=202)
        self._check_notification(body)
        return wsgi.json_response(self._take_notification(body), status=202)

    @staticmethod
    def _check_notification(body, where=''):
        if not isinstance(body, dict):
            raise util.BadRequest('A notification must be a JSON object%s.'
                                  % where)
        if not isinstance(body.get('event_type'), str) or \
                not body['event_type']:
            raise util.BadRequest("'event_type' is required (a string)%s."
                                  % where)
        if not isinstance(body.get('payload'), dict):
            raise util.BadRequest("'payload' is required (an object)%s."
                                  % where)

    def _take_notification(self, body):
        notification = {
            'event_type': body['event_type'], 'payload': body['payload'],
            'publisher_id': body.get('publisher_id'),
            'timestamp': body.get('timestamp') or util.iso_micro(
                util.utcnow()),
            'priority': str(body.get('priority') or 'INFO').upper(),
            'message_id': body.get('message_id') or util.new_uuid(),
            'ctxt': body.get('ctxt') or body.get('context') or {}}
        result = self.sim.receive_notification(notification, intake='http')
        return {'message_id': notification['message_id'],
                'event': result['event'], 'alarms': result['alarms'],
                'dropped': result['dropped']}

    def get_faults(self, req):
        with self.sim.lock:
            faults = self.sim.cloud.faults.to_dict()
        return wsgi.json_response({'faults': faults})

    def _set_faults(self, apply):
        try:
            apply()
        except topology.TopologyError as exc:
            raise util.BadRequest(str(exc))
        return self.get_faults(None)

    def put_faults(self, req):
        body = wsgi.json_body(req)
        return self._set_faults(lambda: self.sim.set_faults(
            body.get('faults', body) if isinstance(body, dict) else body))

    def delete_faults(self, req):
        return self._set_faults(self.sim.clear_faults)

    def _add_fault(self, req, kind):
        body = wsgi.json_body(req)
        if not isinstance(body, dict):
            raise util.BadRequest('A rule must be a JSON object.')
        return self._set_faults(lambda: self.sim.add_fault(kind, **body))

    def add_migration_fault(self, req):
        return self._add_fault(req, 'migrations')

    def add_api_fault(self, req):
        return self._add_fault(req, 'api')

    def heal_allocations(self, req):
        return wsgi.json_response({'healed': self.sim.heal_allocations()})

    def get_timing(self, req):
        with self.sim.lock:
            timing = dict(self.sim.cloud.timing)
        return wsgi.json_response({'timing': timing})

    def put_timing(self, req):
        body = wsgi.json_body(req)
        if not isinstance(body, dict):
            raise util.BadRequest('Timing must be a JSON object.')
        body = body.get('timing', body)
        try:
            timing = self.sim.set_timing(**{k: float(v)
                                            for k, v in body.items()})
        except (TypeError, ValueError) as exc:
            raise util.BadRequest(str(exc))
        return wsgi.json_response({'timing': timing})

    def get_endpoints(self, req):
        return wsgi.json_response({'endpoints': self.sim.service_urls()})

    def put_endpoint(self, req, service_type):
        body = wsgi.json_body(req)
        if not isinstance(body, dict) or not isinstance(body.get('url'),
                                                        str):
            raise util.BadRequest("'url' is required.")
        try:
            self.sim.set_endpoint(service_type, body['url'])
        except ValueError as exc:
            raise util.BadRequest(str(exc))
        return self.get_endpoints(req)

    def delete_endpoint(self, req, service_type):
        try:
            self.sim.set_endpoint(service_type, None)
        except ValueError as exc:
            raise util.BadRequest(str(exc))
        return self.get_endpoints(req)

    def put_host(self, req, host):
        body = wsgi.json_body(req)
        if not isinstance(body, dict) or 'state' not in body:
            raise util.BadRequest("'state' is required (up or down).")
        self.sim.set_host_state(host, body['state'])
        return wsgi.json_response({'host': host, 'state': body['state']})

    def get_software(self, req, host):
        return wsgi.json_response(self.sim.cloud.host_software(host))

    def upgrade_host(self, req, host):
        body = wsgi.json_body(req)
        if not isinstance(body, dict):
            raise util.BadRequest('An upgrade must be a JSON object.')
        caps = body.get('capabilities')
        if caps is not None and not isinstance(caps, list):
            raise util.BadRequest("'capabilities' must be a list.")
        view, changed = self.sim.cloud.upgrade_host(
            host, body.get('version'), caps)
        return wsgi.json_response(dict(view, changed=changed))

    def expire_tokens(self, req):
        return wsgi.json_response({'expired': self.sim.expire_tokens()})

    def save(self, req):
        body = wsgi.json_body(req, required=False) or {}
        path = body.get('path') or self.sim.state_file
        if not path:
            raise util.BadRequest("No state file: give 'path'.")
        return wsgi.json_response({'path': self.sim.save_state(path)})

    def wait_idle(self, req):
        timeout = min(self._float(req, 'timeout', 10.0), 300.0)
        return wsgi.json_response({'idle': self.sim.wait_idle(timeout)})

    def server_history(self, req, server):
        found = self.sim.cloud.find_server(server)
        server_id = found.id if found else server
        history = self.sim.history
        return wsgi.json_response({
            'server': server_id,
            'timeline': [{'t': t, 'host': h, 'status': s}
                         for t, h, s in history.server_timeline(server_id)],
            'hosts': [{'host': h, 'from': a, 'to': b}
                      for h, a, b in history.host_intervals(server_id)]})

    def disabled_hosts(self, req):
        at = self._float(req, 'at')
        return wsgi.json_response(
            {'hosts': self.sim.history.disabled_hosts(at=at)})

    def maintenance(self, req):
        history = self.sim.history
        servers = sorted({e['server'] for e in self.sim.events.events(
            kind='server.create')})
        return wsgi.json_response({
            'windows': [{'host': h, 'from': a, 'to': b, 'session_id': s}
                        for h, a, b, s in history.maintenance_intervals()],
            'violations': [{'server': s, 'host': h, 'from': a, 'to': b}
                           for s, h, a, b in
                           history.maintenance_violations(servers)]})
