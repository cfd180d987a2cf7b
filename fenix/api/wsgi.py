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
"""
import os

from fenix.api import app
from fenix.common import config

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
    return app.setup_app()


application = init_application()
