# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""WSGI entry point for uWSGI, gunicorn, mod_wsgi...

``application`` is built when this module is imported, with the
configuration file named by the ``FENIX_CONFIG_FILE`` environment variable
(default ``/etc/fenix/fenix.conf``; a missing default file means built-in
defaults, a missing named one is an error)::

    uwsgi --http-socket :12347 --module fenix.api.wsgi:application
    gunicorn 'fenix.api.wsgi:application'

With ``[api] auth_strategy = noauth`` (and not ``noauth_allow_remote``) it
answers loopback clients only, as ``fenix-api`` listens only on a loopback
address then: a request from any other peer is 403.
"""
import os

from oslo_log import log as logging

from fenix.api import app
from fenix.api.middleware import auth_token
from fenix.api.middleware import noauth
from fenix.common import config
from fenix.conf import CONF

LOG = logging.getLogger(__name__)

CONFIG_ENV = 'FENIX_CONFIG_FILE'
DEFAULT_CONFIG_FILE = '/etc/fenix/fenix.conf'


def config_files(environ=None):
    """The configuration files to read."""
    environ = os.environ if environ is None else environ
    named = environ.get(CONFIG_ENV)
    if named:
        if not os.path.isfile(named):
            raise RuntimeError('%s=%s: no such file' % (CONFIG_ENV, named))
        return [named]
    if os.path.isfile(DEFAULT_CONFIG_FILE):
        return [DEFAULT_CONFIG_FILE]
    return []


def init_application(environ=None):
    """Parse the configuration (not the server's argv) and build the app."""
    config.parse_args([], default_config_files=config_files(environ))
    auth_token.check_config(CONF)
    application = app.setup_app()
    if (CONF.api.auth_strategy == 'noauth'
            and not CONF.api.noauth_allow_remote):
        LOG.warning('[api] auth_strategy = noauth: only loopback clients '
                    'are answered.')
        application = noauth.LoopbackOnly(application)
    return application


application = init_application()
