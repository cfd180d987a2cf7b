# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The ``agent`` action plug-in: hands the work to an agent on the host.

``run()`` starts the reference agent (``fenix-host-agent``, see
tools/fenix_tools/host_agent.py) with the run's :attr:`report_url` and
:attr:`attempt`, detached, and returns ASYNC: the agent runs the command
and reports DONE or FAILED through ``PUT /v1/action_plugin_run/...``
naming its attempt. The plug-in declares its hand-over (``hands_over``):
an engine that restarts hands the same attempt over again, and the agent
takes an attempt it already has as a re-delivery.

Metadata:

* ``command`` (required): a list, the program first; the program must
  lie under ``[action_plugins] script_directories`` (a path on the host
  when ``remote``);
* ``remote``: start the agent on the host over SSH (as the script
  plug-in does: ``[action_plugins] ssh*``; the agent there is
  ``[action_plugins] remote_agent_command``), else on the engine's host;
* ``timeout``: seconds the command may run and the engine waits for the
  report; ``idempotent``: see
  :class:`fenix.workflow.actions.process.ProgramAction`.
"""
import os
import shlex
import shutil
import subprocess
import sys

from oslo_config import cfg

from fenix.common import exception
from fenix.workflow.actions import base
from fenix.workflow.actions import process

CONF = cfg.CONF

AGENT = 'fenix-host-agent'


def agent_command():
    """The local agent program."""
    if CONF.action_plugins.agent_command:
        return shlex.split(CONF.action_plugins.agent_command)
    beside = os.path.join(os.path.dirname(sys.executable), AGENT)
    if os.access(beside, os.X_OK):
        return [beside]
    return [shutil.which(AGENT) or AGENT]


class AgentAction(process.ProgramAction):

    what = 'agent'
    hands_over = True
    # The job on the host has no check mode of Fenix's.
    supports_check = False

    def __init__(self, session, plugin, host=None, download_dir=None):
        super().__init__(session, plugin, host, download_dir)
        try:
            self.timeout = self.run_timeout
        except exception.WorkflowError:
            pass

    @property
    def remote(self):
        return process._flag(self.metadata.get('remote'))

    def command(self):
        command = self.metadata.get('command')
        if isinstance(command, str):
            command = [command]
        if not command or not isinstance(command, list):
            raise exception.WorkflowError(reason='no command given')
        command = [str(c) for c in command]
        directories = CONF.action_plugins.script_directories
        if self.remote:
            program = os.path.normpath(command[0])
            if not os.path.isabs(program) or not any(
                    program.startswith(os.path.normpath(d) + os.sep)
                    for d in directories):
                raise exception.WorkflowError(
                    reason='command %s is not under the allowed '
                           'directories (%s)' % (command[0],
                                                 ', '.join(directories)))
            return [program] + command[1:]
        return [process.operator_file(command[0], directories,
                                      self.download_dir, 'command')
                ] + command[1:]

    def agent_args(self):
        return ['--report-url', self.report_url, '--attempt',
                str(self.attempt), '--timeout', str(self.timeout), '--'
                ] + self.command()

    def run(self):
        log_path = self.log_path()
        if self.remote:
            remote = ' '.join(shlex.quote(a) for a in shlex.split(
                CONF.action_plugins.remote_agent_command) +
                self.agent_args())
            argv = process.ssh_argv(
                self.hostname, self.metadata,
                'nohup %s >/dev/null 2>&1 </dev/null &' % remote)
            outcome = process.run_program(argv, {}, log_path,
                                          CONF.action_plugins.ssh_timeout)
            if outcome.returncode != 0:
                return base.Result(False, 'the agent was not started on '
                                   '%s: %s' % (self.hostname,
                                               outcome.tail[-500:]))
            return base.ASYNC
        argv = agent_command() + self.agent_args()
        with open(log_path, 'ab') as log:
            # Detached: it outlives the engine, which may restart while
            # the agent works; its report is waited for again then.
            try:
                subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL,
                                 env=dict(os.environ, **self.session_env()),
                                 start_new_session=True)
            except FileNotFoundError:
                # The service's distribution (fenix) does not carry the
                # agent: fenix-tools does.
                return base.Result(
                    False, 'the host agent %s is not installed on the '
                    'engine\'s host: install the distribution fenix-tools '
                    'beside Fenix or set [action_plugins] agent_command'
                    % argv[0])
        return base.ASYNC
