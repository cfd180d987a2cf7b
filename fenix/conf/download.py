# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""[download]: software a session downloads before it starts."""
from oslo_config import cfg

GROUP = cfg.OptGroup('download', title='Session downloads')

OPTS = [
    cfg.StrOpt('directory', default='/var/lib/fenix/downloads',
               help='Directory under which each session gets its own '
                    'download directory.'),
    cfg.IntOpt('max_size', default=512 * 1024 * 1024, min=1,
               help='Largest file a session may download, in bytes.'),
    cfg.IntOpt('timeout', default=60, min=1,
               help='Seconds one download may stall.'),
    cfg.BoolOpt('allow_plugin_code', default=False,
                help='Load workflow and action plug-ins found in a '
                     'session\'s downloads. Off: such code is never run.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
