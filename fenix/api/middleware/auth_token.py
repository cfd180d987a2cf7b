# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``[api] auth_strategy = keystone``: keystonemiddleware ``auth_token``.

It is configured from the ``[keystone_authtoken]`` section. The version
documents (``/`` and ``/v1``) and the OpenAPI description
(``/v1/openapi.json``) stay public so that clients can discover the API
before they hold a token; so do the dashboard's login page and loader
(:data:`fenix.api.dashboard.PUBLIC_PATHS`), which hold no data.
"""
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from keystonemiddleware import auth_token

from fenix.api import dashboard

GROUP = 'keystone_authtoken'

# Paths answered without a token (with or without a trailing slash).
PUBLIC_ROUTES = ('/', '/v1', '/v1/openapi.json')

# Identity headers a client could forge on a public route; auth_token strips
# them itself on every other route.
_IDENTITY_PREFIXES = ('HTTP_X_IDENTITY_', 'HTTP_X_USER', 'HTTP_X_PROJECT',
                      'HTTP_X_TENANT', 'HTTP_X_ROLE', 'HTTP_X_DOMAIN',
                      'HTTP_X_SERVICE', 'HTTP_X_SYSTEM', 'HTTP_X_IS_ADMIN',
                      'HTTP_X_AUTH_TOKEN', 'HTTP_OPENSTACK_SYSTEM_SCOPE')


def is_public(path):
    return ((path.rstrip('/') or '/') in PUBLIC_ROUTES
            or path in dashboard.PUBLIC_PATHS)


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
            environ[dashboard.PUBLIC_KEY] = True
            return self.public_app(environ, start_response)
        return self.protected_app(environ, start_response)


class IncompleteConfig(ValueError):
    """``[keystone_authtoken]`` cannot validate tokens: the API refuses to
    start (rather than answer 500 to every request)."""


def _missing(conf):
    """What ``[keystone_authtoken]`` lacks to validate tokens, in words;
    None when it lacks nothing (nothing is asked of Keystone here)."""
    ks_loading.register_auth_conf_options(conf, GROUP)
    section = getattr(conf, GROUP)
    if not section.auth_type:
        return ('auth_type (the credentials auth_token validates tokens '
                'with, e.g. auth_type = password with auth_url, username, '
                'password, project_name and the domains)')
    try:
        ks_loading.load_auth_from_conf_options(conf, GROUP)
    except ks_exc.MissingRequiredOptions as e:
        return ', '.join(o.dest for o in e.options)
    except ks_exc.NoMatchingPlugin:
        return 'a known auth_type (%r is not one)' % section.auth_type
    if section.auth_type in ('password', 'v3password'):
        needed = [name for name, alternatives in (
            ('username', ('username', 'user_id')),
            ('password', ('password',)))
            if not any(section.get(a) for a in alternatives)]
        if needed:
            return ', '.join(needed)
    return None


def check_config(conf):
    """With ``[api] auth_strategy = keystone``, raise IncompleteConfig
    naming what ``[keystone_authtoken]`` of ``conf`` lacks to validate
    tokens.

    Called by the commands and the WSGI factory on the configuration they
    parsed, once: it registers the auth plug-in's options on ``conf`` (as
    auth_token does at its first request), some of them required.
    """
    if conf.api.auth_strategy != 'keystone':
        return
    missing = _missing(conf)
    if missing:
        raise IncompleteConfig(
            '[api] auth_strategy = keystone, but [keystone_authtoken] lacks '
            '%s; set it (doc/source/admin.rst) or use auth_strategy = '
            'noauth on a loopback address.' % missing)


def wrap(app, conf):
    """``app`` behind auth_token, version documents excepted.

    auth_token is configured from ``conf`` (``[keystone_authtoken]``;
    :func:`check_config` tells what it lacks).
    """
    protected = auth_token.AuthProtocol(app, {'oslo_config_config': conf})
    return PublicRoutes(protected, app)
