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
    cfg.ListOpt('metrics_allowed_source_ranges', default=[],
                item_type=cfg.types.String(),
                help='Networks (CIDR, e.g. 192.0.2.10/32, 2001:db8::/64) '
                     'whose requests to /metrics are answered without a '
                     'token: where a Prometheus scrapes from when it '
                     'carries no Keystone token. Empty (the default): '
                     '/metrics needs a token allowed by the policy '
                     'fenix:metrics:get (an admin by default). Requests '
                     'from other addresses still need the token.'),
    cfg.IntOpt('healthcheck_timeout', default=5, min=1,
               help='Seconds /healthcheck waits for the engine to answer its '
                    'ping (which also checks the database) before it '
                    'reports 503.'),
    # The HTTP server of fenix-api and the all-in-one (cheroot). Not used
    # when fenix.api.wsgi runs under another server.
    cfg.IntOpt('workers', default=1, min=1,
               help='Processes fenix-api serves with. 1: one process '
                    '(threads only). More: a supervisor process listens '
                    'once and forks that many workers sharing the socket, '
                    'each with its own HTTP server, database connections '
                    'and message transport; a worker that dies is '
                    'replaced, SIGTERM stops them all. About one per CPU '
                    'core: the threads of one process share one core '
                    '(Python\'s GIL). Not used by the all-in-one, nor '
                    'under another WSGI server (which has its own).'),
    cfg.IntOpt('backlog', default=1024, min=1,
               help='Listen backlog: connections the kernel queues before '
                    'the server accepts them (capped by the kernel\'s '
                    'net.core.somaxconn). Too small a backlog resets '
                    'connections of a burst.'),
    cfg.IntOpt('min_threads', default=8, min=1,
               help='Worker threads kept ready to serve requests.'),
    cfg.IntOpt('max_threads', default=64, min=1,
               help='Most worker threads: requests served at once. Further '
                    'connections wait (idle keep-alive connections hold no '
                    'thread).'),
    cfg.IntOpt('header_timeout', default=30, min=1,
               help='Seconds a client has to send the request line and all '
                    'the headers of a request, from its first byte; then '
                    'it gets 408 and the connection is closed.'),
    cfg.IntOpt('body_timeout', default=60, min=1,
               help='Seconds a client has to send the body of a request '
                    'once its headers arrived; then it gets 408.'),
    cfg.IntOpt('client_timeout', default=30, min=1,
               help='Seconds a connection may stay silent: while the server '
                    'waits for any byte of a request, and an idle '
                    'keep-alive connection before it is closed.'),
    cfg.IntOpt('max_request_header_size', default=65536, min=1024,
               help='Largest request line plus headers, in bytes: a longer '
                    'request line is 414, more headers 431.'),
    cfg.IntOpt('rpc_publish_retries', default=2, min=0,
               help='Times the API tries again to send a request when the '
                    'message broker cannot be reached (with the transport\'s '
                    'back-off) before it replies 503. The whole request is '
                    'bounded by rpc_timeout in any case.'),
    cfg.IntOpt('retry_after', default=5, min=1,
               help='Seconds a 503 answer (engine, broker or database '
                    'unreachable) tells the client to wait before it tries '
                    'again (the Retry-After header).'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
