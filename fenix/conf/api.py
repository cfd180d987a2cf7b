# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""[api]: the REST API service."""
from oslo_config import cfg

GROUP = cfg.OptGroup('api', title='REST API options')

OPTS = [
    cfg.HostAddressOpt('host', default='127.0.0.1',
                       help='Address the API listens on.'),
    cfg.PortOpt('port', default=12347, help='Port the API listens on.'),
    cfg.StrOpt('auth_strategy', default='keystone',
               choices=[('keystone', 'keystonemiddleware auth_token '
                                     'validates every request'),
                        ('noauth', 'identity is taken from the X-User-Id, '
                                   'X-Project-Id and X-Roles headers; a '
                                   'request without them is an admin')],
               help='How requests are authenticated.'),
    cfg.BoolOpt('noauth_allow_remote', default=False,
                help='Let the API listen on a non-loopback address with '
                     'auth_strategy = noauth. Anyone who can reach it is '
                     'then an admin; never enable this in production.'),
    cfg.URIOpt('public_endpoint', schemes=['http', 'https'],
               help='Base URL (without /v1) that application managers use '
                    'to reach this API; it is put in the reply_url and '
                    'instance_ids of project events. Default: '
                    'http://<host>:<port>.'),
    cfg.IntOpt('max_request_body_size', default=1024 * 1024, min=1024,
               help='Largest request body accepted, in bytes.'),
    cfg.IntOpt('rpc_timeout', default=30, min=1,
               help='Seconds the API waits for the engine to answer before '
                    'it replies 503.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
