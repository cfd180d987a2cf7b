# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A cliff App running the ``openstack maintenance`` commands, for tests.

The commands are those setup.cfg declares under ``openstack.maintenance.v1``
(read from the file, so a wrong entry point fails the tests), named as
``openstack`` names them (``maintenance_session_create`` is ``maintenance
session create``); the client is made by the plug-in's ``make_client``
from a keystoneauth session, as ``openstack`` does.

Run as a program (the progress test runs it in a pseudo-terminal)::

    python -m fenix.tests.osc_app --endpoint URL maintenance session ...
    python -m fenix.tests.osc_app --auth-url URL --username U \
        --password P --project-id ID maintenance session ...
"""
import argparse
import configparser
import importlib
import os
import sys
import types

from cliff import app
from cliff import commandmanager
from keystoneauth1.identity import v3
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session

from fenix.client.osc import plugin

SETUP_CFG = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                         '..', 'setup.cfg')
GROUP = 'openstack.%s.v%s' % (plugin.API_NAME, plugin.DEFAULT_API_VERSION)


def entry_points(group=GROUP):
    """{name: 'module:Class'} of an entry point group of setup.cfg."""
    parser = configparser.ConfigParser()
    parser.read(SETUP_CFG)
    text = parser['options.entry_points'][group]
    out = {}
    for line in text.strip().splitlines():
        name, _, target = line.partition('=')
        out[name.strip()] = target.strip()
    return out


def load(target):
    module, _, attr = target.partition(':')
    return getattr(importlib.import_module(module), attr)


def command_manager():
    manager = commandmanager.CommandManager('fenix.tests.none')
    for name, target in entry_points().items():
        manager.add_command(name.replace('_', ' '), load(target))
    return manager


def make_client(session):
    """The client as ``openstack`` makes it (plugin.make_client)."""
    instance = types.SimpleNamespace(
        session=session, interface='public', region_name=None,
        _api_version={plugin.API_NAME: plugin.DEFAULT_API_VERSION})
    return plugin.make_client(instance)


def noauth_session(endpoint):
    """What ``--os-auth-type none --os-endpoint URL`` gives."""
    return ks_session.Session(auth=noauth.NoAuth(endpoint=endpoint))


def password_session(**auth_args):
    """Keystone v3 password auth (``auth_url``, ``username``...)."""
    auth_args.setdefault('user_domain_name', 'Default')
    return ks_session.Session(auth=v3.Password(**auth_args))


class MaintenanceApp(app.App):

    def __init__(self, client, stdout=None, stderr=None):
        super().__init__(description='openstack maintenance (tests)',
                         version='1', command_manager=command_manager(),
                         stdout=stdout, stderr=stderr, deferred_help=True)
        self.client_manager = types.SimpleNamespace(maintenance=client)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument('--endpoint')
    parser.add_argument('--auth-url')
    parser.add_argument('--username')
    parser.add_argument('--password')
    parser.add_argument('--project-id')
    args, rest = parser.parse_known_args(argv)
    if args.auth_url:
        session = password_session(auth_url=args.auth_url,
                                   username=args.username,
                                   password=args.password,
                                   project_id=args.project_id)
    else:
        session = noauth_session(args.endpoint)
    return MaintenanceApp(make_client(session)).run(rest)


if __name__ == '__main__':
    sys.exit(main())
