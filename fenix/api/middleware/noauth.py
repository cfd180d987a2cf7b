# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``[api] auth_strategy = noauth``: identity taken from request headers.

For the all-in-one and tests only. The caller says who it is with
``X-User-Id``, ``X-Project-Id`` and ``X-Roles`` (comma separated);
``OpenStack-System-Scope: all`` makes a system-scoped caller. A request
without any of the three headers is an admin. Roles are expanded the way
Keystone's default role inference does (admin implies member, member
implies reader), so policies behave as they do behind Keystone.
"""

import ipaddress

from oslo_log import log as logging

from fenix.api import errors

LOG = logging.getLogger(__name__)

IDENTITY_HEADERS = ('HTTP_X_USER_ID', 'HTTP_X_PROJECT_ID', 'HTTP_X_ROLES')

# Keystone's default implied roles.
IMPLIED_ROLES = {
    'admin': ('member', 'reader'),
    'member': ('reader',),
}

DEFAULT_ROLES = ('admin',)

# Longest user or project id (Keystone's, and the database columns').
MAX_ID_LENGTH = 64


def expand_roles(roles):
    """Roles plus the roles they imply, in a stable order."""
    result = []
    pending = list(roles)
    while pending:
        role = pending.pop(0)
        if role and role not in result:
            result.append(role)
            pending.extend(IMPLIED_ROLES.get(role.lower(), ()))
    return result


class NoAuthMiddleware(object):

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        for key, header in (('HTTP_X_USER_ID', 'X-User-Id'),
                            ('HTTP_X_PROJECT_ID', 'X-Project-Id')):
            if len(environ.get(key) or '') > MAX_ID_LENGTH:
                # Keystone ids are at most 64 characters: so are the
                # columns that record who asked.
                return errors.error_response(
                    400, 'Invalid request: %s: longer than %d characters'
                    % (header, MAX_ID_LENGTH))(environ, start_response)
        if not any(environ.get(h) for h in IDENTITY_HEADERS):
            roles = list(DEFAULT_ROLES)
        else:
            roles = [r.strip() for r in
                     environ.get('HTTP_X_ROLES', '').split(',')]
        environ['HTTP_X_ROLES'] = ','.join(expand_roles(roles))
        environ['HTTP_X_IDENTITY_STATUS'] = 'Confirmed'
        return self.app(environ, start_response)


def is_loopback(host):
    """True for a loopback address (or 'localhost')."""
    host = (host or '').strip()
    if host.lower() == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host.strip('[]')).is_loopback
    except ValueError:
        return False


class LoopbackOnly(object):
    """No-auth under a server whose address Fenix does not choose.

    ``fenix-api`` refuses to listen on a non-loopback address with no
    authentication; under uWSGI, gunicorn or mod_wsgi
    (:mod:`fenix.api.wsgi`) the server chooses, so this answers 403 to any
    request whose peer (``REMOTE_ADDR``) is not a loopback address, or is
    unknown. ``[api] noauth_allow_remote`` turns it off.
    """

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        peer = environ.get('REMOTE_ADDR')
        if not is_loopback(peer):
            LOG.warning('Refused a request from %s: [api] auth_strategy = '
                        'noauth serves loopback clients only', peer)
            return errors.error_response(
                403, 'This API runs without authentication ([api] '
                     'auth_strategy = noauth) and answers loopback clients '
                     'only.')(environ, start_response)
        return self.app(environ, start_response)
