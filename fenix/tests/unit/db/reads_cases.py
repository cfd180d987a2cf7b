# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Tests of the read-only DB API (fenix.db.reads) that every database
runs: SQLite (test_reads) and MariaDB/PostgreSQL
(test_reads_opportunistic)."""
import datetime
import json

from fenix.common import exception
from fenix.common import replies
from fenix.common import states as st
from fenix.common import views
from fenix.db import api as db_api
from fenix.db import reads
from fenix.engine import views as engine_views

T0 = datetime.datetime(2030, 1, 1, 12, 0, 0)
NOW = datetime.datetime(2030, 1, 1, 13, 0, 0)


def legacy_detail(sid, now):
    """The detail as the engine built it before fenix.db.reads: every
    table read through the DB API (ORM rows), the whole session row."""
    return views.session_detail(
        db_api.session_get(sid), db_api.hosts_get(sid),
        db_api.projects_get(sid), db_api.instances_get(sid),
        db_api.action_plugins_get(sid), db_api.action_runs_get(sid),
        db_api.steps_get(sid), db_api.events_get(sid), now=now)


class ReadsTests:

    def _full_session(self, **values):
        values.setdefault('maintenance_at', T0)
        values.setdefault('plan', {'waves': [{'hosts': ['c1'], 'start': 0,
                                              'end': 60}]})
        values.setdefault('download', [{'url': 'https://u:pw@example.com/x'}])
        sid = db_api.session_create(dict(
            values, hosts=[{'hostname': 'c1'}, {'hostname': 'c2',
                                                'type': st.CONTROLLER}],
            action_plugins=[{'plugin': 'b', 'type': 'host'},
                            {'plugin': 'a', 'type': 'pre'}]))['session_id']
        db_api.host_update(sid, 'c1', {'state': st.HOST_EMPTYING,
                                       'started_at': T0})
        db_api.project_create_or_update(sid, 'p1', {
            'has_manager': True, 'event': st.PLANNED_MAINTENANCE,
            'event_id': '0c6a9a1e-7d52-4b8e-9d5a-8a3f2a3e1b11',
            'instance_actions': {'i1': 'MIGRATE'}})
        db_api.project_create_or_update(sid, 'p2', {})
        db_api.instances_put(sid, {
            'i1': {'project_id': 'p1', 'host': 'c1',
                   'details': {'flavor': 'm1', 'ünï': 'cödé'}},
            'i2': {'project_id': 'p2', 'host': 'c1'},
            'i3': {'project_id': 'p1', 'host': 'c2'}})
        db_api.action_run_create_or_update(sid, 'b', 'host', 'c1',
                                           {'state': st.RUN_PENDING})
        db_api.steps_create(sid, [
            {'kind': st.STEP_MAINTAIN_HOST, 'host': 'c1', 'wave': 1},
            {'kind': st.STEP_MOVE, 'host': 'c1', 'instance_id': 'i1',
             'wave': 0},
            {'kind': st.STEP_ANNOUNCE}])
        db_api.event_add(sid, st.EVENT_STATE, state=st.MAINTENANCE,
                         message='created', data={'k': [1, 2]})
        return sid

    # --- one session ----------------------------------------------------
    def test_detail_is_the_engine_document(self):
        sid = self._full_session()
        detail = reads.session_detail(sid, now=NOW)
        self.assertEqual(legacy_detail(sid, NOW), detail)
        self.assertEqual(list(legacy_detail(sid, NOW)), list(detail))
        # The shapes the API documents.
        self.assertEqual(['c1', 'c2'],
                         [h['hostname'] for h in detail['hosts']])
        self.assertEqual(['i1', 'i2', 'i3'],
                         [i['instance_id'] for i in detail['instances']])
        self.assertEqual({'flavor': 'm1', 'ünï': 'cödé'},
                         detail['instances'][0]['details'])
        self.assertEqual(['a', 'b'],
                         [p['plugin'] for p in detail['action_plugins']])
        self.assertEqual([st.STEP_ANNOUNCE, st.STEP_MOVE,
                          st.STEP_MAINTAIN_HOST],
                         [s['kind'] for s in detail['steps']])
        self.assertEqual({'k': [1, 2]}, detail['history'][-1]['data'])
        self.assertNotIn('pw', str(detail['download']))
        self.assertEqual({'waves': [{'hosts': ['c1'], 'start': 0,
                                     'end': 60}]}, detail['plan'])

    def test_detail_json_is_the_document_encoded(self):
        sid = self._full_session()
        db_api.instance_update(sid, 'i2', {'details': {'q': 'a"\\x00b'}})
        # Text that looks like a placeholder (PostgreSQL stores no NUL).
        nul = '' if db_api.get_engine().name == 'postgresql' else '\x00'
        db_api.event_add(sid, st.EVENT_STATE,
                         message='%s%s:0%s "x"' % (nul, '0' * 32, nul),
                         data={'n': None, 'f': 1.5, 'ü': ['\u2603']})
        text = reads.session_detail_json(sid, now=NOW)
        self.assertEqual(json.dumps(reads.session_detail(sid, now=NOW)),
                         text)
        self.assertEqual(legacy_detail(sid, NOW), json.loads(text))
        self.assertRaises(exception.SessionNotFound,
                          reads.session_detail_json, 'missing')
        # Without a plan, and with a run finished.
        db_api.session_update(sid, {'plan': None})
        self.assertEqual(json.dumps(reads.session_detail(sid, now=NOW)),
                         reads.session_detail_json(sid, now=NOW))

    def _every_character(self):
        """Text with every ASCII character (but NUL on PostgreSQL, which
        stores none), DEL, non-ASCII and non-BMP characters."""
        start = 1 if db_api.get_engine().name == 'postgresql' else 0
        return ''.join(chr(c) for c in range(start, 128)) + \
            '\u00e9\u2603\U0001f600'

    def test_detail_json_of_every_character(self):
        sid = self._full_session()
        every = self._every_character()
        plain = ''.join(chr(c) for c in range(32, 127) if chr(c) != '\x7f')
        # In every kind of column and table; the tables with only
        # printable ASCII, then with the rest too.
        for text in (plain, every):
            db_api.instance_update(sid, 'i2', {
                'instance_name': text[:255], 'action_message': text,
                'details': {text: text}})
            db_api.host_update(sid, 'c2', {'details': {'k': text}})
            db_api.project_update(sid, 'p2', {'reply': text[:37]})
            db_api.action_run_create_or_update(sid, 'b', 'host', 'c1', {
                'message': text})
            db_api.event_add(sid, st.EVENT_STATE, message=text,
                             data={'t': text}, host=text[:255])
            self.assertEqual(
                json.dumps(reads.session_detail(sid, now=NOW)),
                reads.session_detail_json(sid, now=NOW))
            self.assertEqual(legacy_detail(sid, NOW),
                             json.loads(reads.session_detail_json(
                                 sid, now=NOW)))

    def test_detail_page(self):
        sid = self._full_session()
        whole = json.loads(reads.session_detail_json(sid, now=NOW))
        pages = []

        def next_link(last):
            pages.append(last)
            return [{'rel': 'next', 'href': 'next/%s' % last}]

        text = reads.session_detail_page_json(sid, 2, next_link=next_link,
                                              now=NOW)
        doc = json.loads(text)
        self.assertEqual(['i1', 'i2'],
                         [i['instance_id'] for i in doc['instances']])
        self.assertEqual([{'rel': 'next', 'href': 'next/i2'}],
                         doc['instances_links'])
        self.assertEqual(['i2'], pages)
        # The links follow the instances; everything else is whole.
        keys = list(doc)
        self.assertEqual('instances_links',
                         keys[keys.index('instances') + 1])
        self.assertEqual(whole['instances'][:2], doc.pop('instances'))
        doc.pop('instances_links')
        self.assertEqual({k: v for k, v in whole.items()
                          if k != 'instances'}, doc)
        # The last page: no link.
        doc = json.loads(reads.session_detail_page_json(
            sid, 2, marker='i2', next_link=next_link, now=NOW))
        self.assertEqual(whole['instances'][2:], doc['instances'])
        self.assertNotIn('instances_links', doc)
        # A page exactly as long as what is left: no link either.
        doc = json.loads(reads.session_detail_page_json(
            sid, 3, next_link=next_link, now=NOW))
        self.assertEqual(whole['instances'], doc['instances'])
        self.assertNotIn('instances_links', doc)
        self.assertEqual(['i2'], pages)
        # After the last one: empty.
        doc = json.loads(reads.session_detail_page_json(sid, 5, marker='i3'))
        self.assertEqual([], doc['instances'])
        # Without next_link: a relative reference.
        doc = json.loads(reads.session_detail_page_json(sid, 1,
                                                        marker='i1'))
        self.assertEqual([{'rel': 'next', 'href': '?limit=1&marker=i2'}],
                         doc['instances_links'])
        # The same bytes as the document encoded.
        self.assertEqual(json.dumps(whole), json.dumps(json.loads(
            reads.session_detail_page_json(sid, 3, now=NOW))))

    def test_detail_page_refuses_unknown_marker(self):
        sid = self._full_session()
        other = db_api.session_create({})['session_id']
        db_api.instances_put(other, {'x9': {'project_id': 'p1'}})
        for marker in ('nope', 'x9'):
            err = self.assertRaises(exception.Invalid,
                                    reads.session_detail_page_json, sid, 2,
                                    marker=marker)
            self.assertIn("marker: no instance '%s'" % marker, str(err))
        self.assertRaises(exception.SessionNotFound,
                          reads.session_detail_page_json, 'missing', 2,
                          marker='i1')

    def test_engine_views_answer_the_same(self):
        sid = self._full_session()
        self.assertEqual(reads.session_detail(sid, now=NOW),
                         engine_views.session_detail(
                             db_api.session_get(sid), now=NOW))
        self.assertEqual(
            engine_views.session_summary(db_api.session_get(sid), now=NOW),
            reads.session_summary(sid, now=NOW))

    def test_missing_session(self):
        for read in (reads.session_summary, reads.session_detail,
                     reads.action_runs):
            self.assertRaises(exception.SessionNotFound, read, 'missing')
        self.assertRaises(exception.SessionNotFound, reads.project_instance,
                          'missing', 'p1', 'i1')
        # As the engine always answered it: the project is not found.
        self.assertRaises(exception.ProjectNotFound, reads.project,
                          'missing', 'p1')

    def test_project_and_instance(self):
        sid = self._full_session()
        doc = reads.project(sid, 'p1')
        concerned = replies.concerned_instances(
            db_api.project_get(sid, 'p1'),
            db_api.instances_get(sid, project_id='p1'))
        self.assertEqual({'session_id': sid, 'project_id': 'p1',
                          'state': st.PLANNED_MAINTENANCE,
                          'event_id': '0c6a9a1e-7d52-4b8e-9d5a-8a3f2a3e1b11',
                          'reply': None, 'reply_at': None,
                          'instance_ids': concerned}, doc)
        db_api.project_update(sid, 'p1', {'event': st.MAINTENANCE})
        self.assertEqual(['i1', 'i3'],
                         reads.project(sid, 'p1')['instance_ids'])
        self.assertRaises(exception.ReplyConflict, reads.project, sid, 'p1',
                          event_id='5a0a9a1e-7d52-4b8e-9d5a-8a3f2a3e1b11')
        self.assertRaises(exception.ProjectNotFound, reads.project, sid,
                          'p9')
        inst = reads.project_instance(sid, 'p1', 'i1')
        self.assertEqual(('i1', ['i1'], 'c1'), (
            inst['instance_id'], inst['instance_ids'], inst['host']))
        # An instance of another project is not found.
        self.assertRaises(exception.InstanceNotFound,
                          reads.project_instance, sid, 'p1', 'i2')
        self.assertEqual([('b', st.RUN_PENDING)],
                         [(r['plugin'], r['state'])
                          for r in reads.action_runs(sid)])

    # --- the list -------------------------------------------------------
    def _sessions(self):
        made = []
        for n, (state, workflow) in enumerate((
                (st.MAINTENANCE, 'default'), (st.MAINTENANCE_DONE, 'nfv'),
                (st.MAINTENANCE, 'nfv'), (st.MAINTENANCE_FAILED, 'default'),
                (st.MAINTENANCE, 'nfv'))):
            made.append(db_api.session_create({
                'maintenance_at': T0, 'state': state, 'workflow': workflow,
                'plan': {'n': n}, 'hosts': [{'hostname': 'h%d' % n}]}))
        return made

    def test_list_is_every_summary_oldest_first(self):
        self._sessions()
        listed = reads.session_list(now=NOW)
        expected = [engine_views.session_summary(s, now=NOW)
                    for s in db_api.session_list()]
        self.assertEqual(expected, listed)
        self.assertEqual(5, len(listed))
        self.assertEqual([1] * 5, [s['hosts_total'] for s in listed])

    def test_list_pages_with_limit_and_marker(self):
        self._sessions()
        everything = [s['session_id'] for s in reads.session_list()]
        for limit in (1, 2, 4, 5, 7):
            seen, marker = [], None
            while True:
                page = reads.session_list(limit=limit, marker=marker)
                self.assertLessEqual(len(page), limit)
                seen.extend(s['session_id'] for s in page)
                if len(page) < limit:
                    break
                marker = page[-1]['session_id']
            self.assertEqual(everything, seen, limit)

    def test_list_filters(self):
        self._sessions()
        self.assertEqual(3, len(reads.session_list(state=st.MAINTENANCE)))
        self.assertEqual(3, len(reads.session_list(workflow='nfv')))
        both = reads.session_list(state=st.MAINTENANCE, workflow='nfv')
        self.assertEqual([(st.MAINTENANCE, 'nfv')] * 2,
                         [(s['state'], s['workflow']) for s in both])
        first = reads.session_list(state=st.MAINTENANCE, workflow='nfv',
                                   limit=1)
        rest = reads.session_list(state=st.MAINTENANCE, workflow='nfv',
                                  marker=first[0]['session_id'])
        self.assertEqual(both, first + rest)
        self.assertEqual([], reads.session_list(workflow='nothing'))

    def test_unknown_marker_is_invalid(self):
        self._sessions()
        e = self.assertRaises(exception.Invalid, reads.session_list,
                              marker='no-such-session')
        self.assertIn('marker', str(e))

    def test_lists_never_carry_the_plan(self):
        self._sessions()
        for rows in (db_api.session_list(),
                     db_api.session_list_by_states(st.ACTIVE_SESSION_STATES),
                     reads.session_list()):
            self.assertTrue(rows)
            self.assertFalse([r for r in rows if 'plan' in r])
