# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The ``openstack maintenance`` plug-in of python-openstackclient.

Registered under ``openstack.cli.extension`` (setup.cfg); its commands are
the ``openstack.maintenance.v1`` entry points. The client is made from the
session ``openstack`` built (clouds.yaml, application credentials,
``--os-cacert``...), for service type ``maintenance``. ``--os-auth-type
none --os-endpoint URL`` reaches an all-in-one with ``auth_strategy =
noauth``.
"""
import logging

from osc_lib import utils

LOG = logging.getLogger(__name__)

DEFAULT_API_VERSION = '1'
API_VERSION_OPTION = 'os_maintenance_api_version'
API_NAME = 'maintenance'
API_VERSIONS = {'1': 'fenix.client.v1.Client'}


def make_client(instance):
    """The Fenix client of the ClientManager ``instance``."""
    cls = utils.get_client_class(API_NAME,
                                 instance._api_version[API_NAME],
                                 API_VERSIONS)
    LOG.debug('Instantiating maintenance client: %s', cls)
    return cls(session=instance.session,
               interface=instance.interface,
               region_name=instance.region_name)


def build_option_parser(parser):
    parser.add_argument(
        '--os-maintenance-api-version',
        metavar='<maintenance-api-version>',
        default=utils.env('OS_MAINTENANCE_API_VERSION',
                          default=DEFAULT_API_VERSION),
        help='Fenix (maintenance) API version, default %s '
             '(env: OS_MAINTENANCE_API_VERSION)' % DEFAULT_API_VERSION)
    return parser
