# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""[outbox]: how the engine sends the notifications it recorded.

Every notification is first written to the ``outbox`` table in the
transaction of the change that causes it and sent once that is committed;
the engine's dispatcher sends what was not and marks what was
(fenix/engine/outbox.py, doc/source/architecture.rst "The outbox").
"""
from oslo_config import cfg

GROUP = cfg.OptGroup(
    'outbox', title='Sending recorded notifications',
    help='Fenix records every notification in its database together with '
         'the change that causes it and sends it afterwards; a '
         'notification that cannot be sent is tried again, never '
         'dropped.')

OPTS = [
    cfg.IntOpt('batch_size', default=200, min=1,
               help='Recorded notifications the dispatcher reads from the '
                    'database at once (those not sent right after their '
                    'commit).'),
    cfg.FloatOpt('retry_interval', default=1.0, min=0.01,
                 help='Seconds before a notification that could not be '
                      'sent is tried again; doubled after every further '
                      'failure, up to max_retry_interval. Later '
                      'notifications of the same session wait for it '
                      '(their order is kept).'),
    cfg.FloatOpt('max_retry_interval', default=60.0, min=0.01,
                 help='Most seconds between two tries to send a '
                      'notification.'),
    cfg.IntOpt('send_retry', default=1, min=0,
               help='Connection retries the notification driver may make '
                    'within one try (oslo.messaging\'s "retry" argument, '
                    'used instead of [oslo_messaging_notifications] retry; '
                    'the fenix-http driver makes that many more POSTs). '
                    'The dispatcher tries again after retry_interval '
                    'anyway, so a small number keeps the engine\'s '
                    'threads from blocking on a broker that is down.'),
    cfg.IntOpt('delete_timeout', default=30, min=0,
               help='Seconds the delete of a session waits for its '
                    'notifications not sent yet to go out (they are '
                    'removed with the session). When they cannot be sent '
                    'in that time the delete is refused (409) and may be '
                    'repeated.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
