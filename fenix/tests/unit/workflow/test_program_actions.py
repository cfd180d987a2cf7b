# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The ``ansible`` and ``script`` action plug-ins, really run.

Each test runs a real ansible-playbook (the local connection, a tiny
playbook written by the test) or a real script through
BaseWorkflow.run_action_plugins on a real DB, and looks at what the
program did (files it wrote), at the run's row and at the log.
"""
import json
import os
import stat
import subprocess
import textwrap
import threading
from unittest import mock

from fenix.common import exception
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.engine import runner as session_runner
from fenix.engine import views
from fenix.tests.unit.workflow import fakes
from fenix.workflow.actions import agent
from fenix.workflow.actions import ansible
from fenix.workflow.actions import base as action_base
from fenix.workflow.actions import dummy as dummy_action
from fenix.workflow.actions import process
from fenix.workflow.actions import script
from fenix.workflow import base as wf_base

# Writes what it was given to {{ out }}/<host>.json, once (idempotent:
# a second run changes nothing), unless the host is in fail_hosts.
UPGRADE = """\
- hosts: all
  gather_facts: false
  vars:
    fenix_idempotent: {idempotent}
  tasks:
    - name: fail when asked
      fail:
        msg: refusing {{{{ fenix_host }}}}
      when: fenix_host in (fail_hosts | default([]))
    - name: record the upgrade
      copy:
        dest: "{{{{ out }}}}/{{{{ fenix_host }}}}.json"
        content: "{{{{ {{'host': fenix_host, 'version': openstack_version,
                   'attempt': fenix_attempt,
                   'type': fenix_host_type}} | to_json }}}}"
"""

SLOW = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: started
      copy:
        dest: "{{ out }}/started"
        content: "yes"
    - name: too slow
      command: sleep 60
"""

ELSEWHERE = """\
- hosts: some-other-host
  gather_facts: false
  tasks:
    - debug:
        msg: not here
"""

# Waits (at most a minute) until the test creates {{ out }}/go, then
# writes {{ out }}/finished.
GATED = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: wait for the test
      wait_for:
        path: "{{ out }}/go"
        timeout: 60
    - name: finished
      copy:
        dest: "{{ out }}/finished"
        content: "yes"
"""

# Fails on its first try on a host and succeeds on the next (a flaky
# step that a retry of an idempotent playbook gets past).
FLAKY = """\
- hosts: all
  gather_facts: false
  vars:
    fenix_idempotent: true
  tasks:
    - stat:
        path: "{{ out }}/tried"
      register: tried
    - copy:
        dest: "{{ out }}/tried"
        content: "once"
    - fail:
        msg: first try fails
      when: not tried.stat.exists
