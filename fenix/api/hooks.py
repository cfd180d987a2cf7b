# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Pecan hooks: request context, engine client, body checks, errors."""
import threading

from oslo_log import log as logging
from pecan import hooks
import webob.exc

from fenix.api import errors
from fenix.api import reads
from fenix.common import context
from fenix.engine import rpcapi

LOG = logging.getLogger(__name__)

# Methods whose body the API reads.
BODY_METHODS = ('POST', 'PUT', 'PATCH')
UTF8 = ('utf-8', 'utf8')


class ContentTypeHook(hooks.PecanHook):
    """Bodies and answers are JSON.

    A body of another media type is 415, one without a Content-Type is taken
    for JSON. Bodies of methods other than POST, PUT and PATCH are never
    read. Answers are JSON whatever the Accept header says: it is the only
    representation the API has.
    """

    priority = 10

    def on_route(self, state):
        request = state.request
        request.pecan['content_type'] = 'application/json'
        if (request.method not in BODY_METHODS
                or not request.is_body_readable):
            return
        media = (request.content_type or '').lower()
        if not media:
            request.content_type = 'application/json'
            return
        if media != 'application/json' and not media.endswith('+json'):
            raise webob.exc.HTTPUnsupportedMediaType(
                detail="Content-Type '%s' is not supported; send "
                       "application/json." % media)
        charset = (request.charset or 'utf-8').lower()
        if charset not in UTF8:
            raise webob.exc.HTTPUnsupportedMediaType(
                detail="charset '%s' is not supported; send UTF-8."
                       % charset)


class ContextHook(hooks.PecanHook):
    """``request.context``: who is asking.

    Built from the auth middleware's headers, with the request id of
    oslo.middleware's RequestId.
    """

    priority = 20

    def before(self, state):
        state.request.context = context.RequestContext.from_environ(
            state.request.environ)


class EngineAPIHook(hooks.PecanHook):
    """``request.engine_api``: the engine client.

    Given one (tests, embedding) it is used as it is; otherwise an
    :class:`fenix.engine.rpcapi.EngineAPI` is made on the first request,
    so the application can be built before the RPC layer is set up.
    """

    priority = 30

    def __init__(self, engine_api=None):
        self._engine_api = engine_api
        self._lock = threading.Lock()

    @property
    def engine_api(self):
        if self._engine_api is None:
            with self._lock:
                if self._engine_api is None:
                    self._engine_api = rpcapi.EngineAPI()
        return self._engine_api

    def before(self, state):
        state.request.engine_api = self.engine_api


class ReaderHook(hooks.PecanHook):
    """``request.reader``: what answers the reads (``GET``).

    Default: the database, read by this process
    (:class:`fenix.api.reads.DatabaseReader`); tests give an object with
    the same read methods (their in-memory engine).
    """

    priority = 31

    def __init__(self, reader=None):
        self._reader = reader if reader is not None else \
            reads.DatabaseReader()

    def before(self, state):
        state.request.reader = self._reader


class ErrorHook(hooks.PecanHook):
    """Every exception becomes an answer in the Fenix error shape."""

    priority = 1000

    def on_error(self, state, exc):
        if (isinstance(exc, webob.exc.WSGIHTTPException)
                and exc.status_int < 400):
            return None
        code, message, headers = errors.describe(exc, state.request)
        if code < 500:
            LOG.info('%s %s: %d %s', state.request.method,
                     state.request.path, code, message)
        return errors.error_response(code, message, headers)
