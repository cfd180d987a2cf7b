# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Test doubles for the tools: a fake Fenix over HTTP, an in-memory Nova,
and an encoder of AODH webhook bodies that follows the real rules."""
import datetime
import itertools
import json
import threading
import uuid

from novaclient import exceptions as nova_exc

from fenix_tools import common

TRAIT_MAX = 255


def encode_trait(name, value):
    """A payload field as AODH delivers it: [name, type, value]."""
    if isinstance(value, datetime.datetime):
        return [name, 4, value.isoformat()]
    if isinstance(value, bool):
        return [name, 1, str(value)[:TRAIT_MAX]]
    if isinstance(value, int):
        return [name, 2, value]
    if isinstance(value, float):
        return [name, 3, value]
    if isinstance(value, (list, dict, tuple)):
        return [name, 1, repr(value)[:TRAIT_MAX]]
    return [name, 1, str(value)[:TRAIT_MAX]]


def aodh_body(payload, event_type='maintenance.planned', alarm_id='a-1'):
    """The body AODH POSTs for an event alarm on ``payload``; a None
    datetime leaves the trait out, as Ceilometer does."""
    traits = [encode_trait(k, v) for k, v in payload.items()
              if v is not None]
    return {'alarm_name': 'vnfm', 'alarm_id': alarm_id, 'severity': 'low',
            'previous': 'insufficient data', 'current': 'alarm',
            'reason': 'Event hits the query',
            'reason_data': {'type': 'event', 'event': {
                'message_id': str(uuid.uuid4()), 'event_type': event_type,
                'generated': datetime.datetime.utcnow().isoformat(),
                'traits': traits, 'raw': {}, 'message_signature': 'x'}}}


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class FakeFenix(object):
    """Just enough of Fenix's REST API, recording every call.

    ``affected[(session, project)]``: the ids GET answers.
    ``details[session]``: a list of detail documents; each GET of /detail
    returns the next one (the last one repeats).
    ``on_reply(record)``: called inside the PUT handler (tests look at the
    VNFM's state at the moment the reply arrives). ``refuse_repeats``: a
    reply PUT again (same path, query and body) is a 409 "already
    answered", as Fenix answers it. ``lose_answers``: that many replies
    are taken but answered 503 (the answer lost on the way back).
    """

    def __init__(self):
        self.server = common.JsonHTTPServer(name='fake-fenix')
        self.lock = threading.Lock()
        self.calls = []
        self.replies = []
        self.groups = {}
        self.instances = {}
        self.affected = {}
        self.details = {}
        self.sessions = {}
        self.created = []
        self.on_reply = None
        self.fail_replies = 0
        self.refuse_repeats = False
        self.lose_answers = 0
        # That many calls (reads of a project, constraint PUT/DELETE,
        # replies) are answered 503 as Fenix does through an outage.
        self.outage = 0
        self._answered = set()
        self.next_session_id = None
        self._detail_index = {}
        s = self.server
        s.add_route('GET', r'/v1/maintenance', self._list)
        s.add_route('POST', r'/v1/maintenance', self._create)
        s.add_route('GET', r'/v1/maintenance/(?P<sid>[^/]+)/detail',
                    self._detail)
        s.add_route('GET', r'/v1/maintenance/(?P<sid>[^/]+)', self._show)
        s.add_route('PUT', r'/v1/maintenance/(?P<sid>[^/]+)', self._update)
        s.add_route('POST', r'/v1/maintenance/(?P<sid>[^/]+)', self._update)
        s.add_route('DELETE', r'/v1/maintenance/(?P<sid>[^/]+)',
                    self._delete)
        s.add_route('GET', r'/v1/maintenance/(?P<sid>[^/]+)/(?P<pid>[^/]+)',
                    self._project_get)
        s.add_route('PUT', r'/v1/maintenance/(?P<sid>[^/]+)/(?P<pid>[^/]+)',
                    self._reply)
        s.add_route('PUT', r'/v1/maintenance/(?P<sid>[^/]+)/(?P<pid>[^/]+)'
                           r'/(?P<iid>[^/]+)', self._reply)
        for name, store in (('instance_group', self.groups),
                            ('instance', self.instances)):
            pattern = r'/v1/%s/(?P<id>[^/]+)' % name
            s.add_route('PUT', pattern, self._putter(store))
            s.add_route('DELETE', pattern, self._deleter(store))
            s.add_route('GET', pattern, self._getter(store))

    @property
    def url(self):
        return self.server.url

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.stop()

    def _log(self, request):
        with self.lock:
            self.calls.append((request.method, request.path,
                               request.json(), dict(request.headers)))

    def _away(self):
        """True (and one less) while an outage is on."""
        with self.lock:
            if self.outage > 0:
                self.outage -= 1
                return True
            return False

    UNAVAILABLE = (503, {'error': {
        'code': 503, 'title': 'Service Unavailable',
        'message': 'The Fenix database cannot be reached right now'}})

    def _putter(self, store):
        def put(request):
            self._log(request)
            if self._away():
                return self.UNAVAILABLE
            store[request.match.group('id')] = request.json()
            return 200, request.json()
        return put

    def _deleter(self, store):
        def delete(request):
            self._log(request)
            if self._away():
                return self.UNAVAILABLE
            if store.pop(request.match.group('id'), None) is None:
                return 404, {'error': 'not found'}
            return 204, None
        return delete

    def _getter(self, store):
        def get(request):
            item = store.get(request.match.group('id'))
            return (200, item) if item else (404, {'error': 'not found'})
        return get

    def _project_get(self, request):
        self._log(request)
        if self._away():
            return self.UNAVAILABLE
        key = (request.match.group('sid'), request.match.group('pid'))
        if key not in self.affected:
            return 404, {'error': 'unknown session or project'}
        return 200, {'instance_ids': list(self.affected[key])}

    def _reply(self, request):
        self._log(request)
        if self._away():
            return self.UNAVAILABLE
        if self.fail_replies > 0:
            self.fail_replies -= 1
            return 503, {'error': 'engine unreachable'}
        groups = request.match.groupdict()
        record = {'session_id': groups['sid'],
                  'project_id': groups['pid'],
                  'instance_id': groups.get('iid'),
                  'query': request.query,
                  'body': request.json(), 'headers': dict(request.headers)}
        key = (request.path, json.dumps(request.query, sort_keys=True),
               json.dumps(request.json(), sort_keys=True))
        with self.lock:
            if self.refuse_repeats and key in self._answered:
                return 409, {'error': {
                    'code': 409, 'title': 'Conflict',
                    'message': 'Reply %s refused: the current event was '
                               'already answered' % record['body'].get(
                                   'state')}}
            self._answered.add(key)
        if self.on_reply is not None:
            self.on_reply(record)
        with self.lock:
            self.replies.append(record)
            if self.lose_answers > 0:
                self.lose_answers -= 1
                return 503, {'error': 'proxy timed out'}
        return 200, request.json()

    def _list(self, request):
        return 200, {'sessions': list(self.sessions.values())}

    def _create(self, request):
        self._log(request)
        sid = self.next_session_id or str(uuid.uuid4())
        self.created.append(request.json())
        self.sessions[sid] = {'session_id': sid, 'state': 'MAINTENANCE',
                              'workflow': 'default'}
        return 201, {'session_id': sid}

    def _show(self, request):
        sid = request.match.group('sid')
        if sid not in self.sessions and sid not in self.details:
            return 404, {'error': 'Session %s not found' % sid}
        if sid in self.details:
            return 200, self.details[sid][-1]
        return 200, self.sessions[sid]

    def _detail(self, request):
        sid = request.match.group('sid')
        if sid not in self.details:
            return 404, {'error': 'Session %s not found' % sid}
        with self.lock:
            index = self._detail_index.get(sid, 0)
            docs = self.details[sid]
            self._detail_index[sid] = index + 1
        return 200, docs[min(index, len(docs) - 1)]

    def _update(self, request):
        self._log(request)
        return 200, {'session_id': request.match.group('sid')}

    def _delete(self, request):
        self._log(request)
        sid = request.match.group('sid')
        if self.sessions.pop(sid, None) is None and \
                self.details.pop(sid, None) is None:
            return 404, {'error': 'Session %s not found' % sid}
        return 204, None

    def wait_replies(self, count, timeout=10):
        return common.wait_until(lambda: len(self.replies) >= count,
                                 timeout, interval=0.02,
                                 what='%d replies' % count)


class _Obj(object):
    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __getitem__(self, key):
        return self.__dict__[key]


class _Version(object):
    ver_major = 2
    ver_minor = 1


class FakeNova(object):
    """An in-memory Nova with the calls the VNFM makes.

    Hosts of ``slots`` servers each; a new server goes to the first host
    with room that its anti-affinity group allows. ``hostId`` is the host
    name (a tenant would see a hash; the checks only compare them).
    """

    def __init__(self, hosts=('c1', 'c2', 'c3'), slots=2):
        self.api_version = _Version()
        self.hosts = list(hosts)
        self.slots = slots
        self.lock = threading.Lock()
        self.data = {}
        self.groups = {}
        self.meta_calls = []
        self.deleted = []
        self._seq = itertools.count(1)
        self.servers = _Servers(self)
        self.server_groups = _Groups(self)
        self.flavors = _Obj(list=lambda: [
            _Obj(id='1', name='m1.half', vcpus=2, ram=2048, disk=10)])

    def host_of(self, sid):
        return self.data[sid]['host']

    def set_state(self, sid, status='ACTIVE', task_state=None, host=None):
        with self.lock:
            server = self.data[sid]
            server['status'] = status
            server['task_state'] = task_state
            if host:
                server['host'] = host

    def _place(self, group):
        used = {}
        for s in self.data.values():
            used[s['host']] = used.get(s['host'], 0) + 1
        taken = set()
        if group:
            taken = {self.data[m]['host'] for m in self.groups[group]
                     if m in self.data}
        for host in self.hosts:
            if used.get(host, 0) < self.slots and host not in taken:
                return host
        raise nova_exc.Forbidden(403, 'no valid host')


class _Servers(object):
    def __init__(self, nova):
        self.nova = nova

    def create(self, name, image, flavor, meta=None, scheduler_hints=None,
               nics=None):
        nova = self.nova
        with nova.lock:
            group = (scheduler_hints or {}).get('group')
            host = nova._place(group)
            sid = 'srv-%03d' % next(nova._seq)
            nova.data[sid] = {'id': sid, 'name': name, 'status': 'ACTIVE',
                              'task_state': None, 'host': host,
                              'metadata': dict(meta or {})}
            if group:
                nova.groups[group].append(sid)
        return _Obj(id=sid, name=name)

    def _view(self, s):
        return _Obj(**{'id': s['id'], 'name': s['name'],
                       'status': s['status'],
                       'OS-EXT-STS:task_state': s['task_state'],
                       'hostId': s['host'], 'metadata': s['metadata']})

    def list(self, detailed=True):
        with self.nova.lock:
            return [self._view(s) for s in self.nova.data.values()]

    def get(self, sid):
        with self.nova.lock:
            if sid not in self.nova.data:
                raise nova_exc.NotFound(404)
            return self._view(self.nova.data[sid])

    def delete(self, sid):
        with self.nova.lock:
            if self.nova.data.pop(sid, None) is None:
                raise nova_exc.NotFound(404)
            self.nova.deleted.append(sid)

    def set_meta_item(self, sid, key, value):
        with self.nova.lock:
            self.nova.data[sid]['metadata'][key] = value
            self.nova.meta_calls.append((sid, key, value))


class _Groups(object):
    def __init__(self, nova):
        self.nova = nova

    def create(self, name, policies=None, policy=None):
        gid = str(uuid.uuid4())
        self.nova.groups[gid] = []
        return _Obj(id=gid, name=name)

    def delete(self, gid):
        self.nova.groups.pop(gid, None)
