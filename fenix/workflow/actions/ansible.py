# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The ``ansible`` action plug-in: runs a playbook against the host.

Metadata (see doc/source/playbooks.rst):

* ``playbook`` (required): an absolute path under ``[action_plugins]
  playbook_directories``, or a file name looked up in the session's
  downloads and then in those directories;
* ``inventory``: an inventory file (found as the playbook is), limited to
  the host; without it Fenix writes one with the host alone, named as Nova
  names the hypervisor, reached at ``addresses[host]`` when given (else
  its name), with ``connection`` (e.g. ``local``) and ``inventory_vars``;
  a ``pre``/``post`` run gets ``localhost`` with the local connection;
* ``extra_vars``: more variables; the session's ``metadata`` is passed
  both as ``fenix_metadata`` and key by key (``openstack_version``);
* ``timeout``, ``idempotent``, ``retries``, ``check``, ``env``: see
  :class:`fenix.workflow.actions.process.ProgramAction`; a playbook whose
  every play sets the variable ``fenix_idempotent: true`` is idempotent
  too.

The run fails when ansible-playbook fails or is killed at the time-out,
and when the PLAY RECAP does not show the host (the play did not run
there: a wrong ``hosts:`` pattern is not a success). The per-host counts
of the recap, the end of the output and the log's path are stored on the
run (``result``).
"""
import json
import os
import re
import shutil
import sys

from oslo_config import cfg
import yaml

from fenix.common import exception
from fenix.workflow.actions import base
from fenix.workflow.actions import process

CONF = cfg.CONF

# A line of the PLAY RECAP: "host : ok=2 changed=1 unreachable=0 ...".
RECAP_LINE = re.compile(r'^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$')
COUNT = re.compile(r'(\w+)=(\d+)')

# The play variable that declares a playbook safe to run again.
IDEMPOTENT_VAR = 'fenix_idempotent'


def ansible_playbook():
    """The ansible-playbook program to run."""
    if CONF.action_plugins.ansible_playbook:
        return CONF.action_plugins.ansible_playbook
    beside = os.path.join(os.path.dirname(sys.executable),
                          'ansible-playbook')
    if os.access(beside, os.X_OK):
        return beside
    return shutil.which('ansible-playbook') or 'ansible-playbook'


def parse_recap(text):
    """{host: {ok, changed, unreachable, failed, skipped, ...}} of the
    PLAY RECAP in ansible-playbook's output (the last one wins)."""
    hosts, in_recap = {}, False
    for line in text.splitlines():
        if line.startswith('PLAY RECAP'):
            in_recap, hosts = True, {}
            continue
        if not in_recap:
            continue
        match = RECAP_LINE.match(line.strip())
        if match:
            hosts[match.group(1)] = {k: int(v) for k, v in
                                     COUNT.findall(match.group(2))}
    return hosts


def declares_idempotent(path):
    """Does every play of the playbook at ``path`` set
    ``fenix_idempotent: true`` in its ``vars``?"""
    try:
        with open(path) as f:
            plays = yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
        return False
    if not isinstance(plays, list) or not plays:
        return False
    return all(isinstance(p, dict) and isinstance(p.get('vars'), dict) and
               p['vars'].get(IDEMPOTENT_VAR) is True for p in plays)


