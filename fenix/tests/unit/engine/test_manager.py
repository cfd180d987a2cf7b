# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The engine manager and session runner, in process, on a real DB."""
import datetime
import hashlib
import time
import uuid

from fenix.common import context
from fenix.common import exception
from fenix.common import notifier
from fenix.common import rpc
from fenix.common import states as st
from fenix.db import api as db_api
from fenix.engine import manager
from fenix.engine import rpcapi
from fenix.engine import service
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.tests import outbox_fixture
from fenix.tests.unit.workflow import local_servers

PROJECT = 'p' * 32


class FakeNotifier(outbox_fixture.InlineNotifier):
    """The real notifier, sent at once: ``sent`` lists (kind, ...) of the
    messages sent, a project event once (not once per event type)."""

    def __init__(self):
        super().__init__()
        self.sent = []

    def deliver(self, row):
        p = row['payload']
        if row['event_type'] == notifier.HOST_EVENT_TYPE:
            self.sent.append(('host', p['host'], p['state']))
        elif row['event_type'] == notifier.SESSION_EVENT_TYPE:
            self.sent.append(('session', p['state'], p['percent_done']))
        elif row['event_type'] == \
                base.CONF.workflow.project_event_types[0]:
            self.sent.append(('project', p['project_id'], p['state'], p))


def wait_for(predicate, timeout=30, what='condition'):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for %s' % what)
        time.sleep(0.01)


class EngineTestCase(base.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database(self.tmpdir))
        self.config(group='download', directory=self.tmpdir + '/dl')
        self.ctx = context.RequestContext(user_id='admin',
                                          project_id='admin',
                                          roles=['admin'])
        self.notifier = FakeNotifier()
        self.manager = manager.EngineManager(self.notifier, host='e1')
        self.addCleanup(self.manager.stop_all, 10)

    def create(self, **values):
        body = {'workflow': 'wait_reply', 'hosts': ['h1', 'h2'],
                'metadata': {'projects': [PROJECT]}}
        body.update(values)
        return self.manager.create_session(self.ctx, body)['session_id']

    def state(self, sid):
        return db_api.session_get(sid)['state']

    def wait_state(self, sid, state):
        wait_for(lambda: self.state(sid) == state, what=state)

    def wait_event(self, sid, event):
        def sent():
            try:
                return db_api.project_get(sid, PROJECT)['event'] == event
            except exception.ProjectNotFound:
                return False
        wait_for(sent, what='event %s' % event)

    def reply(self, sid, state, **extra):
        body = dict(state=state, **extra)
        return self.manager.project_reply(self.ctx, sid, PROJECT, body)


