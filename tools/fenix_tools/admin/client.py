# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix-admin's access to Fenix: the client library, ``fenix.client``.

:class:`AdminClient` gives the tool's commands (and :mod:`progress`) the
calls they make, each one a call of :class:`fenix.client.v1.Client`, and
turns the library's errors into :class:`fenix_tools.common.FenixError`
(with the HTTP status) that the tool reports. ``fenix.client`` imports
nothing of the server, so the tool stays a pure REST client.
"""
from fenix.client import exceptions as client_exc
from fenix.client import v1

from fenix_tools import common

# POST /v1/maintenance/{id} action -> the library's method.
_CONTROLS = {
    'pause': lambda c, sid, **kw: c.pause_session(sid, **kw),
    'resume': lambda c, sid, **kw: c.resume_session(sid, **kw),
    'skip_host': lambda c, sid, **kw: c.skip_host(sid, **kw),
    'retry': lambda c, sid, **kw: c.retry_session(sid, **kw),
}


def error(e):
    """The library's error as fenix-admin reports it."""
    if isinstance(e, client_exc.HttpError):
        text = '%s %s: HTTP %s: %s' % (e.method, e.url, e.status,
                                       e.message)
        return common.FenixError(text, status=e.status, body=e.body)
    return common.FenixError(str(e))


def _wrap(method):
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except client_exc.ClientException as e:
            raise error(e)
    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


class AdminClient(object):
    """The calls of fenix-admin over :class:`fenix.client.v1.Client`."""

    def __init__(self, url=None, session=None, interface='public',
                 region_name=None):
        if not url and session is None:
            url = common.DEFAULT_FENIX_URL
        try:
            self.client = v1.Client(session=session, endpoint=url or None,
                                    interface=interface,
                                    region_name=region_name)
        except client_exc.ClientException as e:
            raise error(e)

    @_wrap
    def create_session(self, body):
        return self.client.create_session(**body)

    @_wrap
    def list_sessions(self):
        return self.client.list_sessions()

    @_wrap
    def get_session(self, session_id):
        return self.client.get_session(session_id)

    @_wrap
    def get_session_detail(self, session_id):
        return self.client.get_session_detail(session_id)

    @_wrap
    def update_session(self, session_id, body):
        return self.client.continue_session(session_id,
                                            state=body.get('state'))

    @_wrap
    def control_session(self, session_id, action, **fields):
        return _CONTROLS[action](self.client, session_id, **fields)

    @_wrap
    def delete_session(self, session_id):
        return self.client.delete_session(session_id)


def library_client(client):
    """The :class:`fenix.client.v1.Client` behind a client of the tools:
    an :class:`AdminClient`'s own, or one for the endpoint and Keystone
    session (and extra headers) of a
    :class:`fenix_tools.common.FenixClient`."""
    if isinstance(client, v1.Client):
        return client
    if isinstance(client, AdminClient):
        return client.client
    try:
        return v1.Client(session=client.session, endpoint=client.url,
                         headers=client.headers)
    except client_exc.ClientException as e:
        raise error(e)
