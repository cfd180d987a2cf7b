# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""What every controller shares: routing, method dispatch, helpers.

Routing is explicit: a :class:`Resource` answers its own URL with the
``get``/``post``/``put``/``delete`` methods it defines (HEAD is GET, any
other method 405 with an ``Allow`` header). Its children are its fixed
path segments (:meth:`Resource.fixed`) and one variable segment
(:meth:`Resource.child`, named by :attr:`Resource.param`). Fixed segments
are checked before the variable one, so
``/v1/maintenance/{session_id}/detail`` wins over a project called
"detail". A path no resource claims is 404. The OpenAPI description
(:mod:`fenix.api.openapi`) is checked against these declarations by a
unit test that walks them.
"""
from oslo_config import cfg
import pecan
import webob.exc

from fenix.api import validation
from fenix.common import exception
from fenix.common import policy

CONF = cfg.CONF

HTTP_METHODS = ('GET', 'POST', 'PUT', 'DELETE')


class Resource(object):
    """One URL of the API."""

    #: Name of the variable path segment :meth:`child` takes (the OpenAPI
    #: path parameter), None when there is none.
    param = None

    def fixed(self):
        """The fixed path segments under this URL: ``{segment: resource}``.

        They win over :meth:`child`.
        """
        return {}

    def child(self, segment):
        """The resource at ``<this URL>/<segment>`` (the variable segment
        named :attr:`param`), or None."""
        return None

    def allowed_methods(self):
        methods = [m for m in HTTP_METHODS
                   if callable(getattr(self, m.lower(), None))]
        if 'GET' in methods:
            methods.append('HEAD')
        return methods

    @pecan.expose()
    def _route(self, args, request):
        if not args or args == ['']:
            return self.index, []
        # An empty segment in the middle ('//') is never an id.
        child = None
        if args[0]:
            child = self.fixed().get(args[0]) or self.child(args[0])
        if child is None:
            raise webob.exc.HTTPNotFound()
        return child._route(args[1:], request)

    @pecan.expose('json')
    def index(self):
        request = pecan.request
        allowed = self.allowed_methods()
        if not allowed:
            raise webob.exc.HTTPNotFound()
        method = 'GET' if request.method == 'HEAD' else request.method
        if method not in allowed:
            raise webob.exc.HTTPMethodNotAllowed(
                headers={'Allow': ', '.join(allowed)})
        result = getattr(self, method.lower())()
        return {} if result is None else result


# --- helpers for handlers ---------------------------------------------------
def context():
    return pecan.request.context


def engine():
    """The engine client: writes and wake-ups (RPC)."""
    return pecan.request.engine_api


def reader():
    """What answers reads: the database, read by this process."""
    return pecan.request.reader


def body(schema):
    """The request body, validated against ``schema``."""
    values = validation.parse_body(pecan.request)
    validation.validate(schema, values)
    return values


def body_field(name, schema):
    """One field of the request body, validated against ``schema`` (the
    field is required), before the rest of the body is looked at: e.g.
    the ``action`` that says which policy rule and schema apply."""
    values = validation.parse_body(pecan.request)
    validation.validate({'type': 'object', 'properties': {name: schema},
                         'required': [name]}, values)
    return values[name]


def query(*allowed):
    return validation.query(pecan.request, allowed)


def authorize(rule, target=None):
    policy.authorize(rule, target if target is not None else {}, context())


def may(rule, target=None):
    return policy.check(rule, target if target is not None else {},
                        context())


def check_path_id(name, value, max_length=255):
    """Refuse an id from the URL that could never be stored."""
    if not value or len(value) > max_length:
        raise exception.Invalid(
            reason='%s: must be 1 to %d characters long' % (name,
                                                            max_length))
    return value


def json_answer(result):
    """``result`` as the answer: a document (rendered by pecan), or a
    document already encoded (JSON text, answered as it is)."""
    if not isinstance(result, str):
        return result
    response = pecan.response
    response.content_type = 'application/json'
    response.text = result
    return response


def collection(key, result):
    """A list answer as ``{key: [...]}``.

    An engine answer that already is such a dict is kept as it is.
    """
    if isinstance(result, dict) and key in result:
        return result
    return {key: list(result or [])}


def public_url():
    """Base URL of this API as clients see it (no trailing slash)."""
    endpoint = CONF.api.public_endpoint
    if endpoint:
        return endpoint.rstrip('/')
    return pecan.request.application_url.rstrip('/')