class TestSessions(EngineTestCase):

    def test_unknown_plugins_are_refused(self):
        e = self.assertRaises(exception.UnknownPlugin, self.create,
                              workflow='nope')
        self.assertEqual(400, e.code)
        self.assertIn('nope', str(e))
        self.assertRaises(exception.UnknownPlugin, self.create,
                          actions=[{'plugin': 'nope', 'type': 'host'}])
        self.assertEqual([], db_api.session_list())

    def test_run_to_done(self):
        sid = self.create(actions=[{'plugin': 'dummy', 'type': 'host'}],
                          maintenance_at='2020-01-01 00:00:00')
        self.wait_event(sid, st.MAINTENANCE)
        project = db_api.project_get(sid, PROJECT)
        # The deadline is always in the future of the event.
        self.assertGreater(project['reply_at'], project['event_at'])
        self.reply(sid, 'ACK_MAINTENANCE', session_id=sid)
        self.wait_event(sid, st.MAINTENANCE_COMPLETE)
        self.reply(sid, 'ACK_MAINTENANCE_COMPLETE')
        self.wait_state(sid, st.MAINTENANCE_DONE)
        # The notification follows the state written to the DB.
        wait_for(lambda: ('session', st.MAINTENANCE_DONE, 100)
                 in self.notifier.sent, what='maintenance.session DONE')
        summary = self.manager.get_session(self.ctx, sid)
        self.assertEqual(100, summary['percent_done'])
        self.assertEqual(2, summary['hosts_done'])
        hosts = [n for n in self.notifier.sent if n[0] == 'host']
        self.assertEqual([('host', 'h1', 'IN_MAINTENANCE'),
                          ('host', 'h1', 'MAINTENANCE_COMPLETE'),
                          ('host', 'h2', 'IN_MAINTENANCE'),
                          ('host', 'h2', 'MAINTENANCE_COMPLETE')], hosts)
        sessions = [n[1] for n in self.notifier.sent if n[0] == 'session']
        self.assertEqual([st.MAINTENANCE, st.START_MAINTENANCE,
                          st.MAINTENANCE_COMPLETE, st.MAINTENANCE_DONE],
                         sessions)
        detail = self.manager.get_session_detail(self.ctx, sid)
        self.assertEqual({'DONE'}, {r['state'] for r in
                                    detail['action_plugin_runs']})
        # The steps it took, each done once.
        steps = detail['steps']
        self.assertEqual({st.STEP_DONE}, {s['state'] for s in steps})
        kinds = [(s['kind'], s['host']) for s in steps]
        for host in ('h1', 'h2'):
            for kind in (st.STEP_MAINTAIN_HOST, st.STEP_PLUGIN):
                self.assertEqual(1, kinds.count((kind, host)),
                                 (kind, host))
        self.assertEqual({1}, {s['attempt'] for s in steps
                               if s['kind'] in (st.STEP_MAINTAIN_HOST,
                                                st.STEP_PLUGIN)})
        self.assertTrue(all(isinstance(e['created_at'], str)
                            for e in detail['history']))

    def test_reply_to_the_wrong_event_is_a_conflict(self):
        sid = self.create()
        self.wait_event(sid, st.MAINTENANCE)
        e = self.assertRaises(exception.ReplyConflict, self.reply, sid,
                              'ACK_SCALE_IN')
        self.assertEqual(409, e.code)
        # Informational acks are accepted and change nothing.
        self.reply(sid, 'ACK_INSTANCE_ACTION_DONE')
        self.assertIsNone(db_api.project_get(sid, PROJECT)['reply'])
        e = self.assertRaises(exception.Invalid, self.reply, sid,
                              'ACK_MAINTENANCE',
                              instance_actions={'bogus': 'MIGRATE'})
        self.assertIn('bogus', str(e))

    def test_unknown_ids(self):
        self.assertRaises(exception.SessionNotFound,
                          self.manager.get_session, self.ctx, 'x')
        self.assertRaises(exception.SessionNotFound,
                          self.manager.delete_session, self.ctx, 'x')
        sid = self.create()
        self.assertRaises(exception.ProjectNotFound,
                          self.manager.project_reply, self.ctx, sid, 'q',
                          {'state': 'ACK_MAINTENANCE'})
        self.assertRaises(exception.InstanceNotFound,
                          self.manager.get_project_instance, self.ctx, sid,
                          PROJECT, 'i')

    def test_nack_fails_cleanly_and_put_continues(self):
        sid = self.create()
        self.wait_event(sid, st.MAINTENANCE)
        self.reply(sid, 'NACK_MAINTENANCE')
        self.wait_state(sid, st.MAINTENANCE_FAILED)
        session = db_api.session_get(sid)
        self.assertIn(PROJECT, session['error'])
        self.assertEqual(st.MAINTENANCE, session['failed_state'])
        e = self.assertRaises(exception.InvalidState,
                              self.manager.update_session, self.ctx, sid,
                              {'state': st.MAINTENANCE_DONE})
        self.assertEqual(400, e.code)
        self.manager.update_session(self.ctx, sid, {})
        self.wait_event(sid, st.MAINTENANCE)
        wait_for(lambda: db_api.project_get(sid, PROJECT)['reply'] is None)
        self.reply(sid, 'ACK_MAINTENANCE')
        self.wait_event(sid, st.MAINTENANCE_COMPLETE)
        self.reply(sid, 'ACK_MAINTENANCE_COMPLETE')
        self.wait_state(sid, st.MAINTENANCE_DONE)
        self.assertRaises(exception.SessionStateConflict,
                          self.manager.update_session, self.ctx, sid, {})

    def test_silent_project_fails_at_deadline(self):
        self.config(group='workflow', reply_window_maintenance=1)
        sid = self.create()
        self.wait_state(sid, st.MAINTENANCE_FAILED)
        self.assertIn('no reply', db_api.session_get(sid)['error'])
        decisions = [e['message'] for e in db_api.events_get(sid)
                     if e['kind'] == st.EVENT_DECISION]
        self.assertTrue(any('did not answer' in m for m in decisions))

    def test_delete_running_session(self):
        sid = self.create()
        self.wait_event(sid, st.MAINTENANCE)
        self.assertIsNone(self.manager.delete_session(self.ctx, sid))
        self.assertRaises(exception.SessionNotFound, db_api.session_get,
                          sid)
        self.assertEqual([], self.manager.running_sessions())

    def test_max_sessions(self):
        self.config(group='engine', max_sessions=1)
        self.create()
        e = self.assertRaises(exception.TooManySessions, self.create)
        self.assertEqual(409, e.code)

    def test_async_plugin_report(self):
        sid = self.create(actions=[{'plugin': 'dummy', 'type': 'pre',
                                    'metadata': {'async': True}}])
        self.wait_event(sid, st.MAINTENANCE)
        self.reply(sid, 'ACK_MAINTENANCE')
        wait_for(lambda: any(r['state'] == st.RUN_RUNNING
                             for r in db_api.action_runs_get(sid)))
        self.assertRaises(exception.ActionPluginRunNotFound,
                          self.manager.report_action_run, self.ctx, sid,
                          'other', '', {'state': 'DONE'})
        run = self.manager.report_action_run(
            self.ctx, sid, 'dummy', '', {'state': 'DONE', 'message': 'ok'})
        self.assertEqual('DONE', run['state'])
        self.wait_event(sid, st.MAINTENANCE_COMPLETE)
        self.assertRaises(exception.Conflict, self.manager.report_action_run,
                          self.ctx, sid, 'dummy', '', {'state': 'FAILED'})

    def test_failed_plugin_fails_session(self):
        sid = self.create(actions=[{'plugin': 'dummy', 'type': 'host',
                                    'metadata': {'fail_on': ['h2']}}])
        self.wait_event(sid, st.MAINTENANCE)
        self.reply(sid, 'ACK_MAINTENANCE')
        self.wait_state(sid, st.MAINTENANCE_FAILED)
        error = db_api.session_get(sid)['error']
        self.assertIn('dummy', error)
        self.assertIn('h2', error)
        hosts = {h['hostname']: h['maintained']
                 for h in db_api.hosts_get(sid)}
        self.assertEqual({'h1': True, 'h2': False}, hosts)

    def test_constraints_round_trip(self):
        group = str(uuid.uuid4())
        self.manager.put_instance_group_constraint(self.ctx, group, {
            'project_id': PROJECT, 'group_name': 'ha',
            'anti_affinity_group': True, 'max_impacted_members': 1})
        self.assertEqual('ha', self.manager.get_instance_group_constraint(
            self.ctx, group)['group_name'])
        self.assertEqual(1, len(self.manager.list_instance_group_constraints(
            self.ctx, project_id=PROJECT)))
        self.manager.delete_instance_group_constraint(self.ctx, group)
        self.assertRaises(exception.InstanceGroupNotFound,
                          self.manager.get_instance_group_constraint,
                          self.ctx, group)

    def test_instance_joins_only_a_group_of_its_project(self):
        other = 'other-project'
        group = str(uuid.uuid4())
        self.manager.put_instance_group_constraint(self.ctx, group, {
            'project_id': PROJECT, 'group_name': 'ha'})
        # Another project's instance may not join it: 409, nothing stored.
        e = self.assertRaises(
            exception.GroupOfAnotherProject,
            self.manager.put_instance_constraint, self.ctx, 'i-other',
            {'project_id': other, 'group_id': group})
        self.assertEqual(409, e.code)
        self.assertIn('belongs to another project', str(e))
        self.assertRaises(exception.InstanceConstraintNotFound,
                          self.manager.get_instance_constraint, self.ctx,
                          'i-other')
        # Nor by an update that keeps the stored group and names no group.
        self.manager.put_instance_constraint(self.ctx, 'i-own', {
            'project_id': PROJECT, 'group_id': group})
        self.assertRaises(exception.GroupOfAnotherProject,
                          self.manager.put_instance_constraint, self.ctx,
                          'i-own', {'project_id': other})
        # Its own project's instance may, and may leave it.
        self.manager.put_instance_constraint(self.ctx, 'i-own', {
            'project_id': PROJECT, 'group_id': None})
        # An instance naming a group not registered yet is stored; the
        # group may then not be registered in another project.
        group2 = str(uuid.uuid4())
        self.manager.put_instance_constraint(self.ctx, 'i-early', {
            'project_id': other, 'group_id': group2})
        e = self.assertRaises(
            exception.GroupHasOtherMembers,
            self.manager.put_instance_group_constraint, self.ctx, group2,
            {'project_id': PROJECT})
        self.assertIn('i-early', str(e))
        self.assertRaises(exception.InstanceGroupNotFound,
                          self.manager.get_instance_group_constraint,
                          self.ctx, group2)
        self.manager.put_instance_group_constraint(self.ctx, group2,
                                                   {'project_id': other})


