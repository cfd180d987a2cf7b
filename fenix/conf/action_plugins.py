# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""[action_plugins]: the ``ansible`` and ``script`` action plug-ins.

Both run a program of the operator's (a playbook, an executable) on the
engine's host: only files under the directories named here are run, or a
file of the session's downloads when ``[download] allow_plugin_code`` is
set and it came from an https URL with its sha256 (see
doc/source/plugins.rst and doc/source/playbooks.rst).
"""
from oslo_config import cfg

GROUP = cfg.OptGroup('action_plugins', title='Ansible and script action '
                                             'plug-ins')

OPTS = [
    cfg.ListOpt('playbook_directories', default=['/etc/fenix/playbooks'],
                help='Directories the ansible plug-in runs playbooks from '
                     '(a playbook path of a session must resolve under one '
                     'of them).'),
    cfg.ListOpt('script_directories', default=['/etc/fenix/scripts'],
                help='Directories the script plug-in runs executables from '
                     '(a script path of a session must resolve under one '
                     'of them).'),
    cfg.StrOpt('ansible_playbook', default='',
               help='The ansible-playbook program. Empty: the one installed '
                    'beside the Python running Fenix, else the first on '
                    'PATH.'),
    cfg.IntOpt('default_timeout', default=3600, min=1,
               help='Seconds a playbook or a script may run when its '
                    'plug-in metadata gives no timeout; it is then killed '
                    'and the host fails.'),
    cfg.IntOpt('max_timeout', default=6 * 3600, min=1,
               help='Largest timeout a session may ask for, in seconds.'),
    cfg.IntOpt('output_tail_lines', default=20, min=1,
               help='Lines of the end of the output kept on the plug-in '
                    'run (shown in the session detail); the whole output '
                    'is kept in the session\'s log directory.'),
    cfg.StrOpt('ssh', default='ssh',
               help='The ssh program the script plug-in runs a script on '
                    'a host with (metadata "remote": true).'),
    cfg.StrOpt('ssh_user', default='',
               help='User the script plug-in logs in as over SSH (empty: '
                    'ssh\'s own default).'),
    cfg.StrOpt('ssh_key_file', default='',
               help='Private key the script plug-in logs in with over SSH '
                    '(empty: ssh\'s own default).'),
    cfg.IntOpt('ssh_timeout', default=60, min=1,
               help='Seconds the agent plug-in waits for ssh to start the '
                    'agent on a host.'),
    cfg.StrOpt('agent_command', default='',
               help='The host agent the agent plug-in starts on the '
                    'engine\'s host. Empty: fenix-host-agent beside the '
                    'Python running Fenix, else the first on PATH (the '
                    'distribution fenix-tools installs it).'),
    cfg.StrOpt('remote_agent_command', default='fenix-host-agent',
               help='The host agent the agent plug-in starts on a host '
                    'over SSH (metadata "remote": true); on the host, '
                    '`pip install --no-deps fenix-tools requests` '
                    'installs it.'),
    cfg.ListOpt('ssh_options', default=['BatchMode=yes',
                                        'StrictHostKeyChecking=yes'],
                help='ssh -o options of the script plug-in.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
