# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The OpenAPI 3.1 description of the Fenix API (``GET /v1/openapi.json``).

Built from the code, not copied from it: the request body schemas are the
very schemas the controllers validate with (OpenAPI 3.1 schemas are JSON
Schema 2020-12, the dialect of :mod:`fenix.api.validation`), the paths are
the ones the controllers route (a unit test walks the controllers'
:meth:`~fenix.api.controllers.base.Resource.fixed` and
:meth:`~fenix.api.controllers.base.Resource.child` declarations and fails
when a route or a method is missing on either side), the error shape is
:func:`fenix.api.errors.error_body`'s.

What is written by hand here is what the code cannot say: summaries,
which errors an operation may answer, and the shape of the answers
(kept loose: the keys a client relies on, more may come).

The document is public, like the version documents (``/`` and ``/v1``):
a client reads it before it holds a token; it only says what the
published API reference says.
"""
import copy
import threading

from fenix.api.controllers.v1 import action_plugin_run
from fenix.api.controllers.v1 import constraint
from fenix.api.controllers.v1 import instance
from fenix.api.controllers.v1 import instance_group
from fenix.api.controllers.v1 import maintenance
from fenix.api.controllers.v1 import project
from fenix.api import validation as v
from fenix.common import states

OPENAPI_VERSION = '3.1.0'
API_VERSION = '1.0'
HEALTHCHECK_PATH = '/healthcheck'
TOKEN_HEADER = 'X-Auth-Token'
SECURITY_SCHEME = 'keystone'
# [api] auth_strategy that requires a token.
KEYSTONE = 'keystone'

ERROR_SCHEMA = {
    'type': 'object',
    'properties': {
        'error': {
            'type': 'object',
            'properties': {
                'code': {'type': 'integer'},
                'title': {'type': 'string'},
                'message': {'type': 'string'},
            },
            'required': ['code', 'title', 'message'],
        },
    },
    'required': ['error'],
}

ERRORS = {
    '400': 'The request is invalid: the message names the field, query '
           'parameter, header or path segment at fault.',
    '401': 'No valid token (X-Auth-Token).',
    '403': 'Policy does not allow the caller this operation.',
    '404': 'No such resource.',
    '408': 'The request did not arrive in time.',
    '409': 'The resource is not in a state that allows this operation '
           '(e.g. a reply to an event that is no longer current, a '
           'session that cannot be continued, a run report of another '
           'attempt).',
    '413': 'The request body is larger than [api] max_request_body_size.',
    '415': 'The body is not application/json in UTF-8.',
    '503': 'The engine, the message broker or the database cannot be '
           'reached now; try again after Retry-After seconds.',
}

# Errors every operation of the protected API may answer.
COMMON_ERRORS = ('400', '401', '403', '404', '408', '503')
# Errors of operations that take a body.
BODY_ERRORS = ('413', '415')

ANY_OBJECT = {'type': 'object'}
UUID = {'type': 'string', 'format': 'uuid'}


def _string_param(name, max_length=255, where='path', description=None):
    param = {'name': name, 'in': where, 'required': where == 'path',
             'schema': v.string(max_length)}
    if description:
        param['description'] = description
    return param


def _list_of(key, item=ANY_OBJECT):
    return {'type': 'object',
            'properties': {key: {'type': 'array', 'items': item}},
            'required': [key]}


SESSION = {
    'type': 'object',
    'properties': {
        'session_id': {'type': 'string'},
        'state': {'type': 'string'},
        'workflow': {'type': 'string'},
        'percent_done': {'type': 'integer'},
    },
    'required': ['session_id', 'state'],
}
SESSION_DETAIL = copy.deepcopy(SESSION)
SESSION_DETAIL['properties'].update({
    name: {'type': 'array'} for name in (
        'hosts', 'projects', 'instances', 'action_plugins',
        'action_plugin_runs', 'steps', 'history')})
# GET .../detail?limit=&marker=: Nova's links of a page.
LINKS = {'type': 'array', 'items': {
    'type': 'object',
    'properties': {'rel': {'type': 'string', 'enum': ['next']},
                   'href': {'type': 'string'}},
    'required': ['rel', 'href']}}
SESSION_DETAIL['properties']['instances_links'] = dict(
    LINKS, description='Only in a page (limit or marker given) that '
    'more instances follow: the URL of the next page.')
CREATED = {'type': 'object',
           'properties': {'session_id': {'type': 'string'}},
           'required': ['session_id']}
INSTANCE_CONSTRAINT = {'type': 'object',
                       'properties': {'instance_id': {'type': 'string'},
                                      'project_id': {'type': 'string'}},
                       'required': ['instance_id']}
GROUP_CONSTRAINT = {'type': 'object',
                    'properties': {'group_id': {'type': 'string'},
                                   'project_id': {'type': 'string'}},
                    'required': ['group_id']}

# Path parameters, by name.
PATH_PARAMS = {
    'session_id': _string_param('session_id'),
    'project_id': _string_param('project_id'),
    'instance_id': _string_param('instance_id'),
    'group_id': _string_param('group_id'),
    'plugin': _string_param('plugin'),
    'hostname': _string_param('hostname'),
}
# Path parameters the API limits more than 255 characters.
PATH_PARAM_OVERRIDES = {
    '/v1/instance/{instance_id}': {
        'instance_id': _string_param('instance_id', instance.KIND.id_length)},
    '/v1/instance_group/{group_id}': {
        'group_id': _string_param('group_id',
                                  instance_group.KIND.id_length)},
}

EVENT_ID_PARAM = {
    'name': project.EVENT_ID, 'in': 'query', 'required': False,
    'description': 'The event the request is about (from the event\'s '
                   'reply_url); 409 when it is no longer current.',
    'schema': UUID,
}
PROJECT_FILTER_PARAM = {
    'name': 'project_id', 'in': 'query', 'required': False,
    'description': 'The project to list (default: the caller\'s; any '
                   'other needs the list-all policy).',
    'schema': v.string(constraint.PROJECT_ID_LENGTH),
}
LIST_SESSION_PARAMS = [
    {'name': 'limit', 'in': 'query', 'required': False,
     'description': 'At most this many sessions (oldest first).',
     'schema': v.integer(1, maintenance.LIST_MAX_LIMIT)},
    {'name': 'marker', 'in': 'query', 'required': False,
     'description': 'The sessions after this one (the last session_id '
                    'of the previous page); an unknown one is 400.',
     'schema': v.string(maintenance.SESSION_ID_LENGTH)},
    {'name': 'state', 'in': 'query', 'required': False,
     'description': 'Only the sessions in this state.',
     'schema': v.enum(states.SESSION_STATES)},
    {'name': 'workflow', 'in': 'query', 'required': False,
     'description': 'Only the sessions of this workflow.',
     'schema': v.string(maintenance.WORKFLOW_LENGTH,
                        pattern=maintenance.NAME_PATTERN)},
]
DETAIL_PAGE_PARAMS = [
    {'name': 'limit', 'in': 'query', 'required': False,
     'description': 'A page of the instances: at most this many (default '
                    'with a marker: %d); the rest of the document is '
                    'whole. Without limit and marker: every instance.'
                    % maintenance.DETAIL_MAX_LIMIT,
     'schema': v.integer(1, maintenance.DETAIL_MAX_LIMIT)},
    {'name': 'marker', 'in': 'query', 'required': False,
     'description': 'The instances after this one (the last instance_id '
                    'of the previous page); one the session does not '
                    'have is 400.',
     'schema': v.string(maintenance.INSTANCE_ID_LENGTH)},
]
IDEMPOTENCY_PARAM = {
    'name': maintenance.IDEMPOTENCY_HEADER, 'in': 'header',
    'required': False,
    'description': 'A create sent again with the same key (and body) '
                   'answers the session the first one created.',
    'schema': {'type': 'string', 'minLength': 1,
               'maxLength': maintenance.IDEMPOTENCY_KEY_MAX,
               'pattern': '^[!-~]+$'},
}

CONTROL_SCHEMA = {
    'description': 'One of the control actions: %s' % ', '.join(
        maintenance.CONTROL_ACTIONS),
    'oneOf': [maintenance.CONTROL_SCHEMAS[action]
              for action in maintenance.CONTROL_ACTIONS],
}


def _op(op_id, summary, answer, body=None, query=(), headers=(),
        errors=(), public=False, content=None):
    return {'operationId': op_id, 'summary': summary, 'answer': answer,
            'body': body, 'query': list(query), 'headers': list(headers),
            'errors': tuple(errors), 'public': public, 'content': content}


VERSIONS = {'type': 'object', 'required': ['versions']}
V1 = {'type': 'object', 'required': ['id', 'status']}
OPENAPI = {'type': 'object', 'required': ['openapi', 'paths']}

#: Every operation: {path: {method: operation}}.
OPERATIONS = {
    '/': {
        'get': _op('getVersions', 'The version document.', VERSIONS,
                   errors=('400',), public=True),
    },
    '/v1': {
        'get': _op('getV1', 'The v1 document and its resources.', V1,
                   errors=('400',), public=True),
    },
    '/v1/openapi.json': {
        'get': _op('getOpenAPI', 'This document.', OPENAPI,
                   errors=('400',), public=True),
    },
    HEALTHCHECK_PATH: {
        'get': _op('healthcheck',
                   'Whether the API, the engine and the database answer '
                   '(oslo.middleware healthcheck; 503 when one does not).',
                   None, public=True),
    },
    '/v1/maintenance': {
        'get': _op('listSessions', 'List maintenance sessions.',
                   _list_of('sessions', SESSION),
                   query=LIST_SESSION_PARAMS),
        'post': _op('createSession', 'Create a maintenance session.',
                    CREATED, body=maintenance.CREATE_SCHEMA,
                    headers=[IDEMPOTENCY_PARAM], errors=('409',)),
    },
    '/v1/maintenance/{session_id}': {
        'get': _op('getSession', 'A session.', SESSION),
        'put': _op('continueSession',
                   'Continue a failed session (or move it to a state).',
                   ANY_OBJECT, body=maintenance.UPDATE_SCHEMA,
                   errors=('409',)),
        'post': _op('controlSession',
                    'Pause, resume, skip a host or retry a step.',
                    SESSION, body=CONTROL_SCHEMA, errors=('409',)),
        'delete': _op('deleteSession', 'Delete a session.', ANY_OBJECT,
                      errors=('409',)),
    },
    '/v1/maintenance/{session_id}/detail': {
        'get': _op('getSessionDetail',
                   'A session with its hosts, projects, instances, plan '
                   'and history; optionally a page of its instances.',
                   SESSION_DETAIL, query=DETAIL_PAGE_PARAMS),
    },
    '/v1/maintenance/{session_id}/{project_id}': {
        'get': _op('getProject', 'A project\'s view of a session.',
                   ANY_OBJECT, query=[EVENT_ID_PARAM], errors=('409',)),
        'put': _op('projectReply', 'A project manager\'s reply.',
                   ANY_OBJECT, body=project.REPLY_SCHEMA,
                   query=[EVENT_ID_PARAM], errors=('409',)),
    },
    '/v1/maintenance/{session_id}/{project_id}/{instance_id}': {
        'get': _op('getProjectInstance', 'An instance of a project in a '
                   'session.', ANY_OBJECT, query=[EVENT_ID_PARAM],
                   errors=('409',)),
        'put': _op('projectInstanceReply',
                   'A project manager\'s reply for one instance.',
                   ANY_OBJECT, body=project.INSTANCE_REPLY_SCHEMA,
                   query=[EVENT_ID_PARAM], errors=('409',)),
    },
    '/v1/instance': {
        'get': _op('listInstanceConstraints', 'Instance constraints.',
                   _list_of(instance.KIND.collection_key,
                            INSTANCE_CONSTRAINT),
                   query=[PROJECT_FILTER_PARAM]),
    },
    '/v1/instance/{instance_id}': {
        'get': _op('getInstanceConstraint', 'An instance constraint.',
                   INSTANCE_CONSTRAINT),
        'put': _op('putInstanceConstraint',
                   'Create or replace an instance constraint.',
                   ANY_OBJECT, body=instance.SCHEMA, errors=('409',)),
        'delete': _op('deleteInstanceConstraint',
                      'Delete an instance constraint.', ANY_OBJECT,
                      errors=('409',)),
    },
    '/v1/instance_group': {
        'get': _op('listInstanceGroupConstraints',
                   'Instance group constraints.',
                   _list_of(instance_group.KIND.collection_key,
                            GROUP_CONSTRAINT),
                   query=[PROJECT_FILTER_PARAM]),
    },
    '/v1/instance_group/{group_id}': {
        'get': _op('getInstanceGroupConstraint',
                   'An instance group constraint.', GROUP_CONSTRAINT),
        'put': _op('putInstanceGroupConstraint',
                   'Create or replace an instance group constraint.',
                   ANY_OBJECT, body=instance_group.SCHEMA,
                   errors=('409',)),
        'delete': _op('deleteInstanceGroupConstraint',
                      'Delete an instance group constraint.', ANY_OBJECT,
                      errors=('409',)),
    },
    '/v1/action_plugin_run/{session_id}': {
        'get': _op('listActionPluginRuns',
                   'The action plug-in runs of a session.',
                   _list_of('action_plugin_runs')),
    },
    '/v1/action_plugin_run/{session_id}/{plugin}': {
        'put': _op('reportSessionActionPluginRun',
                   'Report how a session-wide (pre/post) run ended.',
                   ANY_OBJECT, body=action_plugin_run.REPORT_SCHEMA,
                   errors=('409',)),
    },
    '/v1/action_plugin_run/{session_id}/{plugin}/{hostname}': {
        'put': _op('reportHostActionPluginRun',
                   'Report how a run on one host ended.',
                   ANY_OBJECT, body=action_plugin_run.REPORT_SCHEMA,
                   errors=('409',)),
    },
}


def request_schemas():
    """``{(path, method): request body schema}`` as documented."""
    return {(path, method): op['body']
            for path, ops in OPERATIONS.items()
            for method, op in ops.items() if op['body'] is not None}


def _path_params(path):
    names = [seg[1:-1] for seg in path.split('/')
             if seg.startswith('{') and seg.endswith('}')]
    overrides = PATH_PARAM_OVERRIDES.get(path, {})
    return [copy.deepcopy(overrides.get(n, PATH_PARAMS[n])) for n in names]


def _json(schema):
    return {'application/json': {'schema': copy.deepcopy(schema)}}


def _responses(path, method, op):
    responses = {}
    if path == HEALTHCHECK_PATH:
        text = {'text/plain': {'schema': {'type': 'string'}},
                'text/html': {'schema': {'type': 'string'}},
                'application/json': {'schema': ANY_OBJECT}}
        responses['200'] = {'description': 'Everything answers.',
                            'content': text}
        responses['503'] = {'description': 'The engine or the database '
                                           'does not answer.',
                            'content': copy.deepcopy(text)}
        return responses
    responses['200'] = {'description': 'OK', 'content': _json(op['answer'])}
    codes = set(op['errors'])
    if not op['public']:
        codes.update(COMMON_ERRORS)
    else:
        codes.update(('408', '503'))
    if op['body'] is not None:
        codes.update(BODY_ERRORS)
    for code in sorted(codes):
        responses[code] = {'$ref': '#/components/responses/E%s' % code}
    return responses


def _components():
    responses = {}
    for code, text in ERRORS.items():
        resp = {'description': text,
                'content': _json({'$ref': '#/components/schemas/Error'})}
        if code == '503':
            resp['headers'] = {'Retry-After': {
                'description': 'Seconds to wait before trying again '
                               '([api] retry_after).',
                'required': True,
                'schema': {'type': 'string', 'pattern': '^[0-9]+$'}}}
        responses['E%s' % code] = resp
    return {
        'schemas': {'Error': copy.deepcopy(ERROR_SCHEMA)},
        'responses': responses,
        'securitySchemes': {SECURITY_SCHEME: {
            'type': 'apiKey', 'in': 'header', 'name': TOKEN_HEADER,
            'description': 'A Keystone token ([api] auth_strategy = '
                           'keystone). With noauth (all-in-one, tests) '
                           'the caller is who X-User-Id, X-Project-Id and '
                           'X-Roles say.'}},
    }


def _operation(path, method, op):
    doc = {'operationId': op['operationId'], 'summary': op['summary'],
           'responses': _responses(path, method, op)}
    params = _path_params(path) + [copy.deepcopy(p) for p in op['query']] \
        + [copy.deepcopy(p) for p in op['headers']]
    if params:
        doc['parameters'] = params
    if op['body'] is not None:
        doc['requestBody'] = {'required': False,
                              'content': _json(op['body'])}
    if op['public']:
        doc['security'] = []
    return doc


def build():
    """The document, without ``servers`` (they depend on the request)."""
    paths = {}
    for path, ops in OPERATIONS.items():
        paths[path] = {method: _operation(path, method, op)
                       for method, op in ops.items()}
    return {
        'openapi': OPENAPI_VERSION,
        'info': {
            'title': 'OpenStack Fenix API',
            'version': API_VERSION,
            'description': 'Rolling infrastructure maintenance with zero '
                           'application downtime. Every error answers '
                           '{"error": {"code", "title", "message"}}; HEAD '
                           'is answered wherever GET is; a method a path '
                           'does not take is 405 with an Allow header.',
        },
        'jsonSchemaDialect': 'https://json-schema.org/draft/2020-12/schema',
        'paths': paths,
        'components': _components(),
        'security': [{SECURITY_SCHEME: []}],
    }


_CACHE = {}
_LOCK = threading.Lock()


def document(base_url, auth_strategy=KEYSTONE):
    """The document as ``GET /v1/openapi.json`` answers it, with the
    server at ``base_url`` (the API's public URL).

    It describes the API as deployed: with ``auth_strategy`` ``noauth``
    no operation requires a token (the security scheme stays described).
    """
    with _LOCK:
        if 'doc' not in _CACHE:
            _CACHE['doc'] = build()
        doc = copy.deepcopy(_CACHE['doc'])
    doc['servers'] = [{'url': base_url or '/'}]
    if auth_strategy != KEYSTONE:
        doc['security'] = []
    return doc


def walk(resource, path=''):
    """Every route under ``resource``: yields ``(path template, resource)``.

    Follows the resources' fixed segments and their variable segment
    (named by their ``param``), as the router does.
    """
    yield path or '/', resource
    for segment, child in sorted(resource.fixed().items()):
        yield from walk(child, '%s/%s' % (path, segment))
    if resource.param is not None:
        child = resource.child('{%s}' % resource.param)
        if child is not None:
            yield from walk(child, '%s/{%s}' % (path, resource.param))