ACTION_CODE = """
from fenix.workflow.actions import base


class Mine(base.ActionPlugin):
    def run(self):
        return base.Result(True, 'mine ran on %s' % self.host['hostname'])
"""

WORKFLOW_CODE = """
from fenix.common import states as st
from fenix.workflow import base


class Quick(base.BaseWorkflow):
    def maintenance(self):
        self.record(st.EVENT_DECISION, 'quick workflow from a download')
        return st.MAINTENANCE_COMPLETE

    def maintenance_complete(self):
        return st.MAINTENANCE_DONE

    def cleanup(self, why):
        return
"""


class TestDownloadedPlugins(EngineTestCase):
    """Plug-in code comes from a real HTTPS server on 127.0.0.1 (allowed
    here explicitly), with its sha256."""

    def setUp(self):
        super().setUp()
        context, ca_file = local_servers.tls_context(self.tmpdir)
        self.server = local_servers.Server(self, tls=context)
        self.config(group='download', ca_file=ca_file,
                    allowed_networks=['127.0.0.0/8'])

    def _file(self, name, text):
        data = text.encode()
        self.server.routes['/' + name] = local_servers.body(data)
        return {'url': self.server.url('/' + name),
                'sha256': hashlib.sha256(data).hexdigest()}

    def test_refused_unless_allowed(self):
        url = self._file('mine.py', ACTION_CODE)
        e = self.assertRaises(exception.UnknownPlugin, self.create,
                              actions=[{'plugin': 'mine', 'type': 'host'}],
                              download=[url])
        self.assertIn('mine', str(e))
        self.assertEqual([], db_api.session_list())

    def test_action_plugin_from_download(self):
        self.config(group='download', allow_plugin_code=True)
        url = self._file('mine.py', ACTION_CODE)
        sid = self.create(actions=[{'plugin': 'mine', 'type': 'host'}],
                          download=[url], hosts=['h1'])
        self.wait_event(sid, st.MAINTENANCE)
        self.reply(sid, 'ACK_MAINTENANCE')
        self.wait_event(sid, st.MAINTENANCE_COMPLETE)
        runs = db_api.action_runs_get(sid, plugin='mine')
        self.assertEqual(['DONE'], [r['state'] for r in runs])
        self.assertEqual('mine ran on h1', runs[0]['message'])

    def test_workflow_from_download(self):
        self.config(group='download', allow_plugin_code=True)
        url = self._file('quick.py', WORKFLOW_CODE)
        sid = self.create(workflow='quick', download=[url])
        self.wait_state(sid, st.MAINTENANCE_DONE)
        self.assertIn('quick workflow from a download',
                      [e['message'] for e in db_api.events_get(sid)])

    def test_missing_download_fails_before_anything(self):
        self.config(group='download', allow_plugin_code=True)
        sid = self.create(workflow='quick', download=[
            {'url': self.server.url('/nothing.py'), 'sha256': 'a' * 64}])
        self.wait_state(sid, st.MAINTENANCE_FAILED)
        self.assertIn('nothing.py', db_api.session_get(sid)['error'])

    def test_plugin_code_without_sha256_is_refused(self):
        self.config(group='download', allow_plugin_code=True)
        sid = self.create(workflow='quick', download=[
            self._file('quick.py', WORKFLOW_CODE)['url']])
        self.wait_state(sid, st.MAINTENANCE_FAILED)
        self.assertIn('(plug-in code)', db_api.session_get(sid)['error'])
        self.assertEqual([], self.server.requests)


