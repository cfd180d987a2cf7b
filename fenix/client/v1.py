# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A client of every route of the Fenix API v1 (doc/source/api-ref.rst).

Built on a keystoneauth1 :class:`~keystoneauth1.adapter.Adapter` of
service type ``maintenance``: the endpoint comes from the catalog of the
session (or ``endpoint``), the token, TLS options and the user agent from
the session. Without a session (an all-in-one with ``auth_strategy =
noauth``) give ``endpoint`` and, if wanted, the noauth identity headers in
``headers``.

Retries happen only where repeating a request cannot change anything
twice:

* reads (``GET``): on connection failures and on 503;
* a session create, which always carries an ``Idempotency-Key`` header
  (a new UUID per call unless one is given): the API answers a repeat
  with the session the first one made;
* any other request only on 503, which the API documents as "nothing was
  changed" (an engine that gets the request later drops it). A reply that
  was sent is never sent again: the API refuses a repeated reply (409,
  "a reply answers one event once"), so replies are not idempotent.
"""
import urllib.parse
import uuid

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session

from fenix.client import exceptions as exc

SERVICE_TYPE = 'maintenance'
API_VERSION = 'v1'
IDEMPOTENCY_HEADER = 'Idempotency-Key'
RETRIABLE_STATUS = (503,)
DEFAULT_RETRIES = 3
DEFAULT_TIMEOUT = 60

# The create body's fields (POST /v1/maintenance): the upstream ones and
# Fenix's own session options.
SESSION_FIELDS = ('hosts', 'state', 'maintenance_at', 'metadata',
                  'workflow', 'actions', 'download', 'dry_run',
                  'max_parallel_hosts', 'max_concurrent_migrations',
                  'nack_policy', 'silent_own_action', 'reply_window',
                  'estimates')
INSTANCE_GROUP_FIELDS = ('project_id', 'group_name', 'anti_affinity_group',
                         'max_instances_per_host', 'max_impacted_members',
                         'recovery_time', 'resource_mitigation')
INSTANCE_FIELDS = ('project_id', 'group_id', 'instance_name',
                   'max_interruption_time', 'migration_type',
                   'resource_mitigation', 'lead_time')

# POST /v1/maintenance/{session_id} {"action": ...}
ACTION_PAUSE = 'pause'
ACTION_RESUME = 'resume'
ACTION_SKIP_HOST = 'skip_host'
ACTION_RETRY = 'retry'


def base_url(url):
    """An endpoint without its trailing '/' and '/v1'."""
    url = (url or '').rstrip('/')
    if url.endswith('/' + API_VERSION):
        url = url[:-len(API_VERSION) - 1]
    return url


def _quote(value):
    return urllib.parse.quote(str(value), safe='')


def _fields(values, allowed, what):
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise TypeError('%s: unknown field(s) %s' % (what,
                                                     ', '.join(unknown)))
    return {k: v for k, v in values.items() if v is not None}


class Client(object):
    """The Fenix API v1.

    :param session: a keystoneauth1 session (None: an unauthenticated one,
        then ``endpoint`` is required).
    :param endpoint: the API's URL (with or without ``/v1``); default the
        catalog's ``maintenance`` endpoint.
    :param interface: endpoint interface in the catalog.
    :param region_name: region of the endpoint.
    :param headers: headers sent with every request (e.g. noauth's
        ``X-Project-Id``/``X-Roles``).
    :param retries: how many times a safe request is repeated.
    :param timeout: seconds to wait for an answer.
    """

    def __init__(self, session=None, endpoint=None, interface=None,
                 region_name=None, headers=None, retries=DEFAULT_RETRIES,
                 timeout=DEFAULT_TIMEOUT, retry_delay=0.5, **adapter_kw):
        if session is None:
            if not endpoint:
                raise exc.EndpointNotFound(
                    'an endpoint is needed without a Keystone session')
            session = ks_session.Session()
        self.retries = retries
        self.timeout = timeout
        self.retry_delay = retry_delay
        self.adapter = ks_adapter.Adapter(
            session, service_type=SERVICE_TYPE, interface=interface,
            region_name=region_name, endpoint_override=endpoint,
            additional_headers=dict(headers or {}),
            client_name='fenix-client', **adapter_kw)
        self._base = base_url(endpoint) if endpoint else None

    # --- transport -----------------------------------------------------------

    @property
    def endpoint(self):
        """The API's base URL (no /v1), from the catalog on first use."""
        if self._base is None:
            try:
                url = self.adapter.get_endpoint()
            except ks_exc.EndpointNotFound:
                url = None
            if not url:
                raise exc.EndpointNotFound(
                    'no %r endpoint in the catalog' % SERVICE_TYPE)
            self._base = base_url(url)
        return self._base

    def request(self, method, path, body=None, params=None, headers=None,
                retry=False):
        """One request; the decoded JSON answer (``{}`` when empty).

        ``retry``: the request may be repeated after a connection failure
        (it is safe to repeat); a 503 is always retried.
        """
        url = self.endpoint + path
        kwargs = {
            'headers': dict(headers or {}, Accept='application/json'),
            'raise_exc': False,
            'timeout': self.timeout,
            'connect_retries': self.retries if retry else 0,
            'status_code_retries': self.retries,
            'retriable_status_codes': list(RETRIABLE_STATUS),
            'connect_retry_delay': self.retry_delay,
            'status_code_retry_delay': self.retry_delay,
        }
        if body is not None:
            kwargs['json'] = body
        if params:
            kwargs['params'] = params
        try:
            resp = self.adapter.request(url, method, **kwargs)
        except ks_exc.ConnectionError as e:
            raise exc.ConnectionFailure('%s %s: %s' % (method, url, e),
                                        method=method, url=url)
        if resp.status_code >= 400:
            raise exc.from_response(resp, method, url)
        if not resp.content:
            return {}
        try:
            return resp.json()
        except ValueError:
            raise exc.ClientException(
                '%s %s: the answer is not JSON' % (method, url),
                status=resp.status_code, method=method, url=url)

    def _get(self, path, params=None):
        return self.request('GET', path, params=params, retry=True)

    # --- versions ------------------------------------------------------------

    def get_versions(self):
        """``GET /``: the version document."""
        return self._get('/')

    def get_version(self):
        """``GET /v1``: the v1 entry and its resources."""
        return self._get('/v1')

    # --- sessions (infrastructure admin) ------------------------------------

    def create_session(self, idempotency_key=None, **fields):
        """``POST /v1/maintenance``; the fields of :data:`SESSION_FIELDS`.

        ``state`` defaults to ``MAINTENANCE``. ``idempotency_key``: the
        key of this intended session (default a new UUID); repeats of the
        request, also after a lost answer, make one session only.
        """
        body = _fields(fields, SESSION_FIELDS, 'create_session')
        body.setdefault('state', 'MAINTENANCE')
        key = idempotency_key or str(uuid.uuid4())
        return self.request('POST', '/v1/maintenance', body,
                            headers={IDEMPOTENCY_HEADER: key}, retry=True)

    def list_sessions(self):
        """``GET /v1/maintenance``: the list of sessions."""
        return self._get('/v1/maintenance').get('sessions', [])

    def get_session(self, session_id):
        return self._get('/v1/maintenance/%s' % _quote(session_id))

    def get_session_detail(self, session_id):
        return self._get('/v1/maintenance/%s/detail' % _quote(session_id))

    def continue_session(self, session_id, state=None):
        """``PUT /v1/maintenance/{id}``: continue a failed session (from
        ``state``, default where it failed)."""
        body = {'state': state} if state else {}
        return self.request('PUT', '/v1/maintenance/%s' % _quote(session_id),
                            body)

    def delete_session(self, session_id):
        return self.request('DELETE',
                            '/v1/maintenance/%s' % _quote(session_id))

    def _control(self, session_id, action, **fields):
        body = dict({k: v for k, v in fields.items() if v is not None},
                    action=action)
        return self.request('POST', '/v1/maintenance/%s' % _quote(session_id),
                            body)

    def pause_session(self, session_id, reason=None):
        return self._control(session_id, ACTION_PAUSE, reason=reason)

    def resume_session(self, session_id):
        return self._control(session_id, ACTION_RESUME)

    def skip_host(self, session_id, host, reason=None):
        return self._control(session_id, ACTION_SKIP_HOST, host=host,
                             reason=reason)

    def retry_session(self, session_id):
        return self._control(session_id, ACTION_RETRY)

    # --- projects (application managers) ------------------------------------

    @staticmethod
    def _event(event_id):
        return {'event_id': event_id} if event_id else None

    def get_project(self, session_id, project_id, event_id=None):
        return self._get('/v1/maintenance/%s/%s' % (_quote(session_id),
                                                    _quote(project_id)),
                         params=self._event(event_id))

    def project_reply(self, session_id, project_id, state,
                      instance_actions=None, event_id=None):
        """Answer the project's current event (or ``event_id``)."""
        body = {'state': state}
        if instance_actions is not None:
            body['instance_actions'] = dict(instance_actions)
        return self.request('PUT', '/v1/maintenance/%s/%s' % (
            _quote(session_id), _quote(project_id)), body,
            params=self._event(event_id))

    def get_project_instance(self, session_id, project_id, instance_id,
                             event_id=None):
        return self._get('/v1/maintenance/%s/%s/%s' % (
            _quote(session_id), _quote(project_id), _quote(instance_id)),
            params=self._event(event_id))

    def project_instance_reply(self, session_id, project_id, instance_id,
                               state, instance_action=None, event_id=None):
        body = {'state': state}
        if instance_action is not None:
            body['instance_action'] = instance_action
        return self.request('PUT', '/v1/maintenance/%s/%s/%s' % (
            _quote(session_id), _quote(project_id), _quote(instance_id)),
            body, params=self._event(event_id))

    # --- constraints ---------------------------------------------------------

    def _list(self, resource, key, project_id):
        params = {'project_id': project_id} if project_id else None
        return self._get('/v1/%s' % resource, params=params).get(key, [])

    def list_instance_groups(self, project_id=None):
        return self._list('instance_group', 'instance_groups', project_id)

    def get_instance_group(self, group_id):
        return self._get('/v1/instance_group/%s' % _quote(group_id))

    def set_instance_group(self, group_id, **fields):
        """``PUT``: create or replace the whole constraint."""
        body = _fields(fields, INSTANCE_GROUP_FIELDS, 'set_instance_group')
        body['group_id'] = group_id
        return self.request('PUT', '/v1/instance_group/%s' % _quote(group_id),
                            body)

    def delete_instance_group(self, group_id):
        return self.request('DELETE',
                            '/v1/instance_group/%s' % _quote(group_id))

    def list_instances(self, project_id=None):
        return self._list('instance', 'instances', project_id)

    def get_instance(self, instance_id):
        return self._get('/v1/instance/%s' % _quote(instance_id))

    def set_instance(self, instance_id, **fields):
        """``PUT``: create or replace the whole constraint."""
        body = _fields(fields, INSTANCE_FIELDS, 'set_instance')
        body['instance_id'] = instance_id
        return self.request('PUT', '/v1/instance/%s' % _quote(instance_id),
                            body)

    def delete_instance(self, instance_id):
        return self.request('DELETE', '/v1/instance/%s' % _quote(instance_id))

    # --- action plug-in runs -------------------------------------------------

    def list_action_plugin_runs(self, session_id):
        return self._get('/v1/action_plugin_run/%s' % _quote(
            session_id)).get('action_plugin_runs', [])

    def report_action_plugin_run(self, session_id, plugin, state,
                                 hostname=None, message=None, attempt=None):
        """Report how a run ended (``DONE``/``FAILED``); no ``hostname``:
        a session-wide (pre/post) run."""
        path = '/v1/action_plugin_run/%s/%s' % (_quote(session_id),
                                                _quote(plugin))
        if hostname:
            path += '/' + _quote(hostname)
        body = {'state': state}
        if message is not None:
            body['message'] = message
        if attempt is not None:
            body['attempt'] = attempt
        return self.request('PUT', path, body)
