# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``/v1/maintenance``: maintenance sessions (infrastructure admin).

The control of a running session (SPEC 3.7) is ``POST
/v1/maintenance/{session_id}`` with the action in the body (``pause``,
``resume``, ``skip_host``, ``retry``), after the ``POST /servers/{id}/
action`` idiom of Nova. A body, not a path segment: any segment under a
session (``.../pause``) is also a valid project id of the project routes
``/v1/maintenance/{session_id}/{project_id}``, while nothing else answers
``POST`` on the session itself.
"""
import re
from urllib import parse as urlparse

import pecan

from fenix.api.controllers import base
from fenix.api.controllers.v1 import project
from fenix.api import validation as v
from fenix.common import download_entries
from fenix.common import exception
from fenix.common.policies import maintenance as pol
from fenix.common import state_machine
from fenix.common import states
from fenix.common import timeutils

# A create sent again with the same key (and body) answers the session
# the first one created (see EngineManager.create_session).
IDEMPOTENCY_HEADER = 'Idempotency-Key'
IDEMPOTENCY_KEY_MAX = 255

NAME_PATTERN = '^[A-Za-z0-9_.-]+$'
URL_PATTERN = r'^[A-Za-z][A-Za-z0-9+.-]*://\S+$'
NACK_POLICIES = ('fail', 'skip_host')
SILENT_OWN_ACTION_POLICIES = ('move', 'skip_host')

URL = v.string(2048, pattern=URL_PATTERN)

ACTION_SCHEMA = {
    'type': 'object',
    'properties': {
        'plugin': v.string(255, pattern=NAME_PATTERN),
        'type': v.enum(states.PLUGIN_TYPES),
        'metadata': v.OBJECT,
    },
    'required': ['plugin', 'type'],
    'additionalProperties': False,
}

DOWNLOAD_SCHEMA = {
    'description': 'a URL, or an object {"url", "sha256", "size"}',
    'oneOf': [
        URL,
        {
            'type': 'object',
            'properties': {
                'url': URL,
                'sha256': {'type': 'string', 'pattern': '^[0-9A-Fa-f]{64}$'},
                'size': v.integer(0, 2 ** 53),
            },
            'required': ['url'],
            'additionalProperties': False,
        },
    ],
}

# Seconds; the planner's defaults (fenix.workflow.planner.Durations) for
# what is not given.
SECONDS = {'type': 'number', 'minimum': 0, 'maximum': 10 ** 7}
ESTIMATES_SCHEMA = {
    'type': 'object',
    'properties': {name: SECONDS for name in (
        'cold_migration', 'live_migration', 'live_interruption',
        'own_action', 'host_maintenance')},
    'additionalProperties': False,
}

CREATE_SCHEMA = {
    'type': 'object',
    'properties': {
        'hosts': {'type': 'array', 'items': v.string(255),
                  'uniqueItems': True},
        'state': v.enum([states.MAINTENANCE]),
        'maintenance_at': v.string(64),
        'metadata': v.OBJECT,
        'workflow': v.string(255, pattern=NAME_PATTERN),
        'actions': {'type': 'array', 'items': ACTION_SCHEMA},
        'download': {'type': 'array', 'items': DOWNLOAD_SCHEMA},
        # Fenix's own additions.
        'dry_run': v.BOOLEAN,
        'max_parallel_hosts': v.integer(1),
        'max_concurrent_migrations': v.integer(1),
        'nack_policy': v.enum(NACK_POLICIES),
        'silent_own_action': v.enum(SILENT_OWN_ACTION_POLICIES),
        'reply_window': v.integer(1),
        'estimates': ESTIMATES_SCHEMA,
    },
    'additionalProperties': False,
}

UPDATE_SCHEMA = {
    'type': 'object',
    'properties': {
        'state': v.enum(state_machine.RESUME_TARGETS),
    },
    'additionalProperties': False,
}

# POST /v1/maintenance/{session_id}: {"action": ...}
ACTION_PAUSE = 'pause'
ACTION_RESUME = 'resume'
ACTION_SKIP_HOST = 'skip_host'
ACTION_RETRY = 'retry'
CONTROL_ACTIONS = (ACTION_PAUSE, ACTION_RESUME, ACTION_SKIP_HOST,
                   ACTION_RETRY)
REASON = v.string(255)


def _control_schema(action, required=(), **fields):
    return {
        'type': 'object',
        'properties': dict(fields, action=v.enum([action])),
        'required': ['action'] + list(required),
        'additionalProperties': False,
    }


CONTROL_SCHEMAS = {
    ACTION_PAUSE: _control_schema(ACTION_PAUSE, reason=REASON),
    ACTION_RESUME: _control_schema(ACTION_RESUME),
    ACTION_SKIP_HOST: _control_schema(ACTION_SKIP_HOST, required=['host'],
                                      host=v.string(255), reason=REASON),
    ACTION_RETRY: _control_schema(ACTION_RETRY),
}
CONTROL_RULES = {
    ACTION_PAUSE: pol.PAUSE,
    ACTION_RESUME: pol.RESUME,
    ACTION_SKIP_HOST: pol.SKIP_HOST,
    ACTION_RETRY: pol.RETRY,
}


def normalize_create(values):
    """The create body as the engine gets it.

    ``maintenance_at`` becomes 'YYYY-MM-DD HH:MM:SS' UTC. A ``download``
    URL the operator's policy refuses is a 400 now, not a failed session
    later (the engine checks again, also what needs the network).
    """
    values = dict(values)
    download_entries.check_entries(values.get('download'))
    if 'maintenance_at' in values:
        try:
            when = timeutils.parse_time(values['maintenance_at'],
                                        field='maintenance_at')
        except (OverflowError, ValueError):
            raise exception.Invalid(
                reason="maintenance_at '%s' is out of range"
                       % values['maintenance_at'])
        values['maintenance_at'] = timeutils.format_time(when)
    return values


def idempotency_key():
    """The create's ``Idempotency-Key`` header (None without one): 1 to
    :data:`IDEMPOTENCY_KEY_MAX` printable ASCII characters, no spaces."""
    key = pecan.request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 0 < len(key) <= IDEMPOTENCY_KEY_MAX or \
            any(not 32 < ord(c) < 127 for c in key):
        raise exception.Invalid(
            reason='the %s header must be 1 to %d printable ASCII '
                   'characters without spaces' % (IDEMPOTENCY_HEADER,
                                                  IDEMPOTENCY_KEY_MAX))
    return key


# GET /v1/maintenance?limit=&marker=&state=&workflow=
LIST_PARAMS = ('limit', 'marker', 'state', 'workflow')
# Longest page (limit) and longest session id (marker).
LIST_MAX_LIMIT = 1000
SESSION_ID_LENGTH = 36
WORKFLOW_LENGTH = 255


def page_limit(value, most):
    """The query parameter ``limit`` as an integer from 1 to ``most``;
    anything else is a 400 naming it."""
    if not value.isdigit() or not 1 <= int(value) <= most:
        raise exception.Invalid(
            reason="query parameter 'limit': '%s' is not an integer "
                   "from 1 to %d" % (value[:20], most))
    return int(value)


def list_filters(params):
    """The filters and page of ``GET /v1/maintenance`` from its query
    parameters (only those given); a value that can never match is a 400
    naming the parameter."""
    filters = {}
    if 'limit' in params:
        filters['limit'] = page_limit(params['limit'], LIST_MAX_LIMIT)
    if 'marker' in params:
        filters['marker'] = base.check_path_id('marker', params['marker'],
                                               SESSION_ID_LENGTH)
    if 'state' in params:
        if params['state'] not in states.SESSION_STATES:
            raise exception.Invalid(
                reason="query parameter 'state': '%s' is not one of %s"
                       % (params['state'][:40],
                          ', '.join(states.SESSION_STATES)))
        filters['state'] = params['state']
    if 'workflow' in params:
        value = params['workflow']
        if not 0 < len(value) <= WORKFLOW_LENGTH or \
                not re.fullmatch(NAME_PATTERN, value):
            raise exception.Invalid(
                reason="query parameter 'workflow': not a workflow name "
                       "(1 to %d of A-Z a-z 0-9 _ . -)" % WORKFLOW_LENGTH)
        filters['workflow'] = value
    return filters


# GET /v1/maintenance/{session_id}/detail?limit=&marker=: a page of the
# instances (the rest of the document is whole). Without them the detail
# is the upstream document, every instance in it.
DETAIL_PARAMS = ('limit', 'marker')
DETAIL_MAX_LIMIT = 1000
INSTANCE_ID_LENGTH = 36


def detail_page(params):
    """The page of ``GET .../detail`` from its query parameters: None
    without ``limit`` and ``marker`` (the whole document), else
    ``{'limit', 'marker'}`` (``limit`` :data:`DETAIL_MAX_LIMIT` when only
    ``marker`` is given); a value that can never match is a 400 naming
    the parameter."""
    if not params:
        return None
    page = {'limit': DETAIL_MAX_LIMIT, 'marker': None}
    if 'limit' in params:
        page['limit'] = page_limit(params['limit'], DETAIL_MAX_LIMIT)
    if 'marker' in params:
        page['marker'] = base.check_path_id('marker', params['marker'],
                                            INSTANCE_ID_LENGTH)
    return page


class MaintenanceCollection(base.Resource):
    """``/v1/maintenance``"""

    param = 'session_id'

    def child(self, segment):
        return Session(segment)

    def get(self):
        filters = list_filters(base.query(*LIST_PARAMS))
        base.authorize(pol.LIST)
        sessions = base.reader().list_sessions(base.context(), **filters)
        return base.collection('sessions', sessions)

    def post(self):
        base.authorize(pol.CREATE)
        values = normalize_create(base.body(CREATE_SCHEMA))
        key = idempotency_key()
        if key is None:
            result = base.engine().create_session(base.context(), values)
        else:
            result = base.engine().create_session(base.context(), values,
                                                  idempotency_key=key)
        if isinstance(result, str):
            result = {'session_id': result}
        return result


class Session(base.Resource):
    """``/v1/maintenance/{session_id}``"""

    param = 'project_id'

    def __init__(self, session_id):
        self.session_id = session_id

    def fixed(self):
        return {'detail': SessionDetail(self.session_id)}

    def child(self, segment):
        return project.Project(self.session_id, segment)

    def get(self):
        base.query()
        base.authorize(pol.GET)
        return base.reader().get_session(base.context(), self.session_id)

    def put(self):
        base.authorize(pol.UPDATE)
        values = base.body(UPDATE_SCHEMA)
        return base.engine().update_session(base.context(),
                                            self.session_id, values)

    def post(self):
        """Control of the session: pause, resume, skip a host, retry.

        The ``action`` picks the policy rule and the body schema; the
        answer is the session as it stands (a pause shows
        ``pause_requested`` until the steps in flight are done and the
        state becomes PAUSED).
        """
        action = base.body_field('action', v.enum(CONTROL_ACTIONS))
        base.authorize(CONTROL_RULES[action])
        values = base.body(CONTROL_SCHEMAS[action])
        engine, ctx = base.engine(), base.context()
        if action == ACTION_PAUSE:
            return engine.pause_session(ctx, self.session_id,
                                        reason=values.get('reason'))
        if action == ACTION_RESUME:
            return engine.resume_session(ctx, self.session_id)
        if action == ACTION_SKIP_HOST:
            return engine.skip_host(ctx, self.session_id, values['host'],
                                    reason=values.get('reason'))
        return engine.retry_step(ctx, self.session_id)

    def delete(self):
        base.authorize(pol.DELETE)
        return base.engine().delete_session(base.context(),
                                            self.session_id)


class SessionDetail(base.Resource):
    """``/v1/maintenance/{session_id}/detail``"""

    def __init__(self, session_id):
        self.session_id = session_id

    def get(self):
        page = detail_page(base.query(*DETAIL_PARAMS))
        base.authorize(pol.GET_DETAIL)
        if page is None:
            return base.json_answer(base.reader().get_session_detail(
                base.context(), self.session_id))
        return base.json_answer(base.reader().get_session_detail_page(
            base.context(), self.session_id, page['limit'],
            marker=page['marker'], next_link=self.next_link(page['limit'])))

    def next_link(self, limit):
        """``instances_links`` of a page whose last instance is ``last``
        (Nova's ``servers_links``): this URL with the next page."""
        url = '%s/v1/maintenance/%s/detail' % (
            base.public_url(), urlparse.quote(self.session_id, safe=''))

        def links(last):
            return [{'rel': 'next', 'href': '%s?%s' % (
                url, urlparse.urlencode({'limit': limit, 'marker': last}))}]
        return links