class TestDownloadStop(EngineTestCase):

    def test_delete_cancels_a_trickling_download(self):
        # A server that sends one byte and then nothing: the session is
        # deleted at once, its download cut (the RPC worker is not held).
        self.config(group='download', allowed_schemes=['http'],
                    allowed_networks=['127.0.0.0/8'])
        server = local_servers.Server(self)
        server.routes['/slow.rpm'] = local_servers.trickle(server)
        sid = self.create(download=[server.url('/slow.rpm')])
        self.assertTrue(server.trickling.wait(local_servers.BOUND))
        self.assertIsNone(self.manager.delete_session(self.ctx, sid))
        self.assertRaises(exception.SessionNotFound, db_api.session_get,
                          sid)
        self.assertEqual([], self.manager.running_sessions())
        self.assertTrue(server.closed.wait(local_servers.BOUND))

    def test_detail_never_shows_credentials(self):
        # 10.0.0.1 is refused by the default policy: the session fails
        # at once, its error naming the URL.
        sid = self.create(download=['https://fenix:secret@10.0.0.1/a',
                                    {'url': 'https://u:pw@10.0.0.1/b'}])
        self.wait_state(sid, st.MAINTENANCE_FAILED)
        detail = self.manager.get_session_detail(self.ctx, sid)
        self.assertEqual(['https://***@10.0.0.1/a',
                          {'url': 'https://***@10.0.0.1/b'}],
                         detail['download'])
        self.assertIn('https://***@10.0.0.1/a refused', detail['error'])
        text = repr(detail) + repr(self.manager.list_sessions(self.ctx))
        self.assertNotIn('secret', text)
        self.assertNotIn('pw@', text)


