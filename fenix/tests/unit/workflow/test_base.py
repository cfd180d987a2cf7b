# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""BaseWorkflow's helpers that write rows, history and notifications
together."""
from unittest import mock

from fenix.common import exception
from fenix.common import notifier as notifier_mod
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.tests import outbox_fixture
from fenix.workflow import base as wf_base


class SentNotifier(outbox_fixture.InlineNotifier):
    """The real notifier, sent at once: ``sent`` lists (project, state,
    instance_ids) of each project event sent (once, not once per event
    type)."""

    def __init__(self):
        super().__init__()
        self.sent = []

    def deliver(self, row):
        p = row['payload']
        if row['event_type'] == base.CONF.workflow.project_event_types[0]:
            self.sent.append((p['project_id'], p['state'],
                              p['instance_ids']))


class NotifyInstanceTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        self.sid = db_api.session_create({})['session_id']
        db_api.instance_create_or_update(self.sid, 'i1',
                                         {'project_id': 'p1'})

    def history(self):
        return [(e['kind'], e['state'], e['instance_id'])
                for e in db_api.events_get(self.sid)]

    def test_row_history_and_event_committed_together(self):
        notifier = outbox_fixture.InlineNotifier()
        wf = wf_base.BaseWorkflow(self.sid, None, notifier)
        sent = wf.notify_instance(st.PLANNED_MAINTENANCE,
                                  {'instance_id': 'i1', 'project_id': 'p1'},
                                  window=30)
        row = db_api.instance_get(self.sid, 'i1')
        self.assertEqual((st.PLANNED_MAINTENANCE, sent.reply_at,
                          sent.event_ids['i1']),
                         (row['event'], row['reply_at'], row['event_id']))
        # Sent once committed: one message per project event type, with
        # ids derived from the event's.
        self.assertEqual(
            [('maintenance.planned', 'p1', st.PLANNED_MAINTENANCE, ['i1'],
              sent.event_ids['i1']),
             ('maintenance.scheduled', 'p1', st.PLANNED_MAINTENANCE,
              ['i1'], sent.event_ids['i1'])],
            [(m['event_type'], m['payload']['project_id'],
              m['payload']['state'], m['payload']['instance_ids'],
              m['payload']['event_id'])
             for m in notifier.messages])
        self.assertEqual(
            [notifier_mod.message_id_of(sent.event_ids['i1'], t)
             for t in ('maintenance.planned', 'maintenance.scheduled')],
            [m['message_id'] for m in notifier.messages])
        self.assertEqual([], db_api.outbox_unsent())
        self.assertEqual([(st.EVENT_NOTIFY, st.PLANNED_MAINTENANCE, 'i1')],
                         self.history())

    def test_failure_before_commit_leaves_neither_row_nor_event(self):
        notifier = outbox_fixture.InlineNotifier()
        wf = wf_base.BaseWorkflow(self.sid, None, notifier)
        with mock.patch.object(db_api, 'outbox_add',
                               side_effect=RuntimeError('disk full')):
            self.assertRaises(RuntimeError, wf.notify_instance,
                              st.PLANNED_MAINTENANCE,
                              {'instance_id': 'i1', 'project_id': 'p1'},
                              window=30)
        self.assertIsNone(db_api.instance_get(self.sid, 'i1')['event'])
        self.assertEqual([], self.history())
        self.assertEqual([], notifier.messages)

    def test_host_event_writes_the_host_with_its_event(self):
        db_api.hosts_create(self.sid, [{'hostname': 'c1',
                                        'state': st.HOST_PENDING}])
        notifier = outbox_fixture.InlineNotifier()
        wf = wf_base.BaseWorkflow(self.sid, None, notifier)
        wf.host_event('c1', st.IN_MAINTENANCE,
                      host_values={'state': st.HOST_IN_MAINTENANCE})
        host = db_api.host_get(self.sid, 'c1')
        self.assertEqual((st.HOST_IN_MAINTENANCE, st.IN_MAINTENANCE),
                         (host['state'], host['announced_state']))
        self.assertEqual([('c1', st.IN_MAINTENANCE)],
                         [(p['host'], p['state'])
                          for p in notifier.payloads('maintenance.host')])
        with mock.patch.object(db_api, 'event_add',
                               side_effect=RuntimeError('crash')):
            self.assertRaises(RuntimeError, wf.host_event, 'c1',
                              st.HOST_MAINTENANCE_COMPLETE,
                              host_values={'state': st.HOST_MAINTAINED})
        # Neither the state nor the message of the failed one.
        self.assertEqual(st.HOST_IN_MAINTENANCE,
                         db_api.host_get(self.sid, 'c1')['state'])
        self.assertEqual(1, len(notifier.messages))
        self.assertEqual([], db_api.outbox_unsent())

    def test_update_instance_records_in_one_transaction(self):
        wf = wf_base.BaseWorkflow(self.sid, None,
                                  outbox_fixture.InlineNotifier())
        wf.update_instance('i1', {'host': 'c2'}, st.EVENT_ACTION,
                           'moved', host='c1', state=st.ACTION_DONE)
        self.assertEqual('c2', db_api.instance_get(self.sid, 'i1')['host'])
        self.assertEqual([(st.EVENT_ACTION, st.ACTION_DONE, 'i1')],
                         self.history())


class NotifyInstancesTest(base.TestCase):
    """The events of many instances in one transaction, each its own."""

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        self.sid = db_api.session_create({})['session_id']
        db_api.instances_put(self.sid, {'i1': {'project_id': 'p1'},
                                        'i2': {'project_id': 'p2'}})
        self.notifier = outbox_fixture.InlineNotifier()
        self.wf = wf_base.BaseWorkflow(self.sid, None, self.notifier)

    def test_one_transaction_each_event_its_own(self):
        soon = timeutils.utcnow().replace(microsecond=0)
        seen = []
        real = db_api.transaction
        opened = []

        def transaction():
            opened.append(1)
            return real()

        def on_recorded(sents):
            # In the transaction: the rows are written, nothing is sent.
            seen.append((db_api.instance_get(self.sid, 'i3')['event_id'],
                         len(self.notifier.messages)))

        with mock.patch.object(db_api, 'transaction',
                               side_effect=transaction):
            sents = self.wf.notify_instances(
                st.PLANNED_MAINTENANCE,
                [{'instance_id': 'i1', 'project_id': 'p1', 'window': 30},
                 {'instance_id': 'i2', 'project_id': 'p2', 'window': 60,
                  'actions_at': soon},
                 # No row yet (it came onto the host): added.
                 {'instance_id': 'i3', 'project_id': 'p1', 'window': 30,
                  'create': {'host': 'c1'}}],
                allowed_actions=['MIGRATE'], on_recorded=on_recorded)
        self.assertEqual(1, len(opened))
        ids = [s.event_ids[i] for s, i in zip(sents, ('i1', 'i2', 'i3'))]
        self.assertEqual(3, len(set(ids)))
        self.assertEqual([(ids[2], 0)], seen)
        rows = {r['instance_id']: r for r in db_api.instances_get(self.sid)}
        for n, iid in enumerate(('i1', 'i2', 'i3')):
            self.assertEqual((st.PLANNED_MAINTENANCE, ids[n],
                              sents[n].reply_at),
                             (rows[iid]['event'], rows[iid]['event_id'],
                              rows[iid]['reply_at']))
        self.assertEqual(('c1', 'p1'), (rows['i3']['host'],
                                        rows['i3']['project_id']))
        self.assertEqual(soon, rows['i2']['actions_at'])
        self.assertGreater(sents[1].reply_at, sents[0].reply_at)
        # Every event on its own, its reply_url naming it; one message per
        # event type, ids derived from the event's.
        planned = self.notifier.payloads('maintenance.planned')
        self.assertEqual(
            [(['i1'], 'p1', ids[0]), (['i2'], 'p2', ids[1]),
             (['i3'], 'p1', ids[2])],
            [(p['instance_ids'], p['project_id'], p['event_id'])
             for p in planned])
        for p in planned:
            self.assertTrue(p['reply_url'].endswith(
                '/%s/%s?event_id=%s' % (p['project_id'],
                                        p['instance_ids'][0],
                                        p['event_id'])))
        self.assertEqual(6, len(self.notifier.messages))
        self.assertEqual([], db_api.outbox_unsent())
        self.assertEqual(
            [(st.EVENT_NOTIFY, st.PLANNED_MAINTENANCE, i)
             for i in ('i1', 'i2', 'i3')],
            [(e['kind'], e['state'], e['instance_id'])
             for e in db_api.events_get(self.sid)])

    def test_nothing_written_or_sent_when_one_fails(self):
        def on_recorded(sents):
            raise RuntimeError('disk full')

        self.assertRaises(
            RuntimeError, self.wf.notify_instances, st.PLANNED_MAINTENANCE,
            [{'instance_id': 'i1', 'project_id': 'p1'},
             {'instance_id': 'i2', 'project_id': 'p2'}],
            on_recorded=on_recorded)
        # An instance without a row and nothing to create it from.
        self.assertRaises(
            exception.InstanceNotFound, self.wf.notify_instances,
            st.PLANNED_MAINTENANCE,
            [{'instance_id': 'i1', 'project_id': 'p1'},
             {'instance_id': 'i9', 'project_id': 'p1'}])
        self.assertEqual({None}, {r['event_id'] for r in
                                  db_api.instances_get(self.sid)})
        self.assertEqual([], db_api.events_get(self.sid))
        self.assertEqual([], self.notifier.messages)
        self.assertEqual([], db_api.outbox_unsent())


class StubRunner(object):
    """What wait_until needs of a session runner; never woken."""

    def mark(self, topic=None):
        return 0

    def wait(self, timeout, topic=None, since=None):
        return False


class NotifyProjectsTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database())
        self.sid = db_api.session_create({})['session_id']
        for pid in ('p1', 'p2'):
            db_api.project_create_or_update(self.sid, pid,
                                            {'has_manager': True})
        db_api.instances_put(self.sid, {
            'i1': {'project_id': 'p1'}, 'i2': {'project_id': 'p1'},
            'i3': {'project_id': 'p2'}})
        self.notifier = SentNotifier()
        self.wf = wf_base.BaseWorkflow(self.sid, StubRunner(), self.notifier)

    def test_each_project_gets_its_own_event(self):
        seen = []

        def on_recorded(sent):
            # Inside the transaction that records the events: the rows
            # are written, nothing is sent yet.
            seen.append((db_api.project_get(self.sid, 'p1')['event_id'],
                         list(self.notifier.sent)))

        sent = self.wf.notify_projects(
            st.PLANNED_MAINTENANCE, ['p1', 'p2'], window=30,
            instance_ids={'p1': ['i1'], 'p2': ['i3']},
            on_recorded=on_recorded)
        self.assertEqual(st.PLANNED_MAINTENANCE, sent.event)
        self.assertEqual({'p1', 'p2'}, set(sent.event_ids))
        self.assertEqual(2, len(set(sent.event_ids.values())))
        self.assertEqual([(sent.event_ids['p1'], [])], seen)
        for pid in ('p1', 'p2'):
            row = db_api.project_get(self.sid, pid)
            self.assertEqual((sent.event_ids[pid], sent.reply_at),
                             (row['event_id'], row['reply_at']))
        rows = {i['instance_id']: i for i in db_api.instances_get(self.sid)}
        self.assertEqual(sent.event_ids['p1'], rows['i1']['event_id'])
        self.assertIsNone(rows['i2']['event_id'])
        self.assertEqual(sent.event_ids['p2'], rows['i3']['event_id'])
        self.assertEqual(2, len(self.notifier.sent))
        notes = [e['message'] for e in db_api.events_get(self.sid)
                 if e['kind'] == st.EVENT_NOTIFY]
        for pid in ('p1', 'p2'):
            self.assertTrue(any(sent.event_ids[pid] in m for m in notes))

    def test_nothing_recorded_or_sent_when_recording_fails(self):
        def on_recorded(sent):
            raise RuntimeError('disk full')

        self.assertRaises(RuntimeError, self.wf.notify_projects,
                          st.MAINTENANCE, ['p1', 'p2'], window=30,
                          on_recorded=on_recorded)
        self.assertEqual([], self.notifier.sent)
        self.assertEqual({None}, {p['event_id'] for p in
                                  db_api.projects_get(self.sid)})
        self.assertEqual([], db_api.events_get(self.sid))

    def test_only_a_reply_to_the_sent_event_counts(self):
        sent = self.wf.notify_projects(st.MAINTENANCE, ['p1', 'p2'],
                                       window=30)
        db_api.project_update(self.sid, 'p1', {'reply': 'ACK_MAINTENANCE'})
        # p2 answered an event of the same name but another id (as if
        # the row had been written for another exchange).
        db_api.project_update(self.sid, 'p2', {'reply': 'ACK_MAINTENANCE',
                                               'event_id': 'other'})
        past = timeutils.utcnow()
        result = self.wf.wait_project_replies(
            st.MAINTENANCE, ['p1', 'p2'], past, event_ids=sent.event_ids)
        self.assertEqual({'p1': 'ACK_MAINTENANCE', 'p2': None}, result)
        # Without ids (a plug-in of before): by the event's name.
        result = self.wf.wait_project_replies(st.MAINTENANCE, ['p1', 'p2'],
                                              past)
        self.assertEqual({'p1': 'ACK_MAINTENANCE', 'p2': 'ACK_MAINTENANCE'},
                         result)

    def test_silent_projects_are_read_with_a_lock_at_the_deadline(self):
        sent = self.wf.notify_projects(st.MAINTENANCE, ['p1'], window=30)
        calls = []
        real = db_api.projects_get

        def spy(session_id, for_update=False):
            calls.append(for_update)
            return real(session_id, for_update=for_update)

        with mock.patch.object(db_api, 'projects_get', side_effect=spy):
            result = self.wf.wait_project_replies(
                st.MAINTENANCE, ['p1'], timeutils.utcnow(),
                event_ids=sent.event_ids)
        self.assertEqual({'p1': None}, result)
        self.assertEqual(True, calls[-1])
        self.assertNotIn(True, calls[:-1])


class CountingRunner(StubRunner):
    """Never woken; keeps the timeout of every wait."""

    def __init__(self):
        self.waits = []

    def wait(self, timeout, topic=None, since=None):
        self.waits.append(timeout)
        return False


class LostWakeupTest(base.TestCase):
    """A wait looks again at least every WAKE_RECHECK seconds: a wake-up
    lost on its way does not cost the whole wait."""

    def test_wait_until_rechecks_without_a_wakeup(self):
        runner = CountingRunner()
        waits = runner.waits
        wf = wf_base.BaseWorkflow('s', runner, None)
        # Never woken: the predicate turns true after the second wait.
        answers = iter([False, False, 'done'])
        deadline = timeutils.after(600)
        self.assertEqual('done', wf.wait_until(lambda: next(answers),
                                               deadline))
        self.assertEqual(2, len(waits))
        self.assertTrue(all(w <= wf_base.WAKE_RECHECK for w in waits),
                        waits)

    def test_a_short_wait_is_not_stretched(self):
        runner = CountingRunner()
        waits = runner.waits
        wf = wf_base.BaseWorkflow('s', runner, None)
        answers = iter([False, 'late'])
        self.assertEqual('late', wf.wait_until(lambda: next(answers),
                                               timeutils.after(1)))
        self.assertEqual(1, len(waits))
        self.assertLessEqual(waits[0], 1)
