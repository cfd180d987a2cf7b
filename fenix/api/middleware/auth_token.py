# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``[api] auth_strategy = keystone``: keystonemiddleware ``auth_token``.

It is configured from the ``[keystone_authtoken]`` section. The version
documents (``/`` and ``/v1``) and the OpenAPI description
(``/v1/openapi.json``) stay public so that clients can discover the API
before they hold a token.
"""
from keystonemiddleware import auth_token

# Paths answered without a token (with or without a trailing slash).
PUBLIC_ROUTES = ('/', '/v1', '/v1/openapi.json')

# Identity headers a client could forge on a public route; auth_token strips
# them itself on every other route.
_IDENTITY_PREFIXES = ('HTTP_X_IDENTITY_', 'HTTP_X_USER', 'HTTP_X_PROJECT',
                      'HTTP_X_TENANT', 'HTTP_X_ROLE', 'HTTP_X_DOMAIN',
                      'HTTP_X_SERVICE', 'HTTP_X_SYSTEM', 'HTTP_X_IS_ADMIN',
                      'HTTP_X_AUTH_TOKEN', 'HTTP_OPENSTACK_SYSTEM_SCOPE')


def is_public(path):
    return (path.rstrip('/') or '/') in PUBLIC_ROUTES


class PublicRoutes(object):
    """Public routes skip authentication.

    They go straight to ``public_app``, the rest through ``protected_app``.
    """

    def __init__(self, protected_app, public_app):
        self.protected_app = protected_app
        self.public_app = public_app

    def __call__(self, environ, start_response):
        if is_public(environ.get('PATH_INFO', '')):
            for key in [k for k in environ
                        if k.startswith(_IDENTITY_PREFIXES)]:
                del environ[key]
            return self.public_app(environ, start_response)
        return self.protected_app(environ, start_response)


def wrap(app, conf):
    """``app`` behind auth_token, version documents excepted.

    auth_token is configured from ``conf`` (``[keystone_authtoken]``).
    """
    protected = auth_token.AuthProtocol(app, {'oslo_config_config': conf})
    return PublicRoutes(protected, app)