class AnsibleAction(process.ProgramAction):

    what = 'playbook'

    def __init__(self, session, plugin, host=None, download_dir=None):
        super().__init__(session, plugin, host, download_dir)
        if not self.idempotent:
            try:
                self.idempotent = declares_idempotent(self.playbook())
            except exception.WorkflowError:
                self.idempotent = False

    def _find(self, name, what):
        return process.operator_file(
            name, CONF.action_plugins.playbook_directories,
            self.download_dir, what)

    def playbook(self):
        return self._find(self.metadata.get('playbook'), 'playbook')

    @property
    def target(self):
        """The inventory name of the host the play runs on."""
        return self.hostname or 'localhost'

    def _inventory(self, path):
        """The inventory argument: the operator's, or one written for
        this host to ``path``."""
        if self.metadata.get('inventory'):
            return self._find(self.metadata['inventory'], 'inventory')
        host_vars = dict(self.metadata.get('inventory_vars') or {})
        if self.hostname:
            address = (self.metadata.get('addresses') or {}).get(
                self.hostname)
            if address:
                host_vars['ansible_host'] = address
            if self.metadata.get('connection'):
                host_vars['ansible_connection'] = \
                    self.metadata['connection']
        else:
            host_vars.setdefault('ansible_connection', 'local')
        if host_vars.get('ansible_connection') == 'local':
            host_vars.setdefault('ansible_python_interpreter',
                                 sys.executable)
        with open(path, 'w') as f:
            json.dump({'all': {'hosts': {self.target: host_vars}}}, f,
                      indent=1, sort_keys=True, default=str)
        return path

    def extra_vars(self):
        """The variables every playbook gets (doc/source/playbooks.rst)."""
        session = self.session or {}
        meta = session.get('meta') or {}
        values = {k: v for k, v in meta.items()
                  if isinstance(k, str) and k.isidentifier()}
        values.update(self.metadata.get('extra_vars') or {})
        values.update({
            'fenix_session_id': session.get('session_id'),
            'fenix_host': self.hostname,
            'fenix_host_type': (self.host or {}).get('type'),
            'fenix_plugin_type': self.plugin.get('type'),
            'fenix_attempt': self.attempt,
            'fenix_metadata': meta,
            'fenix_check_mode': self.check_mode,
            'fenix_download_dir': self.download_dir,
        })
        return values

    def run_once(self, tries):
        playbook = self.playbook()
        timeout = self.run_timeout
        log_path = self.log_path(tries)
        stem = log_path[:-len('.log')]
        inventory = self._inventory(stem + '.inventory.json')
        with open(stem + '.vars.json', 'w') as f:
            json.dump(self.extra_vars(), f, sort_keys=True, default=str)
        argv = [ansible_playbook(), '-i', inventory, '--limit', self.target,
                '-e', '@' + stem + '.vars.json', playbook]
        if self.check_mode:
            argv.append('--check')
        env = self.session_env()
        env.update({'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_FORCE_COLOR': '0',
                    'ANSIBLE_RETRY_FILES_ENABLED': '0',
                    'ANSIBLE_STDOUT_CALLBACK': 'default',
                    'PYTHONUNBUFFERED': '1'})
        outcome = process.run_program(argv, env, log_path, timeout,
                                      cwd=os.path.dirname(playbook),
                                      on_start=self._started)
        with open(log_path, errors='replace') as f:
            hosts = parse_recap(f.read())
        return self._result(playbook, outcome, hosts, timeout)

    def _result(self, playbook, outcome, hosts, timeout):
        mine = hosts.get(self.target)
        details = {
            'playbook': playbook, 'check': self.check_mode,
            'returncode': outcome.returncode,
            'timed_out': outcome.timed_out, 'seconds': outcome.seconds,
            'hosts': hosts, 'tail': outcome.tail, 'log': outcome.log_path,
            'changed': (mine or {}).get('changed'),
            'failed': (mine or {}).get('failed'),
        }
        counts = ('ok=%(ok)s changed=%(changed)s failed=%(failed)s '
                  'unreachable=%(unreachable)s' % dict(
                      {'ok': 0, 'changed': 0, 'failed': 0,
                       'unreachable': 0}, **mine)) if mine else ''
        check = ' (check mode)' if self.check_mode else ''
        if outcome.timed_out:
            return base.Result(False, 'playbook %s timed out after %s '
                               'seconds%s' % (os.path.basename(playbook),
                                              timeout, check), details)
        if outcome.returncode != 0:
            return base.Result(False, 'playbook %s failed (exit %s)%s%s' % (
                os.path.basename(playbook), outcome.returncode,
                ': ' + counts if counts else
                ': ' + outcome.tail.splitlines()[-1]
                if outcome.tail else '', check), details)
        if mine is None:
            return base.Result(False, 'playbook %s did not run on %s (no '
                               'PLAY RECAP line for it)%s' % (
                                   os.path.basename(playbook), self.target,
                                   check), details)
        return base.Result(True, 'playbook %s: %s%s' % (
            os.path.basename(playbook), counts, check), details)
