# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""What every simulated service's front end shares: routing, injected API
faults, token checking and error bodies in the service's own format."""
import logging
import time
import traceback

from fenix_tools.simcloud import util
from fenix_tools.simcloud import wsgi

LOG = logging.getLogger(__name__)

UNAUTHORIZED = 'The request you have made requires authentication.'


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
        """The caller's context from ``X-Auth-Token`` (401 if none)."""
        ctx = self.sim.identity.validate(req.headers.get('X-Auth-Token'))
        if ctx is None:
            raise util.Unauthorized(UNAUTHORIZED, headers={
                'WWW-Authenticate': 'Keystone uri="%s"'
                % self.sim.identity_url})
        return ctx

    def __call__(self, req, path):
        request_id = util.request_id()
        req.environ['simcloud.request_id'] = request_id
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
