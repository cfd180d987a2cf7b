# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""[service_user]: the credentials the engine uses towards OpenStack."""
from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

GROUP = cfg.OptGroup('service_user', title='OpenStack service credentials',
                     help='keystoneauth options of the user the engine acts '
                          'as towards Nova and AODH (an admin).')

OPTS = [
    cfg.StrOpt('region_name', help='Region of the endpoints to use.'),
    cfg.StrOpt('interface', default='public',
               choices=['public', 'internal', 'admin'],
               help='Endpoint interface to use from the catalog.'),
    cfg.StrOpt('nova_api_version', default='2.latest',
               help='Compute API microversion to ask for; "2.latest" '
                    'negotiates the highest both sides support.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
    ks_loading.register_session_conf_options(conf, GROUP.name)
    ks_loading.register_auth_conf_options(conf, GROUP.name)


def list_opts():
    return (OPTS
            + ks_loading.get_session_conf_options()
            + ks_loading.get_auth_common_conf_options()
            + ks_loading.get_auth_plugin_conf_options('password'))
