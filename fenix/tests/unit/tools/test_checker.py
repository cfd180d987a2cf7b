# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
import datetime


from fenix.tests.unit.tools import base
from fenix_tools.vnfm import checker


def view(sid, status='ACTIVE', task=None, host='h1'):
    return {'id': sid, 'name': sid, 'status': status,
            'OS-EXT-STS:task_state': task, 'hostId': host}


def model(active='a', pending=(), seen=('a', 'b', 'n1', 'n2', 'n3'),
          ha_budget=1, nonha_budget=2):
    return checker.CheckModel(
        active_id=active, ha_ids=['a', 'b'],
        groups=[{'group_id': 'g-ha', 'group_name': 'ha',
                 'members': ['a', 'b'], 'anti_affinity_group': True,
                 'max_instances_per_host': 1,
                 'max_impacted_members': ha_budget},
                {'group_id': 'g-n', 'group_name': 'nonha',
                 'members': ['n1', 'n2', 'n3'],
                 'anti_affinity_group': False,
                 'max_instances_per_host': 0,
                 'max_impacted_members': nonha_budget}],
        pending_moves=set(pending), seen_active=set(seen),
        expect_active=True)


def healthy():
    return {'a': checker.server_view(view('a', host='h1')),
            'b': checker.server_view(view('b', host='h2')),
            'n1': checker.server_view(view('n1', host='h1')),
            'n2': checker.server_view(view('n2', host='h2')),
            'n3': checker.server_view(view('n3', host='h3'))}


class TestEvaluate(base.TestCase):

    def test_healthy(self):
        self.assertEqual({}, checker.evaluate(model(), healthy()))

    def test_active_migrating(self):
        servers = healthy()
        servers['a'] = checker.server_view(
            view('a', status='RESIZE', task='resize_migrating'))
        found = checker.evaluate(model(), servers)
        self.assertIn((checker.ACTIVE_NOT_IN_SERVICE, 'a'), found)
        self.assertIn('RESIZE/resize_migrating',
                      found[(checker.ACTIVE_NOT_IN_SERVICE, 'a')])

    def test_active_task_state_alone_counts(self):
        servers = healthy()
        servers['a'] = checker.server_view(view('a', task='migrating'))
        self.assertIn((checker.ACTIVE_NOT_IN_SERVICE, 'a'),
                      checker.evaluate(model(), servers))

    def test_no_active(self):
        found = checker.evaluate(model(active=None), healthy())
        self.assertIn((checker.NO_ACTIVE, '-'), found)

    def test_active_acknowledged_for_move(self):
        found = checker.evaluate(model(pending=['a']), healthy())
        self.assertEqual({(checker.ACTIVE_ON_HOST_IN_MAINTENANCE, 'a')},
                         set(found))

    def test_standby_pending_is_fine(self):
        self.assertEqual({}, checker.evaluate(model(pending=['b']),
                                              healthy()))

    def test_group_budget(self):
        servers = healthy()
        for sid in ('n1', 'n2'):
            servers[sid] = checker.server_view(view(sid, status='RESIZE'))
        self.assertEqual({}, checker.evaluate(model(), servers))
        servers['n3'] = checker.server_view(view('n3', status='SHUTOFF'))
        found = checker.evaluate(model(), servers)
        self.assertEqual({(checker.MAX_IMPACTED_MEMBERS, 'g-n')},
                         set(found))
        self.assertIn('3 members out of service', found[
            (checker.MAX_IMPACTED_MEMBERS, 'g-n')])

    def test_member_never_in_service_not_counted(self):
        servers = healthy()
        servers['n3'] = checker.server_view(view('n3', status='BUILD'))
        servers['n1'] = checker.server_view(view('n1', status='BUILD'))
        servers['n2'] = checker.server_view(view('n2', status='BUILD'))
        found = checker.evaluate(model(seen=('a', 'b')), servers)
        self.assertEqual({}, found)

    def test_anti_affinity(self):
        servers = healthy()
        servers['b'] = checker.server_view(view('b', host='h1'))
        found = checker.evaluate(model(), servers)
        self.assertEqual({(checker.ANTI_AFFINITY, 'g-ha@h1')}, set(found))

    def test_server_lost(self):
        servers = healthy()
        del servers['n2']
        found = checker.evaluate(model(), servers)
        self.assertIn((checker.SERVER_LOST, 'n2'), found)
        servers['n3'] = checker.server_view(view('n3', status='ERROR'))
        self.assertIn((checker.SERVER_LOST, 'n3'),
                      checker.evaluate(model(), servers))

    def test_admin_host_preferred_over_host_id(self):
        v = checker.server_view({'id': 'x', 'hostId': 'hash',
                                 'OS-EXT-SRV-ATTR:host': 'compute-1'})
        self.assertEqual('compute-1', checker.host_key(v))
        self.assertEqual('hash', checker.host_key(
            checker.server_view({'id': 'x', 'hostId': 'hash'})))
        self.assertIsNone(checker.host_key(
            checker.server_view({'id': 'x', 'hostId': ''})))