"""


class ProgramActionTestCase(fakes.FakeCloudTestCase):

    plugin = None

    def setUp(self):
        super().setUp()
        self.books = os.path.join(self.tmpdir, 'books')
        self.out = os.path.join(self.tmpdir, 'out')
        os.makedirs(self.books)
        os.makedirs(self.out)
        self.config(group='action_plugins',
                    playbook_directories=[self.books],
                    script_directories=[self.books])

    def session(self, meta, options=None, hosts=('c1',)):
        self.sid = db_api.session_create({
            'state': st.START_MAINTENANCE,
            'meta': {'openstack_version': '2026.2'},
            'options': options or {},
            'hosts': [{'hostname': h, 'type': st.COMPUTE,
                       'state': st.HOST_PENDING} for h in hosts],
            'action_plugins': [{'plugin': self.plugin,
                                'type': st.PLUGIN_HOST, 'meta': meta}],
        })['session_id']
        cls = {'ansible': ansible.AnsibleAction,
               'script': script.ScriptAction,
               'agent': agent.AgentAction}[self.plugin]
        patcher = mock.patch('fenix.workflow.plugins.action_class',
                             return_value=cls)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.runner = session_runner.SessionRunner(self.sid, self.notifier)
        self.wf = wf_base.BaseWorkflow(self.sid, self.runner, self.notifier)

    def write(self, name, text, mode=0o644):
        path = os.path.join(self.books, name)
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def run_on(self, hostname='c1'):
        self.wf.run_action_plugins(st.PLUGIN_HOST,
                                   db_api.host_get(self.sid, hostname))

    def row(self, hostname='c1'):
        return db_api.action_runs_get(self.sid, plugin=self.plugin,
                                      hostname=hostname)[0]

    def interrupted(self):
        """The row an engine killed during attempt 1 leaves behind."""
        db_api.action_run_start(self.sid, self.plugin, st.PLUGIN_HOST, 'c1')

    def logs(self):
        directory = os.path.join(wf_base.session_download_dir(self.sid),
                                 'logs')
        if not os.path.isdir(directory):
            return []
        return sorted(n for n in os.listdir(directory) if n.endswith('.log'))


class TestAnsible(ProgramActionTestCase):

    plugin = 'ansible'

    def meta(self, playbook='upgrade.yml', **kw):
        meta = {'playbook': playbook, 'connection': 'local',
                'extra_vars': {'out': self.out}, 'timeout': 120}
        meta.update(kw)
        return meta

    def upgrade_book(self, idempotent=False):
        return self.write('upgrade.yml', UPGRADE.format(
            idempotent='true' if idempotent else 'false'))

    def upgraded(self, hostname='c1'):
        path = os.path.join(self.out, hostname + '.json')
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def test_play_runs_on_the_host_with_the_session_metadata(self):
        self.upgrade_book()
        self.session(self.meta())
        self.run_on()
        self.assertEqual({'host': 'c1', 'version': '2026.2', 'attempt': 1,
                          'type': st.COMPUTE}, self.upgraded())
        row = self.row()
        self.assertEqual(st.RUN_DONE, row['state'])
        self.assertEqual('playbook upgrade.yml: ok=1 changed=1 failed=0 '
                         'unreachable=0', row['message'])
        result = row['result']
        self.assertEqual((1, 0, 0, False, False),
                         (result['changed'], result['failed'],
                          result['returncode'], result['timed_out'],
                          result['check']))
        self.assertEqual(1, result['hosts']['c1']['changed'])
        self.assertIn('PLAY RECAP', result['tail'])
        # The whole log is kept under the session's directory.
        self.assertEqual(['ansible-host-c1-attempt1.log'], self.logs())
        with open(result['log']) as f:
            self.assertIn('TASK [record the upgrade]', f.read())
        # /detail shows it.
        self.assertEqual(result, views.action_run(row)['result'])

    def test_failed_play_fails_the_host(self):
        self.upgrade_book()
        self.session(self.meta(extra_vars={'out': self.out,
                                           'fail_hosts': ['c1']}))
        e = self.assertRaises(exception.WorkflowError, self.run_on)
        self.assertIn('host plug-in ansible failed on c1: playbook '
                      'upgrade.yml failed (exit 2): ok=0 changed=0 '
                      'failed=1', str(e))
        row = self.row()
        self.assertEqual((st.RUN_FAILED, 1), (row['state'],
                                              row['result']['failed']))
        self.assertIn('refusing c1', row['result']['tail'])
        self.assertIsNone(self.upgraded())

    def test_timed_out_play_is_killed_and_fails_the_host(self):
        self.write('slow.yml', SLOW)
        self.session(self.meta('slow.yml', timeout=3))
        e = self.assertRaises(exception.WorkflowError, self.run_on)
        self.assertIn('playbook slow.yml timed out after 3.0 seconds',
                      str(e))
        self.assertTrue(self.row()['result']['timed_out'])
        with open(self.row()['result']['log']) as f:
            self.assertIn('killed after 3.0 seconds', f.read())

    def test_dry_run_plays_in_check_mode(self):
        self.upgrade_book()
        self.session(self.meta(), options={'dry_run': True})
        self.run_on()
        row = self.row()
        self.assertEqual(st.RUN_DONE, row['state'])
        self.assertTrue(row['result']['check'])
        self.assertIn('(check mode)', row['message'])
        # Check mode says what would change and changes nothing.
        self.assertEqual(1, row['result']['changed'])
        self.assertIsNone(self.upgraded())

    def test_check_metadata_forces_check_mode(self):
        self.upgrade_book()
        self.session(self.meta(check=True))
        self.run_on()
        self.assertTrue(self.row()['result']['check'])
        self.assertIsNone(self.upgraded())

    def test_play_that_misses_the_host_is_not_a_success(self):
        self.write('elsewhere.yml', ELSEWHERE)
        self.session(self.meta('elsewhere.yml'))
        e = self.assertRaises(exception.WorkflowError, self.run_on)
        self.assertIn('did not run on c1', str(e))

    def test_playbook_outside_the_allowed_directories_is_not_run(self):
        other = os.path.join(self.tmpdir, 'other.yml')
        with open(other, 'w') as f:
            f.write(UPGRADE.format(idempotent='false'))
        self.session(self.meta(other))
        e = self.assertRaises(exception.WorkflowError, self.run_on)
        self.assertIn('is not under the allowed directories', str(e))
        self.assertEqual([], self.logs())

    def test_idempotent_from_the_playbook_or_the_metadata(self):
        self.upgrade_book(idempotent=False)
        self.session(self.meta())
        self.assertFalse(self.wf._new_action(
            db_api.action_plugins_get(self.sid)[0], None).idempotent)
        self.upgrade_book(idempotent=True)
        self.assertTrue(self.wf._new_action(
            db_api.action_plugins_get(self.sid)[0], None).idempotent)
        self.upgrade_book(idempotent=False)
        self.session(self.meta(idempotent=True))
        self.assertTrue(self.wf._new_action(
            db_api.action_plugins_get(self.sid)[0], None).idempotent)

    def test_continue_after_a_failure_runs_the_play_again(self):
        self.upgrade_book()
        self.session(self.meta(extra_vars={'out': self.out,
                                           'fail_hosts': ['c1']}))
        self.assertRaises(exception.WorkflowError, self.run_on)
        # The admin fixed the cause (here: the play no longer fails) and
        # continues: a new attempt runs the play.
        self.write('upgrade.yml', UPGRADE.format(idempotent='false')
                   .replace('in (fail_hosts', 'in (no_hosts'))
        self.run_on()
        self.assertEqual((st.RUN_DONE, 2), (self.row()['state'],
                                            self.row()['attempt']))
        self.assertEqual(2, self.upgraded()['attempt'])
        self.assertEqual(['ansible-host-c1-attempt1.log',
                          'ansible-host-c1-attempt2.log'], self.logs())

    def test_retries_of_an_idempotent_playbook(self):
        self.write('flaky.yml', FLAKY)
        self.session(self.meta('flaky.yml', retries=1))
        self.run_on()
        row = self.row()
        self.assertEqual((st.RUN_DONE, 1, 2), (row['state'], row['attempt'],
                                               row['result']['tries']))

    def test_no_retry_of_a_playbook_not_idempotent(self):
        self.write('flaky.yml', FLAKY.replace('fenix_idempotent: true',
                                              'fenix_idempotent: false'))
        self.session(self.meta('flaky.yml', retries=3))
        self.assertRaises(exception.WorkflowError, self.run_on)
        self.assertEqual(1, self.row()['result']['tries'])
        self.assertEqual(['ansible-host-c1-attempt1.log'], self.logs())

    def test_engine_restart_does_not_play_twice(self):
        self.upgrade_book(idempotent=False)
        self.session(self.meta())
        self.interrupted()
        e = self.assertRaises(exception.WorkflowError, self.run_on)
        self.assertIn(wf_base.INTERRUPTED_NOT_REPEATABLE, str(e))
        self.assertIsNone(self.upgraded())
        self.assertEqual([], self.logs())

    def test_engine_restart_plays_an_idempotent_playbook_again(self):
        self.upgrade_book(idempotent=True)
        self.session(self.meta())
        self.interrupted()
        self.run_on()
        self.assertEqual((st.RUN_DONE, 2), (self.row()['state'],
                                            self.row()['attempt']))
        self.assertEqual(2, self.upgraded()['attempt'])

    def start_gated(self):
        """Run GATED on c1 in a thread; returns (thread, outcome) once
        ansible-playbook runs (outcome: 'done' or the exception)."""
        self.write('gated.yml', GATED)
        self.session(self.meta('gated.yml'))
        started = threading.Event()
        spied = process.ProgramAction._started

        def spy(action, proc):
            spied(action, proc)
            started.set()

        patcher = mock.patch.object(process.ProgramAction, '_started', spy)
        patcher.start()
        self.addCleanup(patcher.stop)
        outcome = {}

        def run():
            try:
                self.run_on()
                outcome['end'] = 'done'
            except Exception as e:  # noqa - the test looks at it
                outcome['end'] = e

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.assertTrue(started.wait(60), 'ansible-playbook did not start')
        return thread, outcome

    def test_delete_kills_a_running_play(self):
        thread, outcome = self.start_gated()
        # DELETE of the session: the engine stops its runner so.
        self.runner.stop(session_runner.STOP_DELETE)
        thread.join()
        # Not the host's failure: the session is stopped, as any wait is.
        self.assertIsInstance(outcome['end'], session_runner.SessionStopped)
        row = self.row()
        self.assertEqual((st.RUN_FAILED, 'playbook killed: the session is '
                                         'being deleted'),
                         (row['state'], row['message']))
        # Killed, not run to its end (nor timed out in wait_for).
        self.assertFalse(row['result']['timed_out'])
        self.assertNotEqual(0, row['result']['returncode'])
        self.assertFalse(os.path.exists(os.path.join(self.out, 'finished')))

    def test_engine_shutdown_lets_a_running_play_finish(self):
        thread, outcome = self.start_gated()
        self.runner.stop(session_runner.STOP_SHUTDOWN)
        with open(os.path.join(self.out, 'go'), 'w') as f:
            f.write('go')
        thread.join()
        self.assertEqual('done', outcome['end'])
        self.assertEqual(st.RUN_DONE, self.row()['state'])
        self.assertTrue(os.path.exists(os.path.join(self.out, 'finished')))

    def test_deleted_before_the_play_starts(self):
        self.upgrade_book()
        self.session(self.meta())
        self.runner.stop(session_runner.STOP_DELETE)
        self.assertRaises(session_runner.SessionStopped, self.run_on)
        self.assertEqual('playbook not started: the session is being '
                         'deleted', self.row()['message'])
        self.assertIsNone(self.upgraded())

    def test_parse_recap(self):
        text = textwrap.dedent("""\
            PLAY RECAP ****
            c1   : ok=3    changed=1    unreachable=0    failed=0    \
