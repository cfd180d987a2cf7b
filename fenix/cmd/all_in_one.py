# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix-all-in-one: API and engine in one process, no broker.

Runs with no config file at all: the API listens on 127.0.0.1:12347 with
``auth_strategy = noauth``, RPC calls go straight to the engine in the same
process, the database is SQLite under ``~/.fenix`` and is migrated on start.
A config file may override any of this (except the in-process RPC).
Notifications: see fenix.common.notifier (``fenix-http`` when
``[notification_http] url`` is set, else logged, unless a driver is set).
"""
import os
import sys

from fenix import cmd
from fenix.common import clients
from fenix.common import config
from fenix.conf import CONF

STATE_DIR = os.path.join(os.path.expanduser('~'), '.fenix')


def _set_defaults():
    CONF.set_default('auth_strategy', 'noauth', group='api')
    CONF.set_default('connection', 'sqlite:///%s' % os.path.join(
        STATE_DIR, 'fenix.sqlite'), group='database')
    CONF.set_default('directory', os.path.join(STATE_DIR, 'downloads'),
                     group='download')


def main(argv=None):
    from fenix.api.middleware import auth_token
    from fenix.api import server as api_server
    from fenix.db import migration
    from fenix.engine import service

    _set_defaults()
    config.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        auth_token.check_config(CONF)
    except auth_token.IncompleteConfig as e:
        sys.stderr.write('fenix-all-in-one: %s\n' % e)
        return 2
    hint = clients.service_user_hint(CONF)
    if hint:
        sys.stderr.write('fenix-all-in-one: %s\n' % hint)
        sys.stderr.flush()
    if CONF.database.connection.startswith('sqlite:///' + STATE_DIR):
        os.makedirs(STATE_DIR, exist_ok=True)
    migration.upgrade('head')
    engine = service.EngineService(local=True)
    engine.start()
    api = api_server.APIServer(CONF.api.host, CONF.api.port)
    try:
        api.start()
    except (api_server.UnsafeBindAddress) as e:
        sys.stderr.write('fenix-all-in-one: %s\n' % e)
        engine.stop()
        return 2
    except OSError as e:
        sys.stderr.write('fenix-all-in-one: cannot listen on %s: %s\n'
                         % (api.url, e))
        engine.stop()
        return 1
    cmd.wait_for_signal()
    api.stop()
    engine.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