class TestRecorder(base.TestCase):

    def test_violation_recorded_with_timestamps(self):
        rec = checker.ViolationRecorder()
        servers = healthy()
        servers['a'] = checker.server_view(view('a', status='MIGRATING'))
        before = datetime.datetime.utcnow().replace(microsecond=0)
        opened = rec.update(checker.evaluate(model(), servers))
        self.assertEqual(1, len(opened))
        v = rec.violations()[0]
        self.assertEqual(checker.ACTIVE_NOT_IN_SERVICE, v['kind'])
        self.assertEqual('a', v['subject'])
        self.assertIsNone(v['until'])
        since = datetime.datetime.fromisoformat(v['since'])
        self.assertLessEqual(before, since)
        self.assertLess(since - before, datetime.timedelta(seconds=5))
        # Still there: one episode, not one record per check.
        self.assertEqual([], rec.update(checker.evaluate(model(), servers)))
        self.assertEqual(1, len(rec.violations()))
        self.assertEqual(1, len(rec.open_violations()))
        # Over: the episode is closed with an end time.
        rec.update(checker.evaluate(model(), healthy()))
        v = rec.violations()[0]
        self.assertIsNotNone(v['until'])
        self.assertLessEqual(v['since'], v['until'])
        self.assertEqual([], rec.open_violations())
        # A new episode of the same kind is a new record.
        rec.update(checker.evaluate(model(), servers))
        self.assertEqual(2, len(rec.violations()))

    def test_one_off_record(self):
        rec = checker.ViolationRecorder(clock=lambda: 'T')
        rec.record('switch_over', 'a', 'no standby')
        self.assertEqual([{'kind': 'switch_over', 'subject': 'a',
                           'detail': 'no standby', 'since': 'T',
                           'until': 'T', 'time': 'T'}], rec.violations())


T0 = datetime.datetime(2026, 12, 5, 10, 0, 0)


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


