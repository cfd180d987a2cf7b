# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""What every simulated service's front end shares: routing, injected API
faults, token checking and error bodies in the service's own format."""
import logging
import re
import time
import traceback

from fenix_tools.simcloud import util
from fenix_tools.simcloud import wsgi

LOG = logging.getLogger(__name__)

UNAUTHORIZED = 'The request you have made requires authentication.'

# What oslo.middleware's RequestId accepts as an inbound (global) id.
GLOBAL_REQUEST_ID = re.compile(
    r'^req-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$')


class RequestContext:
    """The caller of one request: the token's context plus the request ids.

    ``request_id`` is the id this request was given (the one answered in
    ``X-Openstack-Request-Id`` and recorded in Nova's instance actions);
    ``global_request_id`` is the caller's ``X-Openstack-Request-Id`` when
    it is a valid ``req-<uuid>`` (else None). Everything else (user,
    project, roles, ``is_admin``...) is the token's.
    """

    __slots__ = ('auth', 'request_id', 'global_request_id')

    def __init__(self, auth, request_id, global_request_id=None):
        self.auth = auth
        self.request_id = request_id
        self.global_request_id = global_request_id

    def __getattr__(self, name):
        return getattr(self.auth, name)


class ServiceApp:
    """Base of the identity, compute and alarming front ends."""

    #: name used by fault rules and the event log
    name = 'service'
    #: whether injected API faults apply to this front end
    faultable = True

    def __init__(self, sim):
        self.sim = sim
        self.router = wsgi.Router()
        self.add_routes(self.router)

    def add_routes(self, router):
        raise NotImplementedError

    def prepare(self, req, path):
        """Called before routing (e.g. to negotiate a microversion)."""

    def error_body(self, exc):
        return {'error': {'code': exc.status, 'message': exc.message,
                          'title': exc.title}}

    def decorate(self, req, resp, request_id):
        resp.headers['X-Openstack-Request-Id'] = request_id

    def authenticate(self, req):
        """The caller's :class:`RequestContext` (401 without a valid token).
        """
        ctx = self.sim.identity.validate(req.headers.get('X-Auth-Token'))
        if ctx is None:
            raise util.Unauthorized(UNAUTHORIZED, headers={
                'WWW-Authenticate': 'Keystone uri="%s"'
                % self.sim.identity_url})
        return RequestContext(ctx, req.environ['simcloud.request_id'],
                              req.environ.get('simcloud.global_request_id'))

    def __call__(self, req, path):
        # As oslo.middleware's RequestId (Nova, Keystone, AODH): every
        # request gets a new id, answered in X-Openstack-Request-Id; the
        # caller's own id, if valid, is kept as the global request id.
        request_id = util.request_id()
        req.environ['simcloud.request_id'] = request_id
        inbound = req.headers.get('X-Openstack-Request-Id', '')
        if GLOBAL_REQUEST_ID.match(inbound):
            req.environ['simcloud.global_request_id'] = inbound
        try:
            fault = None
            if self.faultable:
                with self.sim.lock:
                    fault = self.sim.cloud.faults.api_fault(
                        self.name, req.method, path)
            if fault is not None:
                self.sim.events.record(
                    'fault.trigger', service=self.name, method=req.method,
                    path=path, status=fault['status'])
                if fault['delay']:
                    # Emulated server-side latency of this API call.
                    time.sleep(fault['delay'])
                if fault['status'] >= 400:
                    raise util.HTTPError(fault['message'],
                                         status=fault['status'])
            self.prepare(req, path)
            handler, kwargs = self.router.match(req.method, path)
            resp = handler(req, **kwargs)
        except util.HTTPError as exc:
            resp = wsgi.json_response(self.error_body(exc),
                                      status=exc.status,
                                      headers=exc.headers)
        except Exception as exc:  # a simulator bug: make it visible
            LOG.exception('%s %s %s failed', self.name, req.method, path)
            self.sim.events.record('api.error', service=self.name,
                                   method=req.method, path=path,
                                   error=repr(exc),
                                   traceback=traceback.format_exc())
            err = util.HTTPError('Unexpected API Error. %r' % exc)
            resp = wsgi.json_response(self.error_body(err), status=500)
        self.decorate(req, resp, request_id)
        return resp
