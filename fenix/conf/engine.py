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
               help='Most sessions one engine runs at the same time. A '
                    'create that reaches an engine running as many is '
                    'forwarded once to the live engine running the fewest '
                    '(below its max_sessions, taken to be the same for '
                    'every engine); with none, it is refused with 409.'),
    cfg.StrOpt('rpc_version_cap',
               help='Highest engine RPC API version this engine sends to '
                    'the other engines (empty: its own, 1.5). During a '
                    'rolling upgrade from a release whose engines speak an '
                    'earlier version, set it to that version (1.4) until '
                    'every engine runs this release: a full engine then '
                    'refuses a create (409) instead of forwarding it '
                    '(RPC 1.5) to another engine.'),
    cfg.IntOpt('known_hosts_cache_time', default=60, min=0,
               help='Seconds the engine keeps the list of hosts Nova '
                    'knows, with which it refuses (400) a create that '
                    'names an unknown host. A host not in the list is '
                    'looked up again before a create is refused.'),
    cfg.IntOpt('known_hosts_timeout', default=5, min=1,
               help='Seconds a create waits for Nova\'s list of hosts; '
                    'without it in time the create is accepted and the '
                    'session checks its hosts when it starts.'),
    cfg.IntOpt('max_sessions_total', default=0, min=0,
               help='Most sessions all the engines of the deployment run '
                    'together (counted in the database); a create beyond '
                    'it is refused with 409. 0: no limit beyond each '
                    'engine\'s max_sessions.'),
    cfg.IntOpt('heartbeat_interval', default=2, min=1,
               help='Seconds between an engine\'s heartbeats (written at '
                    'the database server\'s time, or to the coordination '
                    'backend); each beat also looks for sessions to take '
                    'over.'),
    cfg.IntOpt('takeover_after', default=6, min=2,
               help='Seconds without a heartbeat after which another engine '
                    'takes over the sessions of a dead one, judged by the '
                    'database server\'s clock (or by the coordination '
                    'backend\'s membership), never by the engines\' own. '
                    'Keep it well above heartbeat_interval (3 times or '
                    'more): a busy engine must not be taken for dead. A '
                    'killed engine\'s sessions go on within about '
                    'takeover_after + heartbeat_interval seconds; an engine '
                    'that stalled longer and comes back is fenced (its '
                    'writes are refused).'),
    cfg.IntOpt('idle_transaction_timeout', default=5, min=0,
               help='Seconds the database server lets a transaction of '
                    'Fenix sit idle before it ends it and its connection '
                    '(MariaDB idle_transaction_timeout, PostgreSQL '
                    'idle_in_transaction_session_timeout; SQLite and '
                    'MySQL: not set). A process stalled (SIGSTOP, a long '
                    'pause) in the middle of a transaction would otherwise '
                    'hold its row locks, and the takeover of its sessions '
                    'would wait for them; keep it below takeover_after. '
                    'Fenix\'s own transactions last milliseconds. 0: the '
                    'server\'s default.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