class TestReplyOrder(base.TestCase):
    """moved_without_reply: a move must wait for the manager's answer to
    its event (or that event's deadline)."""

    def setUp(self):
        super().setUp()
        self.recorder = checker.ViolationRecorder(clock=lambda: 'T')
        self.order = checker.ReplyOrder(self.recorder, grace=0.5)
        # E (PLANNED, reply by +10 s) about x and y, received at +1 s.
        self.order.event_received('E', 'PLANNED_MAINTENANCE', at(10),
                                  ['x', 'y'], at=at(1))
        self.snap(0)

    def snap(self, seconds, **moving):
        """A snapshot: x and y on h1, those in ``moving`` with that task
        state (or host, for a value starting with 'h')."""
        views = {}
        for sid in ('x', 'y', 'z'):
            value = moving.get(sid)
            host = value if value and value.startswith('h') else 'h1'
            task = value if value and not value.startswith('h') else None
            views[sid] = checker.server_view(view(sid, task=task,
                                                  host=host))
        self.order.observe(views, at=at(seconds))

    def kinds(self):
        return [(v['kind'], v['subject']) for v in
                self.recorder.violations()]

    def test_move_before_any_answer(self):
        self.snap(2, x='migrating')
        self.assertEqual([(checker.MOVED_WITHOUT_REPLY, 'x')], self.kinds())
        detail = self.recorder.violations()[0]['detail']
        self.assertIn('event E', detail)
        self.assertIn('had no answer', detail)
        # Once per (event, instance).
        self.snap(3, x='migrating')
        self.snap(4)
        self.snap(5, x='migrating')
        self.assertEqual(1, len(self.kinds()))

    def test_move_after_the_answer_is_fine(self):
        self.order.reply_started('E', at=at(2))
        self.order.reply_finished('E', True)
        self.snap(3, x='migrating', y='h2')
        self.assertEqual([], self.kinds())

    def test_answer_refused_then_moved(self):
        # The answer left before the move but Fenix refused it (it had
        # taken something else as E's answer).
        self.order.reply_started('E', at=at(2))
        self.snap(3, y='migrating')
        self.assertEqual([], self.kinds())
        self.order.reply_finished('E', False)
        self.assertEqual([(checker.MOVED_WITHOUT_REPLY, 'y')], self.kinds())
        self.assertIn('did not take', self.recorder.violations()[0]['detail'])

    def test_taken_answer_stays_taken_when_a_copy_is_refused(self):
        # The VNFM answered a redelivered copy of E again: Fenix refused
        # that copy (409 already answered), the first answer stands.
        self.order.reply_started('E', at=at(2))
        self.order.reply_finished('E', True)
        self.order.event_received('E', 'PLANNED_MAINTENANCE', at(10),
                                  ['x', 'y'], at=at(2.5))
        self.order.reply_finished('E', False)
        self.snap(3, x='migrating')
        self.assertEqual([], self.kinds())

    def test_silent_manager_moved_at_the_deadline(self):
        self.snap(9.6, x='migrating')
        self.snap(12, y='h3')
        self.assertEqual([], self.kinds())

    def test_fast_move_seen_as_a_new_host(self):
        self.snap(2, y='h2')
        self.assertEqual([(checker.MOVED_WITHOUT_REPLY, 'y')], self.kinds())

    def test_project_wide_event_instances_known_later(self):
        self.order.event_received('F', 'PREPARE_MAINTENANCE', at(20),
                                  at=at(11))
        self.snap(12, z='migrating')
        self.assertEqual([], self.kinds())
        # The VNFM read the event's instances (GET) after the move began.
        self.order.event_instances('F', ['z'])
        self.assertEqual([(checker.MOVED_WITHOUT_REPLY, 'z')], self.kinds())

    def test_move_before_the_event_arrived_but_after_it_was_sent(self):
        # Fenix took something else as H's answer and moved z before the
        # manager even got H.
        self.snap(20)
        self.snap(21, z='migrating')
        self.order.event_received('H', 'PLANNED_MAINTENANCE', at(30),
                                  ['z'], at=at(22), sent=at(20.5))
        self.assertEqual([(checker.MOVED_WITHOUT_REPLY, 'z')], self.kinds())

    def test_moves_before_the_event_do_not_count(self):
        self.order.event_received('G', 'PLANNED_MAINTENANCE', at(30),
                                  ['z'], at=at(8))
        self.snap(7, z='migrating')
        self.snap(8.5, z='h2')
        self.assertEqual([], self.kinds())


class TestCheckerThread(base.TestCase):
    timeout = 30

    def test_polls_and_records(self):
        servers = healthy()
        listed = []

        def list_servers():
            listed.append(1)
            return [dict(id=v['id'], name=v['name'], status=v['status'],
                         hostId=v['host_id'],
                         **{'OS-EXT-STS:task_state': v['task_state']})
                    for v in servers.values()]

        snapshots = []
        chk = checker.Checker(list_servers, model, interval=0.01,
                              on_snapshot=snapshots.append)
        chk.start()
        self.addCleanup(chk.stop)
        self.assertTrue(chk.wait_checks(3, timeout=10))
        self.assertEqual([], chk.recorder.violations())
        servers['b'] = checker.server_view(view('b', status='RESIZE'))
        servers['a'] = checker.server_view(view('a', status='RESIZE'))
        self.assertTrue(chk.wait_checks(2, timeout=10))
        kinds = {v['kind'] for v in chk.recorder.violations()}
        self.assertEqual({checker.ACTIVE_NOT_IN_SERVICE,
                          checker.MAX_IMPACTED_MEMBERS}, kinds)
        self.assertTrue(snapshots)
        self.assertGreater(chk.status()['checks'], 4)

    def test_errors_do_not_stop_it(self):
        calls = []

        def list_servers():
            calls.append(1)
            if len(calls) < 3:
                raise RuntimeError('nova hiccup')
            return []

        chk = checker.Checker(list_servers,
                              lambda: model()._replace(expect_active=False,
                                                       seen_active=set()),
                              interval=0.01)
        chk.start()
        self.addCleanup(chk.stop)
        self.assertTrue(chk.wait_checks(2, timeout=10))
        self.assertEqual(2, chk.errors)
        self.assertEqual('nova hiccup', chk.last_error)
