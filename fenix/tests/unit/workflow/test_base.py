# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""BaseWorkflow's helpers that write rows and history together."""
from fenix.common import states as st
from fenix.db import api as db_api
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.workflow import base as wf_base


class BrokenNotifier(object):

    def project_event(self, *args, **kwargs):
        raise RuntimeError('bus down')


class SentNotifier(object):

    def __init__(self):
        self.sent = []

    def project_event(self, session_id, project_id, state, **kwargs):
        self.sent.append((project_id, state, kwargs['instance_ids']))


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

    def test_row_and_history_written_before_the_event(self):
        notifier = SentNotifier()
        wf = wf_base.BaseWorkflow(self.sid, None, notifier)
        reply_at = wf.notify_instance(st.PLANNED_MAINTENANCE,
                                      {'instance_id': 'i1',
                                       'project_id': 'p1'}, window=30)
        row = db_api.instance_get(self.sid, 'i1')
        self.assertEqual((st.PLANNED_MAINTENANCE, reply_at),
                         (row['event'], row['reply_at']))
        self.assertEqual([('p1', st.PLANNED_MAINTENANCE, ['i1'])],
                         notifier.sent)
        self.assertEqual([(st.EVENT_NOTIFY, st.PLANNED_MAINTENANCE, 'i1')],
                         self.history())

    def test_failed_send_is_recorded(self):
        wf = wf_base.BaseWorkflow(self.sid, None, BrokenNotifier())
        self.assertRaises(RuntimeError, wf.notify_instance,
                          st.PLANNED_MAINTENANCE,
                          {'instance_id': 'i1', 'project_id': 'p1'},
                          window=30)
        self.assertEqual([(st.EVENT_NOTIFY, st.PLANNED_MAINTENANCE, 'i1'),
                          (st.EVENT_ERROR, st.PLANNED_MAINTENANCE, 'i1')],
                         self.history())
        self.assertIn('bus down', db_api.events_get(self.sid)[-1]['message'])

    def test_update_instance_records_in_one_transaction(self):
        wf = wf_base.BaseWorkflow(self.sid, None, SentNotifier())
        wf.update_instance('i1', {'host': 'c2'}, st.EVENT_ACTION,
                           'moved', host='c1', state=st.ACTION_DONE)
        self.assertEqual('c2', db_api.instance_get(self.sid, 'i1')['host'])
        self.assertEqual([(st.EVENT_ACTION, st.ACTION_DONE, 'i1')],
                         self.history())
