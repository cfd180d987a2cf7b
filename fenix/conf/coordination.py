# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""[coordination]: how several engines learn who is alive (tooz).

Without a backend (the default, fine for the all-in-one and for engines
that share one database) engines heartbeat in the database and liveness is
judged by the database server's clock. With a tooz backend the engines
join a group there; its membership says who is alive and sessions are
spread over the members with a consistent hash ring
(fenix/engine/coordination.py). The session's generation in the database
fences a stale owner in both modes.
"""
from oslo_config import cfg

GROUP = cfg.OptGroup(
    'coordination', title='Coordination of several engines',
    help='Group membership of the engines through a tooz backend.')

OPTS = [
    cfg.StrOpt('backend_url', default='', secret=True,
               help='tooz backend URL, e.g. redis://127.0.0.1:6379 '
                    '(Redis), etcd3+http://127.0.0.1:2379 (etcd v3) or '
                    'zookeeper://127.0.0.1:2181 (ZooKeeper). Empty: no '
                    'backend, the engines coordinate through the database '
                    'only.'),
    cfg.StrOpt('group', default='fenix-engines',
               help='tooz group the engines join (engines of one '
                    'deployment share it; two deployments on one backend '
                    'need different names).'),
    cfg.IntOpt('hash_replicas', default=32, min=1,
               help='Points of each engine on the consistent hash ring '
                    'that spreads sessions over the live engines.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
