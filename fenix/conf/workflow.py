# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""[workflow]: reply windows and how the workflows treat projects."""
from oslo_config import cfg

# The move kinds of fenix.common.states (MIGRATE, LIVE_MIGRATE), written
# out: the options know nothing of the code they configure (a unit test
# keeps them equal).
MOVE_KINDS = ('MIGRATE', 'LIVE_MIGRATE')

GROUP = cfg.OptGroup('workflow', title='Workflow behaviour')

OPTS = [
    cfg.IntOpt('reply_window_maintenance', default=120, min=1,
               help='Seconds a project has to answer MAINTENANCE.'),
    cfg.IntOpt('reply_window_scale_in', default=120, min=1,
               help='Seconds a project has to answer SCALE_IN.'),
    cfg.IntOpt('reply_window_prepare_maintenance', default=120, min=1,
               help='Seconds a project has to answer PREPARE_MAINTENANCE.'),
    cfg.IntOpt('reply_window_planned_maintenance', default=120, min=1,
               help='Seconds a project has to answer PLANNED_MAINTENANCE.'),
    cfg.IntOpt('reply_window_maintenance_complete', default=120, min=1,
               help='Seconds a project has to answer MAINTENANCE_COMPLETE.'),
    cfg.StrOpt('default_migration_type', default=MOVE_KINDS[0],
               choices=list(MOVE_KINDS),
               help='How Fenix moves an instance whose project has no '
                    'manager or stays silent, when no instance constraint '
                    'names a migration_type.'),
    cfg.StrOpt('nack_policy', default='fail',
               choices=[('fail', 'the session fails cleanly'),
                        ('skip_host', 'the host is left for later and the '
                                      'session goes on')],
               help='What a NACK from a project does.'),
    cfg.StrOpt('silent_own_action', default='move',
               choices=[('move', 'Fenix moves the instance itself (live '
                                 'or cold, as for a silent manager of '
                                 'any other instance)'),
                        ('skip_host', 'the host is left for later, then '
                                      'skipped, as a NACK under '
                                      'nack_policy skip_host')],
               help='What happens to an instance whose constraint says '
                    'OWN_ACTION when its manager does not answer the '
                    'event that asks it to act: nobody would move it, so '
                    'waiting own_action_timeout would only fail the '
                    'session.'),
    cfg.IntOpt('migration_retries', default=2, min=0,
               help='How many times a failed migration is retried before '
                    'it is reported as failed.'),
    cfg.IntOpt('migration_timeout', default=600, min=1,
               help='Seconds one migration may take.'),
    cfg.IntOpt('own_action_timeout', default=600, min=1,
               help='Seconds Fenix waits for a manager to move or remove '
                    'an instance it chose OWN_ACTION for.'),
    cfg.FloatOpt('nova_poll_interval', default=1.0, min=0.01,
                 help='Seconds between reads of Nova while a migration or '
                      'an own action is in progress.'),
    cfg.FloatOpt('nova_poll_max_interval', default=10.0, min=0.01,
                 help='Longest wait between two reads of a migration: the '
                      'wait grows from nova_poll_interval to a tenth of '
                      'the time the migration has taken so far, up to '
                      'this.'),
    cfg.ListOpt('project_event_types',
                default=['maintenance.planned', 'maintenance.scheduled'],
                help='Event types of the project event. maintenance.planned '
                     'is the documented name; existing managers subscribe to '
                     'maintenance.scheduled.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
