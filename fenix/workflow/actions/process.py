# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""What the ``ansible`` and ``script`` action plug-ins share.

* :func:`operator_file`: the program a session names (a playbook, a
  script), found under the directories the operator allows, or among the
  session's downloads when plug-in code from downloads is allowed;
* :class:`ProgramAction`: the metadata both read (``timeout``,
  ``idempotent``, ``retries``, ``check``, ``env``), the log of each attempt
  under the session's directory and :func:`run_program`, which runs a
  command in its own process group, kills the whole group at the
  time-out and keeps the end of its output.
"""
import collections
import json
import os
import re
import shlex
import signal
import subprocess
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging

from fenix.common import exception
from fenix.workflow.actions import base
from fenix.workflow import download

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# The directory of a session's logs, inside its download directory (so
# that it is removed with the session).
LOG_DIR = 'logs'

# Exit status of a program killed at its time-out.
TIMED_OUT = 'timed out'

Outcome = collections.namedtuple('Outcome',
                                 ['returncode', 'timed_out', 'tail',
                                  'log_path', 'seconds'])


def _under(path, directories):
    real = os.path.realpath(path)
    for directory in directories:
        top = os.path.realpath(directory)
        if real == top or real.startswith(top.rstrip(os.sep) + os.sep):
            return True
    return False


def operator_file(name, directories, download_dir, what):
    """The absolute path of the ``what`` (playbook, script) ``name``.

    An absolute path must resolve under one of ``directories``; a bare
    file name is looked up in the session's downloads first (taken only
    when ``[download] allow_plugin_code`` is set and the file came from
    an https URL with its sha256), then in each of ``directories``.
    Raises WorkflowError saying why nothing is run.
    """
    if not name or not isinstance(name, str):
        raise exception.WorkflowError(reason='no %s given' % what)
    if os.path.isabs(name):
        if not _under(name, directories):
            raise exception.WorkflowError(
                reason='%s %s is not under the allowed directories (%s)'
                % (what, name, ', '.join(directories) or 'none'))
        if not os.path.isfile(name):
            raise exception.WorkflowError(reason='%s %s not found'
                                          % (what, name))
        return os.path.realpath(name)
    if os.sep in name or name.startswith('.'):
        raise exception.WorkflowError(
            reason='%s %s: give an absolute path or a file name' % (what,
                                                                    name))
    if download_dir and os.path.isfile(os.path.join(download_dir, name)):
        if not CONF.download.allow_plugin_code or \
                not download.is_trusted_code(download_dir, name):
            raise exception.WorkflowError(
                reason='%s %s from the downloads is not run: it needs '
                       '[download] allow_plugin_code and an https URL with '
                       'a sha256' % (what, name))
        return os.path.join(download_dir, name)
    for directory in directories:
        path = os.path.join(directory, name)
        if os.path.isfile(path) and _under(path, directories):
            return os.path.realpath(path)
    raise exception.WorkflowError(reason='%s %s not found' % (what, name))


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass


def tail_of(path, lines):
    """The last ``lines`` lines of the file at ``path``."""
    keep = collections.deque(maxlen=lines)
    with open(path, 'r', errors='replace') as f:
        for line in f:
            keep.append(line.rstrip('\n'))
    return '\n'.join(keep)


def run_program(argv, env, log_path, timeout, cwd=None, stdin_path=None,
                on_start=None):
    """Run ``argv`` with ``env`` (added to the engine's environment), its
    output (stdout and stderr) appended to ``log_path`` and its input read
    from ``stdin_path`` (none when None); kill its process group after
    ``timeout`` seconds. ``on_start``: called with the Popen once the
    program runs (the caller may kill its group, see
    :meth:`ProgramAction.abort`). Returns an :class:`Outcome`."""
    full_env = dict(os.environ)
    full_env.update(env)
    started = time.monotonic()
    stdin = open(stdin_path, 'rb') if stdin_path else subprocess.DEVNULL
    with open(log_path, 'ab') as log:
        log.write(('$ %s\n' % ' '.join(argv)).encode())
        log.flush()
        try:
            proc = subprocess.Popen(argv, stdout=log,
                                    stderr=subprocess.STDOUT,
                                    stdin=stdin, env=full_env,
                                    cwd=cwd, start_new_session=True)
        except OSError as e:
            log.write(('cannot start: %s\n' % e).encode())
            if stdin_path:
                stdin.close()
            return Outcome(None, False, 'cannot start %s: %s' % (argv[0], e),
                           log_path, 0.0)
        if on_start is not None:
            on_start(proc)
        try:
            returncode, timed_out = proc.wait(timeout), False
        except subprocess.TimeoutExpired:
            # The program and whatever it started (its process group).
            _kill_group(proc)
            returncode, timed_out = proc.wait(), True
            log.write(('killed after %s seconds\n' % timeout).encode())
        finally:
            if stdin_path:
                stdin.close()
    return Outcome(returncode, timed_out,
                   tail_of(log_path, CONF.action_plugins.output_tail_lines),
                   log_path, round(time.monotonic() - started, 3))


def ssh_argv(hostname, metadata, command):
    """The system ssh to ``hostname`` (at ``metadata['addresses']
    [hostname]`` when given) running ``command`` there, with
    ``[action_plugins] ssh_user``, ``ssh_key_file`` and ``ssh_options``.
    """
    if not hostname:
        raise exception.WorkflowError(reason='running on a host over SSH '
                                             'needs a host')
    conf = CONF.action_plugins
    address = (metadata.get('addresses') or {}).get(hostname) or hostname
    argv = [conf.ssh]
    for option in conf.ssh_options:
        argv += ['-o', option]
    if conf.ssh_key_file:
        argv += ['-i', conf.ssh_key_file]
    if conf.ssh_user:
        argv += ['-l', conf.ssh_user]
    return argv + [address, '--', command]


def env_assignments(env):
    """``K=V ...`` of ``env``, quoted for a POSIX shell."""
    return ' '.join('%s=%s' % (k, shlex.quote(v))
                    for k, v in sorted(env.items()))


def _flag(value):
    if isinstance(value, str):
        return value.strip().lower() in ('1', 'true', 'yes', 'on')
    return bool(value)


class ProgramAction(base.ActionPlugin):
    """An action plug-in that runs a program of the operator's.

    Metadata both plug-ins read:

    * ``timeout``: seconds (default ``[action_plugins] default_timeout``,
      at most ``max_timeout``);
    * ``idempotent``: running it again on a host is harmless. Only then
      does an engine that restarted during the run start it again, and
      only then are ``retries`` made;
    * ``retries``: how many more times a failed run is started at once
      (idempotent only; an admin's continue or retry is another matter:
      it always starts the run again, as a new attempt);
    * ``check``: run in check mode (no change); the default in a dry run;
    * ``env``: extra environment variables (strings).
    """

    #: What the program is called in messages.
    what = 'program'

    supports_check = True

    def __init__(self, session, plugin, host=None, download_dir=None):
        super().__init__(session, plugin, host, download_dir)
        self.idempotent = _flag(self.metadata.get('idempotent'))
        if self.check_mode:
            # A check changes nothing: running it again is harmless.
            self.idempotent = True
        # The program running now (see abort()).
        self._lock = threading.Lock()
        self._proc = None
        self.aborted = False

    def _started(self, proc):
        """run_program's ``on_start``: note the program, and kill it at
        once when the session was deleted before it started."""
        with self._lock:
            self._proc = proc
            aborted = self.aborted
        if aborted:
            _kill_group(proc)

    def abort(self):
        """The session is being deleted: kill the program under way and
        everything it started (its process group); no further try."""
        with self._lock:
            self.aborted = True
            proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            LOG.warning('%s on %s: the session is being deleted; killing '
                        'it (process group %s)', self.what,
                        self.hostname or 'session', proc.pid)
            _kill_group(proc)

    @property
    def hostname(self):
        return (self.host or {}).get('hostname') or ''

    @property
    def run_timeout(self):
        value = self.metadata.get('timeout')
        if value in (None, ''):
            return CONF.action_plugins.default_timeout
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise exception.WorkflowError(
                reason='timeout must be a number of seconds, not %r'
                % (value,))
        if value <= 0:
            raise exception.WorkflowError(reason='timeout must be positive')
        return min(value, CONF.action_plugins.max_timeout)

    @property
    def check_mode(self):
        """A dry run always checks (whatever the metadata says); else the
        metadata's ``check``."""
        options = (self.session or {}).get('options') or {}
        if options.get('dry_run'):
            return True
        return _flag(self.metadata.get('check', False))

    @property
    def retries(self):
        if not self.idempotent:
            return 0
        try:
            return max(0, int(self.metadata.get('retries') or 0))
        except (TypeError, ValueError):
            return 0

    def log_path(self, tries=1):
        """The whole output of this attempt (and try): in the session's
        log directory, one file per plug-in, type, host and attempt."""
        directory = os.path.join(self.download_dir or '.', LOG_DIR)
        os.makedirs(directory, exist_ok=True)
        name = '%s-%s-%s-attempt%s%s.log' % (
            self.plugin.get('plugin'), self.plugin.get('type'),
            self.hostname or 'session', self.attempt or 0,
            '' if tries == 1 else '-try%d' % tries)
        return os.path.join(directory, re.sub(r'[^\w.-]', '_', name))

    def session_env(self):
        """What every program gets in its environment."""
        session = self.session or {}
        env = {
            'FENIX_SESSION_ID': session.get('session_id') or '',
            'FENIX_HOST': self.hostname,
            'FENIX_HOST_TYPE': (self.host or {}).get('type') or '',
            'FENIX_PLUGIN': self.plugin.get('plugin') or '',
            'FENIX_PLUGIN_TYPE': self.plugin.get('type') or '',
            'FENIX_ATTEMPT': str(self.attempt or ''),
            'FENIX_CHECK': '1' if self.check_mode else '0',
            'FENIX_METADATA': json.dumps(session.get('meta') or {},
                                         sort_keys=True),
            'FENIX_PLUGIN_METADATA': json.dumps(self.metadata,
                                                sort_keys=True,
                                                default=str),
            'FENIX_DOWNLOAD_DIR': self.download_dir or '',
        }
        for key, value in (self.metadata.get('env') or {}).items():
            env[str(key)] = str(value)
        return env

    def run_once(self, tries):
        """Run the program once; returns a Result."""
        raise NotImplementedError()

    def run(self):
        tries = 1
        while True:
            if self.aborted:
                return base.Result(False, '%s not started: the session is '
                                          'being deleted' % self.what)
            result = self.run_once(tries)
            with self._lock:
                self._proc = None
            if self.aborted and not result.ok:
                result = base.Result(
                    False, '%s killed: the session is being deleted'
                    % self.what, result.details)
                break
            if result.ok or tries > self.retries:
                break
            LOG.warning('%s on %s failed (try %d): %s; trying again',
                        self.what, self.hostname or 'session', tries,
                        result.message)
            tries += 1
        if result.details is not None:
            result.details['tries'] = tries
        return result
