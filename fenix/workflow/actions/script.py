# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The ``script`` action plug-in: runs an executable of the operator's.

Metadata (see doc/source/plugins.rst):

* ``script`` (required): an absolute path under ``[action_plugins]
  script_directories``, or a file name looked up in the session's
  downloads and then in those directories;
* ``args``: a list of arguments;
* ``remote``: run it on the host over SSH (the system ``ssh`` with
  ``[action_plugins] ssh_user``, ``ssh_key_file`` and ``ssh_options``),
  reached at ``addresses[host]`` when given, else at its name: the script
  is sent on ssh's standard input to a temporary file on the host, run
  there and removed;
* ``timeout``, ``idempotent``, ``retries``, ``check``, ``env``: see
  :class:`fenix.workflow.actions.process.ProgramAction`.

The script gets the host and the session in its environment
(``FENIX_HOST``, ``FENIX_SESSION_ID``, ``FENIX_METADATA`` as JSON,
``FENIX_CHECK`` 1 in check mode, ...). Exit status 0 is success; any
other, or being killed at the time-out, fails the host.
"""
import os
import shlex

from oslo_config import cfg

from fenix.common import exception
from fenix.workflow.actions import base
from fenix.workflow.actions import process

CONF = cfg.CONF


class ScriptAction(process.ProgramAction):

    what = 'script'

    def script(self):
        path = process.operator_file(
            self.metadata.get('script'),
            CONF.action_plugins.script_directories, self.download_dir,
            'script')
        if not self.remote and not os.access(path, os.X_OK):
            raise exception.WorkflowError(reason='script %s is not '
                                                 'executable' % path)
        return path

    @property
    def remote(self):
        return process._flag(self.metadata.get('remote'))

    def args(self):
        args = self.metadata.get('args') or []
        if not isinstance(args, list):
            raise exception.WorkflowError(reason='args must be a list')
        return [str(a) for a in args]

    def ssh_argv(self, env):
        """ssh to the host, with a remote command that takes the script
        on its standard input and runs it with ``env``."""
        command = ('t=$(mktemp) && cat > "$t" && chmod 700 "$t" && '
                   'env %s "$t" %s; rc=$?; rm -f "$t"; exit $rc'
                   % (process.env_assignments(env),
                      ' '.join(shlex.quote(a) for a in self.args())))
        return process.ssh_argv(self.hostname, self.metadata, command)

    def run_once(self, tries):
        path = self.script()
        timeout = self.run_timeout
        env = self.session_env()
        if self.remote:
            argv, stdin, local_env = self.ssh_argv(env), path, {}
        else:
            argv, stdin, local_env = [path] + self.args(), None, env
        outcome = process.run_program(argv, local_env, self.log_path(tries),
                                      timeout, stdin_path=stdin,
                                      on_start=self._started)
        details = {
            'script': path, 'remote': self.remote, 'check': self.check_mode,
            'returncode': outcome.returncode,
            'timed_out': outcome.timed_out, 'seconds': outcome.seconds,
            'tail': outcome.tail, 'log': outcome.log_path,
        }
        name = os.path.basename(path)
        where = ' on %s' % self.hostname if self.remote else ''
        if outcome.timed_out:
            return base.Result(False, 'script %s%s timed out after %s '
                               'seconds' % (name, where, timeout), details)
        if outcome.returncode != 0:
            last = outcome.tail.splitlines()[-1] if outcome.tail else ''
            return base.Result(False, 'script %s%s failed (exit %s)%s' % (
                name, where, outcome.returncode,
                ': ' + last if last else ''), details)
        return base.Result(True, 'script %s%s done%s' % (
            name, where, ' (check mode)' if self.check_mode else ''),
            details)