skipped=2    rescued=0    ignored=0
            c-2.example : ok=0 changed=0 unreachable=1 failed=0
            """)
        self.assertEqual(
            {'c1': {'ok': 3, 'changed': 1, 'unreachable': 0, 'failed': 0,
                    'skipped': 2, 'rescued': 0, 'ignored': 0},
             'c-2.example': {'ok': 0, 'changed': 0, 'unreachable': 1,
                             'failed': 0}},
            ansible.parse_recap(text))


class TestDryRunChecks(ProgramActionTestCase):
    """A dry run of a workflow plays the session's plug-ins that have a
    check mode, in it, and changes nothing."""

    plugin = 'ansible'

    def dry_run(self, workflow, meta, dummy=False, hosts=('c1', 'c2')):
        for name in hosts:
            self.cloud.add_host(name)
        self.cloud.add_server('a', hosts[0])
        plugins = [{'plugin': 'ansible', 'type': st.PLUGIN_HOST,
                    'meta': meta}]
        if dummy:
            plugins.append({'plugin': 'dummy', 'type': st.PLUGIN_POST,
                            'meta': {}})
        self.sid = db_api.session_create({
            'workflow': workflow, 'state': st.MAINTENANCE,
            'maintenance_at': timeutils.utcnow(),
            'meta': {'openstack_version': '2026.2'},
            'options': {'dry_run': True, 'requested_hosts': []},
            'action_plugins': plugins})['session_id']
        classes = {'ansible': ansible.AnsibleAction,
                   'dummy': dummy_action.DummyAction}
        patcher = mock.patch('fenix.workflow.plugins.action_class',
                             side_effect=lambda name, *a: classes[name])
        patcher.start()
        self.addCleanup(patcher.stop)
        session_runner.SessionRunner(self.sid, self.notifier)._run()
        return db_api.session_get(self.sid)

    def meta(self, **kw):
        meta = {'playbook': 'upgrade.yml', 'connection': 'local',
                'extra_vars': {'out': self.out}, 'timeout': 120}
        meta.update(kw)
        return meta

    def history(self):
        return [e['message'] for e in db_api.events_get(self.sid)]

    def test_dry_run_checks_each_host_and_changes_nothing(self):
        self.write('upgrade.yml', UPGRADE.format(idempotent='false'))
        for workflow in ('default', 'nfv'):
            # check: false does not make a dry run change anything.
            session = self.dry_run(workflow, self.meta(check=False),
                                   dummy=True)
            self.assertEqual(st.MAINTENANCE_DONE, session['state'])
            checks = session['plan']['dry_run']['plugin_checks']
            self.assertEqual(
                [('ansible', 'c1', True, True), ('ansible', 'c2', True, True),
                 ('dummy', None, False, None)],
                sorted((c['plugin'], c['host'], c['checked'], c['ok'])
                       for c in checks))
            runs = db_api.action_runs_get(self.sid, plugin='ansible')
            self.assertEqual([(True, 1, st.RUN_DONE)] * 2,
                             [(r['result']['check'], r['result']['changed'],
                               r['state']) for r in runs])
            # Nothing written, no host touched, the dummy not run.
            self.assertEqual([], os.listdir(self.out))
            self.assertEqual([], db_api.action_runs_get(self.sid,
                                                        plugin='dummy'))
            self.assertFalse([c for c in self.cloud.calls if c[0] in (
                'disable_compute', 'move', 'enable_compute')])
            self.assertIn('dry run: 2 plug-in run(s) in check mode, 0 '
                          'failed; not run (no check mode): dummy',
                          self.history())
            self.cloud.hosts.clear()
            self.cloud.servers_.clear()

    def test_failed_check_is_reported_and_the_dry_run_ends(self):
        self.write('upgrade.yml', UPGRADE.format(idempotent='false'))
        session = self.dry_run('default', self.meta(
            extra_vars={'out': self.out, 'fail_hosts': ['c2']}))
        self.assertEqual(st.MAINTENANCE_DONE, session['state'])
        checks = {c['host']: c for c in
                  session['plan']['dry_run']['plugin_checks']}
        self.assertEqual((True, False), (checks['c1']['ok'],
                                         checks['c2']['ok']))
        self.assertIn('failed (exit 2)', checks['c2']['message'])
        self.assertTrue([m for m in self.history() if m.startswith(
            'dry run: 2 plug-in run(s) in check mode, 1 failed; host '
            'ansible on c2: playbook upgrade.yml failed')], self.history())


SCRIPT = """\
#!/bin/sh
env | grep '^FENIX_' | sort > "$OUT/$FENIX_HOST.env"
echo "args: $*"
echo "upgrading $FENIX_HOST"
exit ${EXIT:-0}
"""


class TestScript(ProgramActionTestCase):

    plugin = 'script'

    def meta(self, name='upgrade.sh', **kw):
        meta = {'script': name, 'env': {'OUT': self.out}, 'timeout': 60,
                'args': ['--to', '2026.2']}
        meta.update(kw)
        return meta

    def script(self, text=SCRIPT, name='upgrade.sh'):
        return self.write(name, text, mode=stat.S_IRWXU)

    def env(self, hostname='c1'):
        path = os.path.join(self.out, hostname + '.env')
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return dict(line.rstrip('\n').split('=', 1) for line in f)

    def test_script_gets_the_host_and_the_session(self):
        self.script()
        self.session(self.meta())
        self.run_on()
        env = self.env()
        self.assertEqual(('c1', self.sid, st.COMPUTE, '1', '0'),
                         (env['FENIX_HOST'], env['FENIX_SESSION_ID'],
                          env['FENIX_HOST_TYPE'], env['FENIX_ATTEMPT'],
                          env['FENIX_CHECK']))
        self.assertEqual({'openstack_version': '2026.2'},
                         json.loads(env['FENIX_METADATA']))
        row = self.row()
        self.assertEqual((st.RUN_DONE, 'script upgrade.sh done', 0),
                         (row['state'], row['message'],
                          row['result']['returncode']))
        self.assertIn('args: --to 2026.2\nupgrading c1',
                      row['result']['tail'])
        self.assertEqual(['script-host-c1-attempt1.log'], self.logs())

    def test_failing_script_fails_the_host(self):
        self.script()
        self.session(self.meta(env={'OUT': self.out, 'EXIT': '3'}))
        e = self.assertRaises(exception.WorkflowError, self.run_on)
        self.assertIn('script upgrade.sh failed (exit 3): upgrading c1',
                      str(e))
        self.assertEqual((st.RUN_FAILED, 3), (self.row()['state'],
                                              self.row()['result'][
                                                  'returncode']))

    def test_timed_out_script_is_killed(self):
        self.script('#!/bin/sh\necho started\nsleep 60\necho late\n')
        self.session(self.meta(timeout=1))
        e = self.assertRaises(exception.WorkflowError, self.run_on)
        self.assertIn('script upgrade.sh timed out after 1.0 seconds',
                      str(e))
        result = self.row()['result']
        self.assertTrue(result['timed_out'])
        self.assertIn('started', result['tail'])
        self.assertNotIn('late', result['tail'])

    def test_dry_run_tells_the_script_check_mode(self):
        self.script()
        self.session(self.meta(), options={'dry_run': True})
        self.run_on()
        self.assertEqual('1', self.env()['FENIX_CHECK'])
        self.assertEqual('script upgrade.sh done (check mode)',
                         self.row()['message'])

    def test_not_executable_is_refused(self):
        self.write('upgrade.sh', SCRIPT, mode=0o644)
        self.session(self.meta())
        e = self.assertRaises(exception.WorkflowError, self.run_on)
        self.assertIn('is not executable', str(e))

    def test_engine_restart_does_not_run_it_twice(self):
        self.script()
        self.session(self.meta())
        self.interrupted()
        e = self.assertRaises(exception.WorkflowError, self.run_on)
        self.assertIn(wf_base.INTERRUPTED_NOT_REPEATABLE, str(e))
        self.assertIsNone(self.env())

    def test_engine_restart_runs_an_idempotent_script_again(self):
        self.script()
        self.session(self.meta(idempotent=True))
        self.interrupted()
        self.run_on()
        self.assertEqual('2', self.env()['FENIX_ATTEMPT'])

    def test_continue_after_a_failure_runs_it_again(self):
        self.script()
        self.session(self.meta(env={'OUT': self.out, 'EXIT': '1'}))
        self.assertRaises(exception.WorkflowError, self.run_on)
        self.script(SCRIPT.replace('${EXIT:-0}', '0'))
        self.run_on()
        self.assertEqual((st.RUN_DONE, 2), (self.row()['state'],
                                            self.row()['attempt']))

    def test_remote_script_goes_over_ssh(self):
        # A stand-in for the ssh program: records its arguments and runs
        # the remote command locally (the script comes on its stdin).
        fake_ssh = self.write('fake-ssh', textwrap.dedent("""\
            #!/bin/sh
            printf '%%s\\n' "$@" > %s/ssh-args
            for last; do :; done
            exec sh -c "$last"
            """ % self.out), mode=stat.S_IRWXU)
        self.config(group='action_plugins', ssh=fake_ssh, ssh_user='ops',
                    ssh_key_file='/etc/fenix/id_ed25519')
        self.script()
        self.session(self.meta(remote=True,
                               addresses={'c1': '192.0.2.7'}))
        self.run_on()
        with open(os.path.join(self.out, 'ssh-args')) as f:
            args = f.read().splitlines()
        self.assertEqual(['-o', 'BatchMode=yes', '-o',
                          'StrictHostKeyChecking=yes', '-i',
                          '/etc/fenix/id_ed25519', '-l', 'ops',
                          '192.0.2.7', '--'], args[:10])
        # The environment went over to the remote side.
        self.assertEqual('c1', self.env()['FENIX_HOST'])
        self.assertEqual('script upgrade.sh on c1 done',
                         self.row()['message'])


class TestAgent(ProgramActionTestCase):

    plugin = 'agent'

    def action(self, **meta):
        self.session(dict({'command': ['job.sh', '--fast'],
                           'timeout': 300}, **meta))
        plugin = db_api.action_plugins_get(self.sid)[0]
        action = agent.AgentAction(
            db_api.session_get(self.sid), plugin,
            db_api.host_get(self.sid, 'c1'),
            wf_base.session_download_dir(self.sid))
        action.attempt = 3
        action.report_url = 'http://fenix/v1/action_plugin_run/s/agent/c1'
        return action

    def test_declares_its_hand_over_and_waits_as_long_as_the_job(self):
        self.write('job.sh', '#!/bin/sh\n', mode=stat.S_IRWXU)
        action = self.action()
        self.assertTrue(action.hands_over)
        self.assertEqual(300, action.timeout)
        self.assertFalse(action.idempotent)

    def test_starts_the_agent_with_the_attempt_and_returns_async(self):
        job = self.write('job.sh', '#!/bin/sh\n', mode=stat.S_IRWXU)
        args_file = os.path.join(self.out, 'agent-args')
        fake_agent = self.write('fake-agent', textwrap.dedent("""\
            #!/bin/sh
            printf '%%s\\n' "$FENIX_HOST" "$@" > %s
            """ % args_file), mode=stat.S_IRWXU)
        self.config(group='action_plugins', agent_command=fake_agent)
        action = self.action()
        started, popen = [], subprocess.Popen

        def spy(*args, **kwargs):
            started.append(popen(*args, **kwargs))
            return started[-1]
        with mock.patch.object(agent.subprocess, 'Popen', side_effect=spy):
            self.assertEqual(action_base.ASYNC, action.run())
        # Detached: run() did not wait for it.
        self.assertTrue(started[0].wait(30) == 0)
        with open(args_file) as f:
            self.assertEqual(
                ['c1', '--report-url', action.report_url, '--attempt', '3',
                 '--timeout', '300.0', '--', job, '--fast'],
                f.read().splitlines())

    def test_agent_not_installed_fails_the_run_saying_so(self):
        self.write('job.sh', '#!/bin/sh\n', mode=stat.S_IRWXU)
        missing = os.path.join(self.out, 'no-such-agent')
        self.config(group='action_plugins', agent_command=missing)
        result = self.action().run()
        self.assertFalse(result.ok)
        self.assertIn('the host agent %s is not installed' % missing,
                      result.message)
        self.assertIn('fenix-tools', result.message)

    def test_command_outside_the_allowed_directories_is_refused(self):
        action = self.action(command=['/bin/rm', '-rf', '/'])
        e = self.assertRaises(exception.WorkflowError, action.run)
        self.assertIn('is not under the allowed directories', str(e))
        action = self.action(command=['/bin/rm'], remote=True)
        e = self.assertRaises(exception.WorkflowError, action.run)
        self.assertIn('is not under the allowed directories', str(e))