class TestLocalRPC(EngineTestCase):

    def test_rpcapi_reaches_manager_in_process(self):
        rpc.set_local_manager(self.manager)
        self.addCleanup(rpc.cleanup)
        api = rpcapi.EngineAPI()
        self.assertEqual('e1', api.ping(self.ctx)['engine'])
        sid = api.create_session(self.ctx, {
            'workflow': 'wait_reply', 'metadata': {'projects': []}})[
                'session_id']
        self.wait_state(sid, st.MAINTENANCE_DONE)
        listed = api.list_sessions(self.ctx)
        self.assertEqual([sid], [s['session_id'] for s in listed])
        self.assertRaises(exception.SessionNotFound, api.get_session,
                          self.ctx, 'missing')

    def test_stopped_service_no_longer_answers(self):
        self.config(group='oslo_messaging_notifications', driver=['noop'])
        svc = service.EngineService(local=True)
        svc.host = 'e1'
        svc.start()
        self.addCleanup(rpc.cleanup)
        api = rpcapi.EngineAPI()
        self.assertEqual('e1', api.ping(self.ctx)['engine'])
        stopped = svc.manager
        svc.stop()
        self.assertFalse(rpc.local_mode())
        e = self.assertRaises(exception.EngineUnavailable, api.ping,
                              self.ctx)
        self.assertEqual(503, e.code)
        # Another manager routed to since is not cleared by it.
        rpc.set_local_manager(self.manager)
        rpc.clear_local_manager(stopped)
        self.assertTrue(rpc.local_mode())

    def test_no_engine_is_unavailable(self):
        rpc.set_local_manager(self.manager)
        api = rpcapi.EngineAPI()
        rpc.cleanup()
        e = self.assertRaises(exception.EngineUnavailable, api.ping,
                              self.ctx)
        self.assertEqual(503, e.code)


class TestRecovery(EngineTestCase):

    def _service(self):
        svc = service.EngineService(local=True,
                                    publisher=self.notifier.publisher)
        svc.host = 'e1'
        svc.start()
        self.addCleanup(svc.stop)
        self.addCleanup(rpc.cleanup)
        return svc

    def test_restart_resumes_waiting_session(self):
        self.config(group='oslo_messaging_notifications', driver=['noop'])
        svc = self._service()
        sid = svc.manager.create_session(self.ctx, {
            'workflow': 'wait_reply', 'hosts': ['h1'],
            'metadata': {'projects': [PROJECT]}})['session_id']
        self.wait_event(sid, st.MAINTENANCE)
        reply_at = db_api.project_get(sid, PROJECT)['reply_at']
        svc.stop()
        self.assertEqual(st.MAINTENANCE, self.state(sid))
        svc2 = self._service()
        self.assertEqual([sid], svc2.manager.running_sessions())
        # Not sent again: the deadline is the one of the first event.
        self.assertEqual(reply_at,
                         db_api.project_get(sid, PROJECT)['reply_at'])
        svc2.manager.project_reply(self.ctx, sid, PROJECT,
                                   {'state': 'ACK_MAINTENANCE'})
        self.wait_event(sid, st.MAINTENANCE_COMPLETE)
        svc2.manager.project_reply(self.ctx, sid, PROJECT,
                                   {'state': 'ACK_MAINTENANCE_COMPLETE'})
        self.wait_state(sid, st.MAINTENANCE_DONE)
        self.assertTrue(any('resumed' in (e['message'] or '')
                            for e in db_api.events_get(sid)))

    def test_takeover_from_dead_engine(self):
        self.config(group='oslo_messaging_notifications', driver=['noop'])
        self.config(group='engine', takeover_after=5)
        sid = str(uuid.uuid4())
        db_api.session_create({
            'session_id': sid, 'state': st.MAINTENANCE,
            'workflow': 'wait_reply',
            'maintenance_at': datetime.datetime(2026, 1, 1),
            'meta': {'projects': []}, 'options': {}, 'engine': 'dead'})
        db_api.engine_heartbeat('dead')
        svc = self._service()
        svc.take_over()
        # The dead engine's heartbeat is fresh: nothing taken yet.
        self.assertEqual('dead', db_api.session_get(sid)['engine'])
        self.assertEqual(st.MAINTENANCE, self.state(sid))
        db_api.engine_delete('dead')
        svc.take_over()
        self.assertEqual('e1', db_api.session_get(sid)['engine'])
        self.wait_state(sid, st.MAINTENANCE_DONE)


