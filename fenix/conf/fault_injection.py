# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""[fault_injection]: crashes on purpose, for tests only.

Never set any of these in production: they kill the engine.
"""
from oslo_config import cfg

GROUP = cfg.OptGroup(
    'fault_injection', title='Fault injection (testing only)',
    help='Make the engine crash at chosen points, to test that it recovers '
         '(functional tests, crash campaigns). Never set in production.')

OPTS = [
    cfg.ListOpt('kill_after_commit', default=[],
                help='TESTING ONLY. The engine process kills itself '
                     '(SIGKILL) right after it committed a transaction '
                     'that recorded a notification matching one of these, '
                     'before that notification is sent: '
                     '"<event_type>" or "<event_type>:<state>" (e.g. '
                     '"maintenance.session:MAINTENANCE_DONE"). A restarted '
                     'engine must send it.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
