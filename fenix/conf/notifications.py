# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""[notification_http]: the fenix-http notification driver.

The all-in-one has no broker, so its notifications cannot reach an alarm
service over a message bus; set
[oslo_messaging_notifications] driver = fenix-http and this URL to have
every notification POSTed as JSON instead.
"""
from oslo_config import cfg

GROUP = cfg.OptGroup('notification_http', title='HTTP notification driver')

OPTS = [
    cfg.URIOpt('url', schemes=['http', 'https'],
               help='URL every notification is POSTed to.'),
    cfg.IntOpt('timeout', default=10, min=1,
               help='Seconds one POST may take.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
