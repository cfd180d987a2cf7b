# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""[engine]: the engine service that runs sessions.

The threads serving RPC requests are oslo.messaging's
``[DEFAULT] executor_thread_pool_size``.
"""
import socket

from oslo_config import cfg

GROUP = cfg.OptGroup('engine', title='Engine options')

OPTS = [
    cfg.StrOpt('host', default=socket.gethostname(),
               sample_default='<hostname>',
               help='Name of this engine: its RPC server name and the owner '
                    'recorded on the sessions it runs.'),
    cfg.StrOpt('topic', default='fenix-engine',
               help='RPC topic the engines listen on.'),
    cfg.IntOpt('max_sessions', default=100, min=1,
               help='Most sessions one engine runs at the same time; a '
                    'create beyond it is refused with 409.'),
    cfg.IntOpt('known_hosts_cache_time', default=60, min=0,
               help='Seconds the engine keeps the list of hosts Nova '
                    'knows, with which it refuses (400) a create that '
                    'names an unknown host. A host not in the list is '
                    'looked up again before a create is refused.'),
    cfg.IntOpt('known_hosts_timeout', default=5, min=1,
               help='Seconds a create waits for Nova\'s list of hosts; '
                    'without it in time the create is accepted and the '
                    'session checks its hosts when it starts.'),
    cfg.IntOpt('heartbeat_interval', default=10, min=1,
               help='Seconds between an engine\'s heartbeats.'),
    cfg.IntOpt('takeover_after', default=60, min=2,
               help='Seconds without a heartbeat after which another engine '
                    'takes over the sessions of a dead one.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
