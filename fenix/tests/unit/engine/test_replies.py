# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A reply answers one event: the judgement of project and
instance replies (fenix.common.replies, recorded by fenix.db.replies as
the API and the engine record them), on a real database.

The events are sent by the workflow base class itself (as the workflows
do); the engine manager is called as an API of before RPC 1.4 calls it
(the same code the API runs itself). No session runner
runs: the rows only change when the test says so.
"""
import datetime
import threading
from urllib import parse as urlparse
import uuid

from oslo_db.sqlalchemy import test_fixtures

from fenix.common import context
from fenix.common import exception
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.engine import manager
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.tests import outbox_fixture
from fenix.tests.unit.db import utils as db_utils
from fenix.tests.unit.engine import test_manager
from fenix.workflow import base as wf_base

load_tests = test_fixtures.optimize_module_test_loader()

PROJECT = 'p' * 32
OTHER = 'q' * 32
# Instances of PROJECT: two on c1, one on c2; one of OTHER on c1.
ON_C1 = ['a1a1a1a1-0000-4000-8000-000000000001',
         'a1a1a1a1-0000-4000-8000-000000000002']
ON_C2 = ['c2c2c2c2-0000-4000-8000-000000000003']
OTHERS = ['0e0e0e0e-0000-4000-8000-000000000004']
ACK_PLANNED = st.ack(st.PLANNED_MAINTENANCE)


class RecordingNotifier(outbox_fixture.InlineNotifier):
    """Keeps the payload of every project event, as the manager got it
    (once, not once per event type)."""

    def __init__(self):
        super().__init__()
        self.payloads = []

    def deliver(self, row):
        if row['event_type'] == base.CONF.workflow.project_event_types[0]:
            self.payloads.append(row['payload'])


class ReplyCases(object):
    """The rules; mixed into a test case with a database."""

    def make_session(self):
        self.notifier = RecordingNotifier()
        self.manager = manager.EngineManager(self.notifier, host='e1')
        self.ctx = context.RequestContext(user_id='u', project_id=PROJECT,
                                          roles=['member'])
        self.sid = db_api.session_create({
            'state': st.PLANNED_MAINTENANCE, 'workflow': 'default',
            'engine': 'e1'})['session_id']
        for pid in (PROJECT, OTHER):
            db_api.project_create_or_update(self.sid, pid,
                                            {'has_manager': True})
        items = {i: {'project_id': PROJECT, 'host': 'c1'} for i in ON_C1}
        items.update({i: {'project_id': PROJECT, 'host': 'c2'}
                      for i in ON_C2})
        items.update({i: {'project_id': OTHER, 'host': 'c1'}
                      for i in OTHERS})
        db_api.instances_put(self.sid, items)
        self.wf = wf_base.BaseWorkflow(self.sid, None, self.notifier)

    def planned(self, instances, window=60):
        """PLANNED_MAINTENANCE to PROJECT about ``instances``; its id."""
        sent = self.wf.notify_projects(
            st.PLANNED_MAINTENANCE, [PROJECT], window=window,
            allowed_actions=wf_base.ALL_ACTIONS,
            instance_ids={PROJECT: list(instances)})
        return sent.event_ids[PROJECT]

    def reply(self, state=ACK_PLANNED, actions=None, event_id=None,
              project_id=PROJECT):
        body = {'state': state}
        if actions is not None:
            body['instance_actions'] = actions
        return self.manager.project_reply(self.ctx, self.sid, project_id,
                                          body, event_id=event_id)

    def instance_reply(self, instance_id, state=ACK_PLANNED,
                       action=st.MIGRATE, event_id=None):
        body = {'state': state}
        if action:
            body['instance_action'] = action
        return self.manager.project_instance_reply(
            self.ctx, self.sid, PROJECT, instance_id, body,
            event_id=event_id)

    def refused(self, func, *args, **kwargs):
        e = self.assertRaises(exception.ReplyConflict, func, *args,
                              **kwargs)
        self.assertEqual(409, e.code)
        return str(e)

    def project(self):
        return db_api.project_get(self.sid, PROJECT)

    def reply_history(self):
        return [e for e in db_api.events_get(self.sid)
                if e['kind'] == st.EVENT_REPLY]


class TestProjectReplies(ReplyCases, base.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        self.make_session()

    def test_event_named_in_payload_and_reply_url(self):
        eid = self.planned(ON_C1)
        payload = self.notifier.payloads[-1]
        self.assertEqual(eid, payload['event_id'])
        for key in ('reply_url', 'instance_ids'):
            url = urlparse.urlsplit(payload[key])
            self.assertEqual('/v1/maintenance/%s/%s' % (self.sid, PROJECT),
                             url.path)
            self.assertEqual({'event_id': [eid]},
                             urlparse.parse_qs(url.query))
        self.assertEqual(eid, self.project()['event_id'])
        # The tagged instances carry the event's id, the others not.
        rows = {i['instance_id']: i for i in db_api.instances_get(self.sid)}
        self.assertEqual({eid}, {rows[i]['event_id'] for i in ON_C1})
        self.assertIsNone(rows[ON_C2[0]]['event_id'])
        self.assertIsNone(rows[OTHERS[0]]['event_id'])

    def test_reply_naming_the_current_event_is_applied(self):
        eid = self.planned(ON_C1)
        result = self.reply(actions={ON_C1[0]: st.LIVE_MIGRATE},
                            event_id=eid)
        self.assertEqual((eid, ACK_PLANNED),
                         (result['event_id'], result['state']))
        project = self.project()
        self.assertEqual(ACK_PLANNED, project['reply'])
        self.assertEqual({ON_C1[0]: st.LIVE_MIGRATE},
                         project['instance_actions'])
        history = self.reply_history()
        self.assertEqual(1, len(history))
        self.assertEqual(eid, history[0]['data']['event_id'])
        view = self.manager.get_project(self.ctx, self.sid, PROJECT)
        self.assertEqual((eid, st.PLANNED_MAINTENANCE, ON_C1),
                         (view['event_id'], view['state'],
                          view['instance_ids']))

    def test_reply_to_an_earlier_event_is_refused(self):
        first = self.planned(ON_C1)
        second = self.planned(ON_C2)
        message = self.refused(self.reply,
                               actions={ON_C1[0]: st.MIGRATE},
                               event_id=first)
        self.assertIn(first, message)
        self.assertIn('not the current event of project %s' % PROJECT,
                      message)
        self.assertIn('PLANNED_MAINTENANCE (event_id %s' % second, message)
        # Nothing changed: the current event is still open.
        project = self.project()
        self.assertEqual((second, None, {}),
                         (project['event_id'], project['reply'],
                          project['instance_actions']))
        self.assertEqual([], self.reply_history())
        self.reply(actions={ON_C2[0]: st.MIGRATE}, event_id=second)
        self.assertEqual(ACK_PLANNED, self.project()['reply'])

    def test_retry_of_an_answered_earlier_event_says_it_was_taken(self):
        # A manager whose first try got through (its answer lost on the
        # way back) and whose retry comes after Fenix went on: refused,
        # nothing changes, and the refusal says the event was answered.
        first = self.planned(ON_C1)
        actions = {ON_C1[0]: st.MIGRATE}
        self.reply(actions=actions, event_id=first)
        second = self.planned(ON_C2)
        message = self.refused(self.reply, actions=actions,
                               event_id=first)
        self.assertIn('not the current event', message)
        self.assertIn('Event %s was already answered (%s at'
                      % (first, ACK_PLANNED), message)
        self.assertEqual((second, None),
                         (self.project()['event_id'],
                          self.project()['reply']))
        self.assertEqual(1, len(self.reply_history()))
        # An event that was never answered is not said to be.
        third = self.planned(ON_C1)
        self.assertNotIn('already answered', self.refused(
            self.reply, actions={ON_C2[0]: st.MIGRATE}, event_id=second))
        # After the session's end too.
        self.reply(actions=actions, event_id=third)
        db_api.session_update(self.sid, {'state': st.MAINTENANCE_DONE})
        message = self.refused(self.reply, actions=actions, event_id=third)
        self.assertIn('has ended', message)
        self.assertIn('Event %s was already answered' % third, message)

    def test_repeated_reply_is_refused(self):
        eid = self.planned(ON_C1)
        actions = {ON_C1[0]: st.MIGRATE}
        self.reply(actions=actions, event_id=eid)
        replied_at = self.project()['replied_at']
        # The byte-identical retry, and one without the event's id.
        for event_id in (eid, None):
            message = self.refused(self.reply, actions=actions,
                                   event_id=event_id)
            self.assertIn('already answered', message)
            self.assertIn(eid, message)
        # Also a change of mind: one answer per event.
        self.assertIn('already answered', self.refused(
            self.reply, state=st.nack(st.PLANNED_MAINTENANCE),
            event_id=eid))
        self.assertEqual(1, len(self.reply_history()))
        self.assertEqual((ACK_PLANNED, replied_at),
                         (self.project()['reply'],
                          self.project()['replied_at']))

    def test_without_event_id_judged_by_state(self):
        eid = self.planned(ON_C1)
        message = self.refused(self.reply, state=st.ack(st.MAINTENANCE))
        self.assertIn('does not answer the current event', message)
        self.assertIn('takes ACK_PLANNED_MAINTENANCE or '
                      'NACK_PLANNED_MAINTENANCE', message)
        self.assertIn(eid, message)
        self.assertIsNone(self.project()['reply'])

    def test_without_event_id_judged_by_instances(self):
        self.planned(ON_C1)
        current = self.planned(ON_C2)
        # A late repeat of the answer about c1 names c1's instances.
        message = self.refused(self.reply,
                               actions={i: st.MIGRATE for i in ON_C1})
        self.assertIn(', '.join(sorted(ON_C1)), message)
        self.assertIn('is not about', message)
        self.assertIn(current, message)
        self.assertIsNone(self.project()['reply'])
        # The answer about c2 is taken.
        result = self.reply(actions={ON_C2[0]: st.MIGRATE})
        self.assertEqual(current, result['event_id'])

    def test_project_wide_event_concerns_every_instance(self):
        sent = self.wf.notify_projects(st.MAINTENANCE, [PROJECT],
                                       window=60)
        self.reply(state=st.ack(st.MAINTENANCE),
                   actions={i: st.MIGRATE for i in ON_C1 + ON_C2})
        view = self.manager.get_project(self.ctx, self.sid, PROJECT,
                                        event_id=sent.event_ids[PROJECT])
        self.assertEqual(ON_C1 + ON_C2, view['instance_ids'])

    def test_unknown_instance_is_still_400(self):
        first = self.planned(ON_C1)
        self.planned(ON_C2)
        # Bad content is a 400 whatever event the reply names.
        for event_id in (first, None):
            e = self.assertRaises(exception.Invalid, self.reply,
                                  actions={'bogus': st.MIGRATE,
                                           OTHERS[0]: st.MIGRATE},
                                  event_id=event_id)
            self.assertEqual(400, e.code)
            self.assertIn('bogus', str(e))
            self.assertIn(OTHERS[0], str(e))

    def test_late_reply_is_refused(self):
        eid = self.planned(ON_C1)
        past = timeutils.utcnow() - datetime.timedelta(seconds=1)
        db_api.project_update(self.sid, PROJECT, {'reply_at': past})
        message = self.refused(self.reply, event_id=eid)
        self.assertIn('came after the deadline', message)
        self.assertIn(timeutils.format_time(past), message)
        self.assertIsNone(self.project()['reply'])

    def test_no_open_event(self):
        message = self.refused(self.reply)
        self.assertIn('project %s has no open event' % PROJECT, message)
        message = self.refused(self.reply, event_id=str(uuid.uuid4()))
        self.assertIn('has no open event', message)

    def test_after_the_session_ended(self):
        eid = self.planned(ON_C1)
        for state in st.FINAL_SESSION_STATES:
            db_api.session_update(self.sid, {'state': state})
            for event_id in (eid, None):
                message = self.refused(self.reply, event_id=event_id)
                self.assertIn('has ended (%s)' % state, message)
            # The informational answer is taken, and ignored, always.
            self.assertEqual(
                st.ack(st.INSTANCE_ACTION_DONE),
                self.reply(state=st.ack(st.INSTANCE_ACTION_DONE),
                           event_id=eid)['state'])
        self.assertIsNone(self.project()['reply'])
        self.assertEqual([], self.reply_history())

    def test_informational_answer_needs_a_known_session(self):
        self.assertRaises(exception.SessionNotFound,
                          self.manager.project_reply, self.ctx, 'nope',
                          PROJECT, {'state': 'ACK_INSTANCE_ACTION_DONE'})
        self.assertRaises(exception.SessionNotFound,
                          self.manager.project_reply, self.ctx, 'nope',
                          PROJECT, {'state': ACK_PLANNED})
        self.assertRaises(exception.ProjectNotFound, self.reply,
                          project_id='nobody')

    def test_get_names_the_event(self):
        first = self.planned(ON_C1)
        view = self.manager.get_project(self.ctx, self.sid, PROJECT,
                                        event_id=first)
        self.assertEqual(ON_C1, view['instance_ids'])
        second = self.planned(ON_C2)
        message = self.refused(self.manager.get_project, self.ctx,
                               self.sid, PROJECT, event_id=first)
        self.assertIn(second, message)
        view = self.manager.get_project(self.ctx, self.sid, PROJECT)
        self.assertEqual((second, ON_C2),
                         (view['event_id'], view['instance_ids']))

    def test_detail_shows_event_ids(self):
        eid = self.planned(ON_C1)
        detail = self.manager.get_session_detail(self.ctx, self.sid)
        projects = {p['project_id']: p for p in detail['projects']}
        self.assertEqual(eid, projects[PROJECT]['event_id'])
        instances = {i['instance_id']: i for i in detail['instances']}
        self.assertEqual(eid, instances[ON_C1[0]]['event_id'])

    def test_reply_at_is_a_whole_second(self):
        self.planned(ON_C1, window=1)
        row = self.project()
        self.assertEqual(0, row['reply_at'].microsecond)
        self.assertGreaterEqual(
            (row['reply_at'] - row['event_at']).total_seconds(), 1)


class TestInstanceReplies(ReplyCases, base.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        self.make_session()
        self.iid = ON_C1[0]

    def notify(self):
        sent = self.wf.notify_instance(
            st.PLANNED_MAINTENANCE,
            {'instance_id': self.iid, 'project_id': PROJECT}, window=60)
        return sent.event_ids[self.iid]

    def row(self):
        return db_api.instance_get(self.sid, self.iid)

    def test_reply_naming_the_event(self):
        eid = self.notify()
        url = urlparse.urlsplit(self.notifier.payloads[-1]['reply_url'])
        self.assertEqual('/v1/maintenance/%s/%s/%s'
                         % (self.sid, PROJECT, self.iid), url.path)
        self.assertEqual({'event_id': [eid]}, urlparse.parse_qs(url.query))
        result = self.instance_reply(self.iid, event_id=eid)
        self.assertEqual((eid, st.MIGRATE),
                         (result['event_id'], result['instance_action']))
        self.assertEqual(ACK_PLANNED, self.row()['reply'])
        view = self.manager.get_project_instance(self.ctx, self.sid,
                                                 PROJECT, self.iid)
        self.assertEqual((eid, ACK_PLANNED), (view['event_id'],
                                              view['reply']))

    def test_repeat_and_stale(self):
        first = self.notify()
        self.instance_reply(self.iid, event_id=first)
        self.assertIn('already answered', self.refused(
            self.instance_reply, self.iid, event_id=first))
        self.assertIn('already answered', self.refused(
            self.instance_reply, self.iid, action=st.LIVE_MIGRATE))
        self.assertEqual(st.MIGRATE, self.row()['action'])
        second = self.notify()
        message = self.refused(self.instance_reply, self.iid,
                               event_id=first)
        self.assertIn('instance %s of project %s' % (self.iid, PROJECT),
                      message)
        self.assertIn(second, message)
        self.assertIsNone(self.row()['reply'])
        self.assertIn('takes ACK_PLANNED_MAINTENANCE', self.refused(
            self.instance_reply, self.iid, state=st.ack(st.MAINTENANCE)))

    def test_after_instance_action_done(self):
        eid = self.notify()
        done = self.wf.instance_action_done(
            {'instance_id': self.iid, 'project_id': PROJECT})
        payload = self.notifier.payloads[-1]
        self.assertEqual((st.INSTANCE_ACTION_DONE, done),
                         (payload['state'], payload['event_id']))
        self.assertIn('event_id=%s' % done, payload['reply_url'])
        # A late answer to the event that asked about the move.
        for event_id in (eid, None):
            message = self.refused(self.instance_reply, self.iid,
                                   event_id=event_id)
            self.assertIn('INSTANCE_ACTION_DONE', message)
        self.assertIn('expects no answer', message)
        # Existing managers acknowledge it: accepted, ignored.
        self.instance_reply(self.iid, state='ACK_INSTANCE_ACTION_DONE',
                            action=None, event_id=done)
        self.assertIsNone(self.row()['reply'])

    def test_late_and_ended(self):
        eid = self.notify()
        db_api.instance_update(self.sid, self.iid, {
            'reply_at': timeutils.utcnow() - datetime.timedelta(seconds=1)})
        self.assertIn('came after the deadline', self.refused(
            self.instance_reply, self.iid, event_id=eid))
        db_api.session_update(self.sid, {'state': st.MAINTENANCE_DONE})
        self.assertIn('has ended', self.refused(
            self.instance_reply, self.iid, event_id=eid))
        self.assertIsNone(self.row()['reply'])

    def test_unknown_instance(self):
        self.assertRaises(exception.InstanceNotFound, self.instance_reply,
                          'nope')
        # Another project's instance is not found for this one.
        self.assertRaises(exception.InstanceNotFound, self.instance_reply,
                          OTHERS[0])
        self.assertRaises(exception.SessionNotFound,
                          self.manager.project_instance_reply, self.ctx,
                          'nope', PROJECT, self.iid, {'state': ACK_PLANNED})

    def test_get_naming_an_old_event(self):
        first = self.notify()
        second = self.notify()
        self.assertIn(second, self.refused(
            self.manager.get_project_instance, self.ctx, self.sid, PROJECT,
            self.iid, event_id=first))


class RaceCases(ReplyCases):
    """Copies of one reply arriving at once: exactly one is applied."""

    ROUNDS = 8

    def _together(self, call, copies=2):
        """Run ``call`` in ``copies`` threads released at once; returns
        their outcomes ('ok' or 'conflict')."""
        barrier = threading.Barrier(copies)
        outcomes = []
        lock = threading.Lock()

        def one():
            barrier.wait()
            try:
                call()
                outcome = 'ok'
            except exception.ReplyConflict as e:
                self.assertIn('already answered', str(e))
                outcome = 'conflict'
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=one) for _ in range(copies)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sorted(outcomes)

    def test_project_reply_copies(self):
        for n in range(self.ROUNDS):
            ids = ON_C1 if n % 2 else ON_C2
            eid = self.planned(ids)
            outcomes = self._together(lambda: self.reply(
                actions={i: st.MIGRATE for i in ids}, event_id=eid))
            self.assertEqual(['conflict', 'ok'], outcomes)
            self.assertEqual(n + 1, len(self.reply_history()))

    def test_instance_reply_copies(self):
        iid = ON_C2[0]
        for n in range(self.ROUNDS):
            sent = self.wf.notify_instance(
                st.PLANNED_MAINTENANCE,
                {'instance_id': iid, 'project_id': PROJECT}, window=60)
            eid = sent.event_ids[iid]
            # Copies with and without the event's id.
            outcomes = self._together(lambda: self.instance_reply(
                iid, event_id=eid if n % 2 else None), copies=3)
            self.assertEqual(['conflict', 'conflict', 'ok'], outcomes)
            self.assertEqual(n + 1, len(self.reply_history()))


class TestRaceSQLite(RaceCases, base.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        self.make_session()


class TestRaceMySQL(db_utils.OpportunisticTestMixin, RaceCases,
                    base.TestCase):
    FIXTURE = db_utils.MySQLSchemaFixture

    def setUp(self):
        super().setUp()
        self.make_session()


class TestRacePostgreSQL(db_utils.OpportunisticTestMixin, RaceCases,
                         base.TestCase):
    FIXTURE = db_utils.PostgresqlSchemaFixture

    def setUp(self):
        super().setUp()
        self.make_session()


class TestThroughASession(test_manager.EngineTestCase):
    """A running session (``wait_reply``): continue and the end."""

    def event_id(self, sid):
        return db_api.project_get(sid, test_manager.PROJECT)['event_id']

    def test_continue_and_end_close_the_events(self):
        sid = self.create()
        self.wait_event(sid, st.MAINTENANCE)
        first = self.event_id(sid)
        self.manager.project_reply(self.ctx, sid, test_manager.PROJECT,
                                   {'state': 'NACK_MAINTENANCE'},
                                   event_id=first)
        self.wait_state(sid, st.MAINTENANCE_FAILED)
        message = self.refused(sid, 'ACK_MAINTENANCE', first)
        self.assertIn('has ended (MAINTENANCE_FAILED)', message)
        # Continued: the step starts afresh, with a new event.
        self.manager.update_session(self.ctx, sid, {})
        test_manager.wait_for(lambda: self.event_id(sid) not in (None,
                                                                 first),
                              what='a new MAINTENANCE event')
        second = self.event_id(sid)
        message = self.refused(sid, 'ACK_MAINTENANCE', first)
        self.assertIn('not the current event', message)
        self.assertIn(second, message)
        self.manager.project_reply(self.ctx, sid, test_manager.PROJECT,
                                   {'state': 'ACK_MAINTENANCE'},
                                   event_id=second)
        self.wait_event(sid, st.MAINTENANCE_COMPLETE)
        self.manager.project_reply(self.ctx, sid, test_manager.PROJECT,
                                   {'state': 'ACK_MAINTENANCE_COMPLETE'},
                                   event_id=self.event_id(sid))
        self.wait_state(sid, st.MAINTENANCE_DONE)
        self.assertIn('has ended (MAINTENANCE_DONE)', self.refused(
            sid, 'ACK_MAINTENANCE_COMPLETE', None))

    def refused(self, sid, state, event_id):
        e = self.assertRaises(exception.ReplyConflict,
                              self.manager.project_reply, self.ctx, sid,
                              test_manager.PROJECT, {'state': state},
                              event_id=event_id)
        self.assertEqual(409, e.code)
        return str(e)
