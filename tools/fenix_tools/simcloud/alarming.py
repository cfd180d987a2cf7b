# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Alarming: the AODH v2 subset for event alarms, and their evaluation.

An alarm belongs to the project of the token that created it. Listing
shows the caller's own project only, also for an admin, unless the admin
adds ``q.field=all_projects&q.op=eq&q.value=true``; a non-admin asking
for all projects gets 403 (real-aodh.md). Readers may list but not create.

Evaluation follows aodh's event evaluator: the event's project is its
``project_id``/``tenant_id`` trait; only that project's enabled event
alarms are looked at; ``event_rule.event_type`` is an fnmatch pattern;
every ``traits.X`` query must hold (values compared after converting by
the query's ``type``); an alarm without ``repeat_actions`` that is already
in state ``alarm`` does not fire again.
"""
import fnmatch
import json
import operator

from fenix_tools.simcloud import service
from fenix_tools.simcloud import util
from fenix_tools.simcloud import wsgi

SEVERITIES = ('low', 'moderate', 'critical')
STATES = ('ok', 'alarm', 'insufficient data')
OPS = {'eq': operator.eq, 'ne': operator.ne, 'lt': operator.lt,
       'le': operator.le, 'gt': operator.gt, 'ge': operator.ge}
QUERY_TYPES = {'': 'string', 'string': 'string', 'integer': 'integer',
               'float': 'float', 'datetime': 'datetime'}
ACTION_SCHEMES = ('http', 'https', 'log', 'test', 'trust+http',
                  'trust+https', 'zaqar', 'trust+zaqar')
LIST_FIELDS = ('all_projects', 'type', 'name', 'enabled', 'state',
               'severity', 'project_id', 'user_id', 'alarm_id')


def _sanitize(value, kind):
    """aodh's ``_sanitize_trait_value``."""
    if kind in (2, 'integer'):
        return int(value)
    if kind in (3, 'float'):
        return float(value)
    if kind in (4, 'datetime'):
        return util.parse_time(value)
    return str(value)


class Alarm:
    __slots__ = ('alarm_id', 'name', 'type', 'project_id', 'user_id',
                 'description', 'enabled', 'severity', 'state',
                 'state_reason', 'state_timestamp', 'timestamp',
                 'repeat_actions', 'alarm_actions', 'ok_actions',
                 'insufficient_data_actions', 'event_rule',
                 'time_constraints', 'seq')

    def view(self):
        now = util.iso_micro(util.utcnow())
        return {
            'alarm_actions': list(self.alarm_actions),
            'alarm_id': self.alarm_id,
            'description': self.description,
            'enabled': self.enabled,
            'evaluate_timestamp': now,
            'event_rule': {'event_type': self.event_rule['event_type'],
                           'query': [dict(q) for q in
                                     self.event_rule['query']]},
            'insufficient_data_actions': list(
                self.insufficient_data_actions),
            'name': self.name,
            'ok_actions': list(self.ok_actions),
            'project_id': self.project_id,
            'repeat_actions': self.repeat_actions,
            'severity': self.severity,
            'state': self.state,
            'state_reason': self.state_reason,
            'state_timestamp': util.iso_micro(self.state_timestamp),
            'time_constraints': list(self.time_constraints),
            'timestamp': util.iso_micro(self.timestamp),
            'type': self.type,
            'user_id': self.user_id,
        }


class AlarmStore:
    def __init__(self, topo, events, lock, identity):
        self.lock = lock
        self.events = events
        self.identity = identity
        self.alarms = {}
        self.by_project = {}
        self.history = {}
        self._seq = 0
        for spec in topo.get('alarms') or []:
            self._load(spec)

    def _load(self, spec):
        project = self.identity.project(spec.get('project') or
                                        spec.get('project_id') or 'admin')
        if project is None:
            raise ValueError('alarms: unknown project in %r' % spec)
        user = self.identity.user(spec.get('user') or spec.get('user_id')
                                  or 'admin')
        alarm = self.validate(dict(spec), project['id'],
                              user['id'] if user else None)
        if spec.get('alarm_id'):
            alarm.alarm_id = spec['alarm_id']
        alarm.state = spec.get('state', alarm.state)
        self._add(alarm)

    # --- storage -------------------------------------------------------------

    def _add(self, alarm):
        self._seq += 1
        alarm.seq = self._seq
        self.alarms[alarm.alarm_id] = alarm
        self.by_project.setdefault(alarm.project_id, {})[alarm.alarm_id] = \
            alarm
        self.history[alarm.alarm_id] = []
        self._record_history(alarm, 'creation', alarm.view())

    def _record_history(self, alarm, kind, detail, user_id=None,
                        project_id=None):
        self.history.setdefault(alarm.alarm_id, []).append({
            'alarm_id': alarm.alarm_id,
            'detail': json.dumps(detail, sort_keys=True),
            'event_id': util.new_uuid(),
            'on_behalf_of': alarm.project_id,
            'project_id': project_id or alarm.project_id,
            'severity': alarm.severity,
            'timestamp': util.iso_micro(util.utcnow()),
            'type': kind,
            'user_id': user_id or alarm.user_id})

    def remove(self, alarm):
        self.alarms.pop(alarm.alarm_id, None)
        self.by_project.get(alarm.project_id, {}).pop(alarm.alarm_id, None)

    def validate(self, body, project_id, user_id, existing=None):
        """Build an :class:`Alarm` from an API body (400 when invalid)."""
        if not isinstance(body, dict):
            raise util.BadRequest('Invalid input: an alarm must be an '
                                  'object')
        name = body.get('name')
        if not isinstance(name, str) or not name:
            raise util.BadRequest("Mandatory field missing: 'name'")
        atype = body.get('type')
        if not atype:
            raise util.BadRequest("Mandatory field missing: 'type'")
        if atype != 'event':
            raise util.BadRequest('Alarm type %s is not supported by the '
                                  'simulated AODH (only event alarms).'
                                  % atype)
        rule = body.get('event_rule') or {}
        if not isinstance(rule, dict):
            raise util.BadRequest('event_rule must be an object')
        event_type = rule.get('event_type') or '*'
        query = []
        raw_query = rule.get('query') or []
        if not isinstance(raw_query, list):
            raise util.BadRequest('event_rule.query must be a list')
        for q in raw_query:
            if not isinstance(q, dict) or 'field' not in q or \
                    'value' not in q:
                raise util.BadRequest('Invalid query %r: field and value '
                                      'are required' % (q,))
            op = q.get('op') or 'eq'
            if op not in OPS:
                raise util.BadRequest("Invalid input for field/attribute "
                                      "op. Value: '%s'." % op)
            qtype = q.get('type') or ''
            if qtype not in QUERY_TYPES and qtype != 'boolean':
                raise util.BadRequest('The data type %s is not supported.'
                                      % qtype)
            query.append({'field': str(q['field']), 'op': op,
                          'type': qtype, 'value': str(q['value'])})
        actions = {}
        for key in ('alarm_actions', 'ok_actions',
                    'insufficient_data_actions'):
            urls = body.get(key) or []
            if not isinstance(urls, list):
                raise util.BadRequest('%s must be a list' % key)
            seen = []
            for url in urls:
                scheme = str(url).split('://', 1)[0] if '://' in str(url) \
                    else ''
                if scheme not in ACTION_SCHEMES:
                    raise util.BadRequest('Unsupported action %s' % url)
                if url not in seen:
                    seen.append(url)
            actions[key] = seen
        severity = body.get('severity', 'low')
        if severity not in SEVERITIES:
            raise util.BadRequest("Invalid input for field/attribute "
                                  "severity. Value: '%s'." % severity)
        state = body.get('state', 'insufficient data')
        if state not in STATES:
            raise util.BadRequest("Invalid input for field/attribute state."
                                  " Value: '%s'." % state)
        now = util.utcnow()
        alarm = Alarm()
        alarm.alarm_id = existing.alarm_id if existing else util.new_uuid()
        alarm.name = name
        alarm.type = 'event'
        alarm.project_id = project_id
        alarm.user_id = user_id
        alarm.description = body.get('description') or \
            'Alarm when %s event occurred.' % event_type
        alarm.enabled = util.parse_bool(body.get('enabled', True),
                                        default=True)
        alarm.severity = severity
        alarm.state = state
        alarm.state_reason = (existing.state_reason if existing
                              else 'Not evaluated yet')
        alarm.state_timestamp = (existing.state_timestamp if existing and
                                 existing.state == state else now)
        alarm.timestamp = now
        alarm.repeat_actions = util.parse_bool(
            body.get('repeat_actions', False), default=False)
        alarm.alarm_actions = actions['alarm_actions']
        alarm.ok_actions = actions['ok_actions']
        alarm.insufficient_data_actions = \
            actions['insufficient_data_actions']
        alarm.event_rule = {'event_type': event_type, 'query': query}
        alarm.time_constraints = list(body.get('time_constraints') or [])
        alarm.seq = existing.seq if existing else 0
        return alarm

    def check_name(self, alarm, ignore=None):
        for other in self.by_project.get(alarm.project_id, {}).values():
            if other.name == alarm.name and other.alarm_id != ignore:
                raise util.Conflict("Alarm with name='%s' exists"
                                    % alarm.name)

    # --- evaluation ----------------------------------------------------------

    @staticmethod
    def _matches(alarm, event, traits):
        for q in alarm.event_rule['query']:
            field = q['field']
            if not field.startswith('traits.'):
                # aodh keeps such a condition unconverted and then fails
                # to evaluate the alarm: it never fires.
                return False, 'non-trait query field %s' % field
            kind = QUERY_TYPES.get(q['type'])
            if kind is None:
                return False, 'unsupported query type %s' % q['type']
            try:
                wanted = _sanitize(q['value'], kind)
                value = traits.get(field.split('.', 1)[1])
                if not OPS[q['op']](value, wanted):
                    return False, None
            except (TypeError, ValueError) as exc:
                return False, 'cannot compare %s: %s' % (field, exc)
        return True, None

    def evaluate(self, event):
        """Fire the alarms that ``event`` hits.

        Returns ``[(alarm_view, previous_state, reason, actions)]`` in
        alarm creation order; state changes are applied here.
        """
        traits = {}
        project = ''
        for name, kind, value in event['traits']:
            try:
                traits[name] = _sanitize(value, kind)
            except (TypeError, ValueError):
                traits[name] = value
            if name in ('tenant_id', 'project_id'):
                project = traits[name]
        fired = []
        with self.lock:
            candidates = sorted(self.by_project.get(project, {}).values(),
                                key=lambda a: a.seq)
            for alarm in candidates:
                if not alarm.enabled or alarm.type != 'event':
                    continue
                if not alarm.repeat_actions and alarm.state == 'alarm':
                    continue
                if not fnmatch.fnmatchcase(event['event_type'],
                                           alarm.event_rule['event_type']):
                    continue
                ok, problem = self._matches(alarm, event, traits)
                if problem:
                    self.events.record('alarm.error', alarm=alarm.alarm_id,
                                       project=alarm.project_id,
                                       error=problem)
                if not ok:
                    continue
                previous = alarm.state
                reason = ('Event <id=%s,event_type=%s> hits the query '
                          '<query=%s>.' % (
                              event['message_id'], event['event_type'],
                              json.dumps(alarm.event_rule['query'],
                                         sort_keys=True)))
                alarm.state = 'alarm'
                alarm.state_reason = reason
                if previous != 'alarm':
                    alarm.state_timestamp = util.utcnow()
                self._record_history(alarm, 'state transition',
                                     {'state': 'alarm'})
                self.events.record('alarm.fire', alarm=alarm.alarm_id,
                                   alarm_name=alarm.name,
                                   project=alarm.project_id,
                                   event_type=event['event_type'],
                                   message_id=event['message_id'],
                                   previous=previous)
                fired.append((alarm.view(), previous, reason,
                              list(alarm.alarm_actions)))
        return fired


class AlarmingApp(service.ServiceApp):
    """``/alarming``: the AODH front end."""

    name = 'alarming'

    @property
    def store(self):
        return self.sim.alarms

    def add_routes(self, r):
        r.add('GET', '/', self.versions)
        r.add('GET', '/v2', self.version)
        r.add('GET', '/v2/capabilities', self.capabilities)
        r.add('GET', '/v2/alarms', self.list_alarms)
        r.add('POST', '/v2/alarms', self.create_alarm)
        r.add('GET', '/v2/alarms/{alarm_id}', self.show_alarm)
        r.add('PUT', '/v2/alarms/{alarm_id}', self.update_alarm)
        r.add('DELETE', '/v2/alarms/{alarm_id}', self.delete_alarm)
        r.add('GET', '/v2/alarms/{alarm_id}/state', self.get_state)
        r.add('PUT', '/v2/alarms/{alarm_id}/state', self.set_state)
        r.add('GET', '/v2/alarms/{alarm_id}/history', self.get_history)

    def error_body(self, exc):
        return {'error_message': {
            'faultstring': exc.message,
            'faultcode': 'Client' if exc.status < 500 else 'Server',
            'debuginfo': None}}

    def versions(self, req):
        return wsgi.json_response({'versions': {'values': [{
            'status': 'stable', 'id': 'v2',
            'updated': '2013-02-13T00:00:00Z',
            'links': [{'rel': 'self',
                       'href': self.sim.alarming_url + '/v2'},
                      {'rel': 'describedby', 'type': 'text/html',
                       'href': 'https://docs.openstack.org/'}],
            'media-types': [{'base': 'application/json',
                             'type': 'application/vnd.openstack.telemetry-'
                                     'v2+json'}]}]}})

    def version(self, req):
        return wsgi.json_response({'resources': [{'links': [{
            'rel': 'self', 'href': self.sim.alarming_url + '/v2/alarms'}]}]})

    def capabilities(self, req):
        self.authenticate(req)
        return wsgi.json_response({
            'api': {'alarms:query:simple': True,
                    'alarms:query:complex': False,
                    'alarms:history:query:simple': True,
                    'alarms:history:query:complex': False},
            'alarm_storage': {'storage:production_ready': False}})

    def _alarm(self, ctx, alarm_id):
        alarm = self.store.alarms.get(alarm_id)
        if alarm is None or (not ctx.is_admin and
                             alarm.project_id != ctx.project_id):
            raise util.NotFound('Alarm %s not found' % alarm_id)
        return alarm

    @staticmethod
    def _need_member(ctx):
        if 'member' not in ctx.roles:
            raise util.Forbidden('RBAC Authorization Failed')

    def list_alarms(self, req):
        ctx = self.authenticate(req)
        fields = req.GET.getall('q.field')
        ops = req.GET.getall('q.op')
        values = req.GET.getall('q.value')
        if not (len(fields) == len(values) and len(ops) in (0,
                                                            len(fields))):
            raise util.BadRequest('q.field, q.op and q.value must be given '
                                  'the same number of times')
        filters = {}
        all_projects = False
        for index, field in enumerate(fields):
            op = ops[index] if ops else 'eq'
            value = values[index]
            if field not in LIST_FIELDS:
                raise util.BadRequest('Unknown argument: "%s": unrecognized'
                                      ' field in query' % field)
            if field == 'all_projects':
                all_projects = util.parse_bool(value, default=False)
                continue
            if op not in ('eq', 'ne'):
                raise util.BadRequest('Operator %s is not supported for '
                                      'field %s' % (op, field))
            filters[field] = (op, value)
        if all_projects and not ctx.is_admin:
            raise util.Forbidden('RBAC Authorization Failed')
        project = filters.pop('project_id', None)
        if project is not None and not ctx.is_admin and \
                (project[0] != 'eq' or project[1] != ctx.project_id):
            raise util.HTTPError('Not Authorized to access project %s'
                                 % project[1], status=401)
        with self.sim.lock:
            alarms = sorted(self.store.alarms.values(), key=lambda a: a.seq)
            out = []
            for alarm in alarms:
                if not all_projects:
                    if project is not None and ctx.is_admin:
                        if (alarm.project_id == project[1]) != \
                                (project[0] == 'eq'):
                            continue
                    elif alarm.project_id != ctx.project_id:
                        continue
                view = alarm.view()
                keep = True
                for field, (op, value) in filters.items():
                    actual = view.get(field)
                    if field == 'enabled':
                        actual = str(actual).lower()
                        value = str(util.parse_bool(value)).lower()
                    equal = str(actual) == value
                    if equal != (op == 'eq'):
                        keep = False
                        break
                if keep:
                    out.append(view)
            marker = req.GET.get('marker')
            if marker:
                ids = [a['alarm_id'] for a in out]
                if marker not in ids:
                    raise util.BadRequest('Marker %s not found' % marker)
                out = out[ids.index(marker) + 1:]
            if req.GET.get('limit'):
                try:
                    out = out[:int(req.GET['limit'])]
                except ValueError:
                    raise util.BadRequest('limit must be an integer')
        return wsgi.json_response(out)

    def create_alarm(self, req):
        ctx = self.authenticate(req)
        self._need_member(ctx)
        body = wsgi.json_body(req)
        project_id = ctx.project_id
        user_id = ctx.user_id
        if isinstance(body, dict) and body.get('project_id') and \
                body['project_id'] != ctx.project_id:
            if not ctx.is_admin:
                raise util.HTTPError('Not Authorized to access project %s'
                                     % body['project_id'], status=401)
            project_id = body['project_id']
            user_id = body.get('user_id') or user_id
        with self.sim.lock:
            alarm = self.store.validate(body, project_id, user_id)
            self.store.check_name(alarm)
            self.store._add(alarm)
            view = alarm.view()
        self.sim.events.record('alarm.create', alarm=alarm.alarm_id,
                               alarm_name=alarm.name, project=project_id,
                               event_type=alarm.event_rule['event_type'])
        return wsgi.json_response(view, status=201)

    def show_alarm(self, req, alarm_id):
        ctx = self.authenticate(req)
        with self.sim.lock:
            view = self._alarm(ctx, alarm_id).view()
        return wsgi.json_response(view)

    def update_alarm(self, req, alarm_id):
        ctx = self.authenticate(req)
        self._need_member(ctx)
        body = wsgi.json_body(req)
        with self.sim.lock:
            old = self._alarm(ctx, alarm_id)
            alarm = self.store.validate(body, old.project_id, old.user_id,
                                        existing=old)
            self.store.check_name(alarm, ignore=old.alarm_id)
            self.store.remove(old)
            self.store.alarms[alarm.alarm_id] = alarm
            self.store.by_project.setdefault(alarm.project_id, {})[
                alarm.alarm_id] = alarm
            self.store._record_history(alarm, 'rule change', alarm.view(),
                                       ctx.user_id, ctx.project_id)
            view = alarm.view()
        self.sim.events.record('alarm.update', alarm=alarm.alarm_id,
                               alarm_name=alarm.name,
                               project=alarm.project_id)
        return wsgi.json_response(view)

    def delete_alarm(self, req, alarm_id):
        ctx = self.authenticate(req)
        self._need_member(ctx)
        with self.sim.lock:
            alarm = self._alarm(ctx, alarm_id)
            self.store.remove(alarm)
        self.sim.events.record('alarm.delete', alarm=alarm.alarm_id,
                               alarm_name=alarm.name,
                               project=alarm.project_id)
        return wsgi.json_response(None, status=204)

    def get_state(self, req, alarm_id):
        ctx = self.authenticate(req)
        with self.sim.lock:
            state = self._alarm(ctx, alarm_id).state
        return wsgi.json_response(state)

    def set_state(self, req, alarm_id):
        ctx = self.authenticate(req)
        self._need_member(ctx)
        state = wsgi.json_body(req)
        if state not in STATES:
            raise util.BadRequest("Invalid input for field/attribute state."
                                  " Value: '%s'." % state)
        with self.sim.lock:
            alarm = self._alarm(ctx, alarm_id)
            if alarm.state != state:
                alarm.state_timestamp = util.utcnow()
            alarm.state = state
            alarm.state_reason = 'Manually set via API'
            self.store._record_history(alarm, 'state transition',
                                       {'state': state}, ctx.user_id,
                                       ctx.project_id)
        return wsgi.json_response(state)

    def get_history(self, req, alarm_id):
        ctx = self.authenticate(req)
        with self.sim.lock:
            alarm = self._alarm(ctx, alarm_id)
            entries = list(reversed(self.store.history.get(alarm.alarm_id,
                                                           [])))
        return wsgi.json_response(entries)
