# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The one shape of every error the API answers::

    {"error": {"code": 404, "title": "Not Found",
               "message": "Maintenance session X not found."}}

keystonemiddleware answers its 401s in the same shape, so a client parses
every Fenix error alike. A 500 never shows its cause to the client (it is
logged with its traceback, under the request id the client got).
"""
import http

from oslo_config import cfg
from oslo_log import log as logging
from oslo_serialization import jsonutils
import webob
import webob.exc

from fenix.common import exception

LOG = logging.getLogger(__name__)

INTERNAL_ERROR = ('The server hit an unexpected error. It has been logged; '
                  'please report it with the X-OpenStack-Request-Id of this '
                  'answer.')


class ClientTimeout(TimeoutError):
    """The client did not send its request in time (408).

    Raised by the API's HTTP server (fenix.api.server) when a request's
    headers or body do not arrive within their deadline; a socket timeout,
    so that the server itself answers it while it reads headers.
    """


def retry_after():
    """Seconds a 503 tells the client to wait (``[api] retry_after``)."""
    try:
        return cfg.CONF.api.retry_after
    except cfg.NoSuchOptError:
        return 5


def title(code):
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return 'Error'


def error_body(code, message):
    return {'error': {'code': code, 'title': title(code),
                      'message': message}}


def error_response(code, message, headers=None):
    """A webob response carrying the error document."""
    resp = webob.Response(status=code, content_type='application/json',
                          charset='UTF-8')
    resp.body = jsonutils.dump_as_bytes(error_body(code, message))
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def log_unexpected(exc, where):
    LOG.error('Unexpected error in %s: %s: %s', where,
              type(exc).__name__, exc,
              exc_info=(type(exc), exc, exc.__traceback__))


def _path(request):
    try:
        return request.path
    except Exception:
        return request.environ.get('PATH_INFO', '')


def _http_message(exc, request):
    code = exc.status_int
    path = _path(request) if request is not None else ''
    if code == 404 and not exc.detail:
        return 'The resource %s could not be found.' % path
    if code == 405 and not exc.detail:
        return 'Method %s is not allowed on %s.' % (
            request.method if request is not None else '', path)
    text = exc.detail or exc.explanation or title(code)
    return str(text)


def describe(exc, request=None):
    """``(status, message, headers)`` for an exception.

    FenixException (also when raised in the engine and re-raised by
    oslo.messaging) answers with its ``.code``; webob HTTP exceptions with
    their status; everything else, and every FenixException whose code is a
    5xx other than 503, is a bug: 500, logged with its traceback.
    """
    if isinstance(exc, exception.FenixException):
        code = exc.code
        if code >= 500 and code != 503:
            log_unexpected(exc, _path(request) if request is not None
                           else 'the API')
            return 500, INTERNAL_ERROR, {}
        # .message, not str(): a remote exception's str() carries the
        # engine's traceback.
        message = getattr(exc, 'message', None) or str(exc)
        if code == 503:
            # Logged once per outage where it is detected (rpcapi), not
            # once per request.
            LOG.debug('%s', message)
            return code, message, {'Retry-After': str(retry_after())}
        return code, message, {}
    if isinstance(exc, ClientTimeout):
        return 408, ('The request body did not arrive in time ([api] '
                     'body_timeout, client_timeout).'), {}
    if isinstance(exc, webob.exc.WSGIHTTPException):
        code = exc.status_int
        headers = {}
        if code == 405 and exc.headers.get('Allow'):
            headers['Allow'] = exc.headers['Allow']
        return code, _http_message(exc, request), headers
    log_unexpected(exc, _path(request) if request is not None
                   else 'the API')
    return 500, INTERNAL_ERROR, {}


def response_for(exc, request=None):
    code, message, headers = describe(exc, request)
    return error_response(code, message, headers)