class TestSessionControl(EngineTestCase):
    """Pause, resume, skip a host and retry (SPEC 3.7), on the wait_reply
    workflow: no cloud, every step driven by the test."""

    def summary(self, sid):
        return self.manager.get_session(self.ctx, sid)

    def admin_events(self, sid):
        return [e['message'] for e in db_api.events_get(sid)
                if e['kind'] == st.EVENT_ADMIN]

    def wait_run(self, sid, hostname, state=st.RUN_RUNNING):
        wait_for(lambda: [r for r in db_api.action_runs_get(
            sid, hostname=hostname) if r['state'] == state],
            what='run on %s %s' % (hostname, state))

    def report(self, sid, hostname, state):
        return self.manager.report_action_run(
            self.ctx, sid, 'dummy', hostname, {'state': state})

    def test_pause_while_waiting_for_replies_then_resume(self):
        sid = self.create()
        self.wait_event(sid, st.MAINTENANCE)
        answer = self.manager.pause_session(self.ctx, sid, reason='lunch')
        self.assertEqual(sid, answer['session_id'])
        # Waiting for replies is no step in flight: it gives way at once.
        self.wait_state(sid, st.PAUSED)
        session = db_api.session_get(sid)
        self.assertEqual(st.MAINTENANCE, session['hold_state'])
        summary = self.summary(sid)
        self.assertEqual(st.PAUSED, summary['state'])
        self.assertEqual(st.MAINTENANCE, summary['hold_state'])
        self.assertFalse(summary['pause_requested'])
        wait_for(lambda: ('session', st.PAUSED, 0) in self.notifier.sent,
                 what='maintenance.session PAUSED')
        self.assertIn('pause requested by admin (lunch): the steps in '
                      'flight finish, no new one starts',
                      self.admin_events(sid))
        e = self.assertRaises(exception.Conflict,
                              self.manager.pause_session, self.ctx, sid)
        self.assertEqual(409, e.code)
        # A reply while paused is kept; nothing moves on.
        self.reply(sid, 'ACK_MAINTENANCE')
        self.assertEqual(st.PAUSED, self.state(sid))
        self.manager.resume_session(self.ctx, sid)
        self.wait_event(sid, st.MAINTENANCE_COMPLETE)
        # The MAINTENANCE event was not sent again.
        self.assertEqual(1, len([n for n in self.notifier.sent
                                 if n[:3] == ('project', PROJECT,
                                              st.MAINTENANCE)]))
        self.reply(sid, 'ACK_MAINTENANCE_COMPLETE')
        self.wait_state(sid, st.MAINTENANCE_DONE)
        wait_for(lambda: ('session', st.MAINTENANCE_DONE, 100)
                 in self.notifier.sent, what='maintenance.session DONE')
        sessions = [n[1] for n in self.notifier.sent if n[0] == 'session']
        self.assertEqual([st.MAINTENANCE, st.PAUSED, st.MAINTENANCE,
                          st.START_MAINTENANCE, st.MAINTENANCE_COMPLETE,
                          st.MAINTENANCE_DONE], sessions)
        self.assertIsNone(db_api.session_get(sid)['hold_state'])
        e = self.assertRaises(exception.SessionStateConflict,
                              self.manager.resume_session, self.ctx, sid)
        self.assertEqual(409, e.code)
        self.assertIn('cannot be resumed', str(e))

    def test_steps_in_flight_finish_then_pause(self):
        sid = self.create(actions=[{'plugin': 'dummy', 'type': 'host',
                                    'metadata': {'async': True}}])
        self.wait_event(sid, st.MAINTENANCE)
        self.reply(sid, 'ACK_MAINTENANCE')
        self.wait_run(sid, 'h1')
        self.manager.pause_session(self.ctx, sid)
        # The plug-in running on h1 is in flight: the session is pausing.
        summary = self.summary(sid)
        self.assertEqual(st.START_MAINTENANCE, summary['state'])
        self.assertTrue(summary['pause_requested'])
        self.report(sid, 'h1', st.RUN_DONE)
        self.wait_state(sid, st.PAUSED)
        self.assertEqual(st.START_MAINTENANCE,
                         db_api.session_get(sid)['hold_state'])
        # No new step: nothing ran on h2, no event about it.
        self.assertEqual([], db_api.action_runs_get(sid, hostname='h2'))
        hosts = {n[1] for n in self.notifier.sent if n[0] == 'host'}
        self.assertEqual({'h1'}, hosts)
        self.manager.resume_session(self.ctx, sid)
        self.wait_run(sid, 'h2')
        self.report(sid, 'h2', st.RUN_DONE)
        self.wait_event(sid, st.MAINTENANCE_COMPLETE)
        self.reply(sid, 'ACK_MAINTENANCE_COMPLETE')
        self.wait_state(sid, st.MAINTENANCE_DONE)
        # h1 was not maintained twice.
        self.assertEqual(['h1', 'h2'], [n[1] for n in self.notifier.sent
                                        if n[0] == 'host' and
                                        n[2] == st.IN_MAINTENANCE])

    def test_resume_while_pausing_withdraws_the_pause(self):
        sid = self.create(actions=[{'plugin': 'dummy', 'type': 'host',
                                    'metadata': {'async': True}}])
        self.wait_event(sid, st.MAINTENANCE)
        self.reply(sid, 'ACK_MAINTENANCE')
        self.wait_run(sid, 'h1')
        self.manager.pause_session(self.ctx, sid)
        summary = self.manager.resume_session(self.ctx, sid)
        self.assertFalse(summary['pause_requested'])
        self.assertIn('pause withdrawn by admin before the session was '
                      'paused', self.admin_events(sid))
        self.report(sid, 'h1', st.RUN_DONE)
        self.wait_run(sid, 'h2')
        self.report(sid, 'h2', st.RUN_DONE)
        self.wait_event(sid, st.MAINTENANCE_COMPLETE)
        self.assertNotIn(st.PAUSED, [e['state'] for e in db_api.events_get(
            sid) if e['kind'] == st.EVENT_STATE])

    def test_pause_and_resume_conflicts(self):
        e = self.assertRaises(exception.SessionNotFound,
                              self.manager.pause_session, self.ctx, 'nope')
        self.assertEqual(404, e.code)
        sid = self.create(metadata={'projects': []})
        self.wait_state(sid, st.MAINTENANCE_DONE)
        e = self.assertRaises(exception.SessionStateConflict,
                              self.manager.pause_session, self.ctx, sid)
        self.assertEqual(409, e.code)
        self.assertIn('MAINTENANCE_DONE and cannot be paused', str(e))
        e = self.assertRaises(exception.SessionStateConflict,
                              self.manager.resume_session, self.ctx, sid)
        self.assertIn('PAUSED, or while a pause is requested', str(e))
        running = self.create()
        self.wait_event(running, st.MAINTENANCE)
        e = self.assertRaises(exception.SessionStateConflict,
                              self.manager.resume_session, self.ctx,
                              running)
        self.assertIn('MAINTENANCE and cannot be resumed', str(e))
        e = self.assertRaises(exception.SessionStateConflict,
                              self.manager.retry_step, self.ctx, running)
        self.assertIn('cannot be retried', str(e))

    def test_delete_paused_session(self):
        sid = self.create()
        self.wait_event(sid, st.MAINTENANCE)
        self.manager.pause_session(self.ctx, sid)
        self.wait_state(sid, st.PAUSED)
        self.assertIsNone(self.manager.delete_session(self.ctx, sid))
        self.assertRaises(exception.SessionNotFound, db_api.session_get,
                          sid)
        self.assertEqual([], self.manager.running_sessions())

    def test_skip_pending_host(self):
        sid = self.create()
        self.wait_event(sid, st.MAINTENANCE)
        self.manager.skip_host(self.ctx, sid, 'h2', reason='disk RMA')
        # Applied at once: the workflow only waits for replies.
        wait_for(lambda: db_api.host_get(sid, 'h2')['state'] ==
                 st.HOST_SKIPPED, what='h2 skipped')
        host = db_api.host_get(sid, 'h2')
        self.assertFalse(host['skip_requested'])
        self.assertEqual('disk RMA', host['details']['skipped'])
        e = self.assertRaises(exception.Conflict, self.manager.skip_host,
                              self.ctx, sid, 'h2')
        self.assertIn('already skipped (disk RMA)', str(e))
        e = self.assertRaises(exception.NotFound, self.manager.skip_host,
                              self.ctx, sid, 'h9')
        self.assertEqual(404, e.code)
        self.assertIn('h9', str(e))
        self.reply(sid, 'ACK_MAINTENANCE')
        self.wait_event(sid, st.MAINTENANCE_COMPLETE)
        self.reply(sid, 'ACK_MAINTENANCE_COMPLETE')
        self.wait_state(sid, st.MAINTENANCE_DONE)
        self.assertEqual(['h1'], [n[1] for n in self.notifier.sent
                                  if n[0] == 'host' and
                                  n[2] == st.IN_MAINTENANCE])
        e = self.assertRaises(exception.Conflict, self.manager.skip_host,
                              self.ctx, sid, 'h1')
        self.assertEqual(409, e.code)

    def test_skip_maintained_host_is_409(self):
        sid = self.create(actions=[{'plugin': 'dummy', 'type': 'host',
                                    'metadata': {'async': True}}])
        self.wait_event(sid, st.MAINTENANCE)
        self.reply(sid, 'ACK_MAINTENANCE')
        self.wait_run(sid, 'h1')
        # In maintenance (its plug-in runs): not now.
        e = self.assertRaises(exception.Conflict, self.manager.skip_host,
                              self.ctx, sid, 'h1')
        self.assertIn('h1 is in maintenance', str(e))
        self.report(sid, 'h1', st.RUN_DONE)
        self.wait_run(sid, 'h2')
        e = self.assertRaises(exception.Conflict, self.manager.skip_host,
                              self.ctx, sid, 'h1')
        self.assertIn('h1 is already maintained', str(e))

    def test_retry_failed_plugin_run(self):
        sid = self.create(actions=[{'plugin': 'dummy', 'type': 'host',
                                    'metadata': {'async': True}}])
        self.wait_event(sid, st.MAINTENANCE)
        self.reply(sid, 'ACK_MAINTENANCE')
        self.wait_run(sid, 'h1')
        self.report(sid, 'h1', st.RUN_FAILED)
        self.wait_state(sid, st.MAINTENANCE_FAILED)
        answer = self.manager.retry_step(self.ctx, sid)
        self.assertEqual(st.START_MAINTENANCE, answer['state'])
        # A new run of the failed one; the projects are not asked again.
        self.wait_run(sid, 'h1')
        self.report(sid, 'h1', st.RUN_DONE)
        self.wait_run(sid, 'h2')
        self.report(sid, 'h2', st.RUN_DONE)
        self.wait_event(sid, st.MAINTENANCE_COMPLETE)
        self.reply(sid, 'ACK_MAINTENANCE_COMPLETE')
        self.wait_state(sid, st.MAINTENANCE_DONE)
        self.assertEqual(1, len([n for n in self.notifier.sent
                                 if n[:3] == ('project', PROJECT,
                                              st.MAINTENANCE)]))
        messages = [e['message'] or '' for e in db_api.events_get(sid)]
        self.assertTrue(any('retried by admin from START_MAINTENANCE (host '
                            'plug-in dummy on h1 runs again' in m
                            for m in messages), messages)

    def test_skip_host_of_failed_session_then_retry(self):
        sid = self.create(actions=[{'plugin': 'dummy', 'type': 'host',
                                    'metadata': {'fail_on': ['h1']}}])
        self.wait_event(sid, st.MAINTENANCE)
        self.reply(sid, 'ACK_MAINTENANCE')
        self.wait_state(sid, st.MAINTENANCE_FAILED)
        # No runner: applied at once.
        self.manager.skip_host(self.ctx, sid, 'h1')
        host = db_api.host_get(sid, 'h1')
        self.assertEqual(st.HOST_SKIPPED, host['state'])
        self.assertEqual('skipped by admin', host['details']['skipped'])
        self.manager.retry_step(self.ctx, sid)
        self.wait_event(sid, st.MAINTENANCE_COMPLETE)
        self.reply(sid, 'ACK_MAINTENANCE_COMPLETE')
        self.wait_state(sid, st.MAINTENANCE_DONE)
        hosts = {h['hostname']: h for h in db_api.hosts_get(sid)}
        self.assertTrue(hosts['h2']['maintained'])
        self.assertFalse(hosts['h1']['maintained'])
        # A skipped host is not work left undone.
        summary = self.summary(sid)
        self.assertEqual((100, 1, 1, 1), (
            summary['percent_done'], summary['hosts_done'],
            summary['hosts_total'], summary['hosts_skipped']))


class TestRecoveryWhilePaused(EngineTestCase):

    _service = TestRecovery._service

    def test_restart_keeps_a_paused_session_paused(self):
        self.config(group='oslo_messaging_notifications', driver=['noop'])
        svc = self._service()
        sid = svc.manager.create_session(self.ctx, {
            'workflow': 'wait_reply', 'hosts': ['h1', 'h2'],
            'metadata': {'projects': [PROJECT]}})['session_id']
        self.wait_event(sid, st.MAINTENANCE)
        svc.manager.pause_session(self.ctx, sid)
        self.wait_state(sid, st.PAUSED)
        svc.stop()
        svc2 = self._service()
        self.assertEqual([sid], svc2.manager.running_sessions())
        # The new runner waits, paused: it applies a skip (nothing is in
        # flight) and stays PAUSED.
        svc2.manager.skip_host(self.ctx, sid, 'h1')
        wait_for(lambda: db_api.host_get(sid, 'h1')['state'] ==
                 st.HOST_SKIPPED, what='h1 skipped while paused')
        self.assertEqual(st.PAUSED, self.state(sid))
        svc2.manager.resume_session(self.ctx, sid)
        self.wait_state(sid, st.MAINTENANCE)
        svc2.manager.project_reply(self.ctx, sid, PROJECT,
                                   {'state': 'ACK_MAINTENANCE'})
        self.wait_event(sid, st.MAINTENANCE_COMPLETE)
        svc2.manager.project_reply(self.ctx, sid, PROJECT,
                                   {'state': 'ACK_MAINTENANCE_COMPLETE'})
        self.wait_state(sid, st.MAINTENANCE_DONE)
        states = [e['state'] for e in db_api.events_get(sid)
                  if e['kind'] == st.EVENT_STATE]
        self.assertNotIn(st.MAINTENANCE_FAILED, states)
        self.assertEqual(['h2'], [h['hostname'] for h in db_api.hosts_get(
            sid) if h['maintained']])
