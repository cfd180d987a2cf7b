# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The crash campaign's counting and kill plan, on recorded data."""
import collections
import random

from fenix.tests.unit.tools import base
from fenix_tools.chaos import plan
from fenix_tools.chaos import tally

SID = 'session-1'
OTHER = 'session-2'


def note(event_type, state, message_id, session_id=SID, host=None):
    """One notification as the simulated cloud records it."""
    payload = {'session_id': session_id, 'state': state}
    if host:
        payload['host'] = host
    return {'event_type': event_type, 'message_id': message_id,
            'payload': payload}


def host(state, host_name, message_id, session_id=SID):
    return note(tally.HOST_EVENT, state, message_id, session_id, host_name)


def session(state, message_id, session_id=SID):
    return note(tally.SESSION_EVENT, state, message_id, session_id)


def start(host_name, attempt=None, type='host', session_id=SID):
    return {'session_id': session_id, 'plugin': 'chaos_probe',
            'type': type, 'host': host_name, 'attempt': attempt}


class TestHostStarts(base.TestCase):

    def test_each_host_once_is_no_duplicate(self):
        notes = [host('IN_MAINTENANCE', 'c0', 'm1'),
                 host('MAINTENANCE_COMPLETE', 'c0', 'm2'),
                 host('IN_MAINTENANCE', 'c1', 'm3')]
        self.assertEqual({}, tally.duplicate_host_starts(notes, SID))

    def test_announced_again_after_a_restart(self):
        notes = [host('IN_MAINTENANCE', 'c0', 'm1'),
                 host('IN_MAINTENANCE', 'c0', 'm2'),
                 host('IN_MAINTENANCE', 'c0', 'm3'),
                 host('IN_MAINTENANCE', 'c1', 'm4')]
        self.assertEqual({'c0': 2}, tally.duplicate_host_starts(notes, SID))

    def test_same_message_redelivered_is_not_a_second_start(self):
        notes = [host('IN_MAINTENANCE', 'c0', 'm1'),
                 host('IN_MAINTENANCE', 'c0', 'm1')]
        self.assertEqual({}, tally.duplicate_host_starts(notes, SID))
        self.assertEqual(1, tally.redelivered(notes, SID))

    def test_other_sessions_do_not_count(self):
        notes = [host('IN_MAINTENANCE', 'c0', 'm1'),
                 host('IN_MAINTENANCE', 'c0', 'm2', session_id=OTHER)]
        self.assertEqual({}, tally.duplicate_host_starts(notes, SID))

    def test_messages_without_id_each_count(self):
        notes = [host('IN_MAINTENANCE', 'c0', None),
                 host('IN_MAINTENANCE', 'c0', None)]
        self.assertEqual({'c0': 1}, tally.duplicate_host_starts(notes, SID))


class TestPluginStarts(base.TestCase):

    def test_one_start_per_run(self):
        starts = [start(''), start('c0'), start('c1'),
                  start('', type='post')]
        self.assertEqual({}, tally.duplicate_plugin_starts(starts, SID))

    def test_started_again_without_attempts(self):
        starts = [start('c0'), start('c0'), start('c1')]
        self.assertEqual({('chaos_probe', 'host', 'c0'): 1},
                         tally.duplicate_plugin_starts(starts, SID))

    def test_same_attempt_is_a_redelivery_a_new_one_a_start(self):
        starts = [start('c0', attempt=1), start('c0', attempt=1),
                  start('c1', attempt=1), start('c1', attempt=2)]
        self.assertEqual({('chaos_probe', 'host', 'c1'): 1},
                         tally.duplicate_plugin_starts(starts, SID))

    def test_pre_and_post_are_different_runs(self):
        starts = [start('', type='pre'), start('', type='post'),
                  start('', type='pre', session_id=OTHER)]
        self.assertEqual({}, tally.duplicate_plugin_starts(starts, SID))


class TestFinalStates(base.TestCase):

    def test_announced(self):
        notes = [session('MAINTENANCE', 'a'),
                 session(tally.DONE, 'b')]
        self.assertEqual((0, 0),
                         tally.final_state_figures(notes, SID, tally.DONE))

    def test_unannounced(self):
        notes = [session('MAINTENANCE', 'a'),
                 session('MAINTENANCE_COMPLETE', 'b'),
                 session(tally.DONE, 'c', session_id=OTHER)]
        self.assertEqual((1, 0),
                         tally.final_state_figures(notes, SID, tally.DONE))

    def test_announced_but_not_kept(self):
        notes = [session(tally.DONE, 'a')]
        self.assertEqual((0, 1),
                         tally.final_state_figures(notes, SID,
                                                   'MAINTENANCE_COMPLETE'))

    def test_failed_then_continued_to_done_is_lost_once(self):
        notes = [session(tally.FAILED, 'a'), session(tally.DONE, 'b')]
        self.assertEqual((0, 1),
                         tally.final_state_figures(notes, SID, tally.DONE))

    def test_not_final_is_not_unannounced(self):
        self.assertEqual((0, 0),
                         tally.final_state_figures([], SID, 'SCALE_IN'))


class TestServers(base.TestCase):

    def test_deleted_by_their_manager_are_not_lost(self):
        before = {'1': 'a', '2': 'b', '3': 'c'}
        after = {'1': {'name': 'a', 'status': 'ACTIVE'},
                 '4': {'name': 'd', 'status': 'ACTIVE'}}
        self.assertEqual(['c'], tally.lost_instances(before, after,
                                                     owner_deleted={'2'}))

    def test_error_counts_as_lost_even_if_new(self):
        before = {'1': 'a'}
        after = {'1': {'name': 'a', 'status': 'ERROR'},
                 '2': {'name': 'b', 'status': 'ERROR'},
                 '3': {'name': 'c', 'status': 'ACTIVE'}}
        self.assertEqual(['a', 'b'], tally.lost_instances(before, after))

    def test_unsettled(self):
        after = {'1': {'name': 'a', 'status': 'VERIFY_RESIZE',
                       'task_state': None},
                 '2': {'name': 'b', 'status': 'ACTIVE',
                       'task_state': 'migrating'},
                 '3': {'name': 'c', 'status': 'ACTIVE', 'task_state': None},
                 '4': {'name': 'd', 'status': 'ERROR', 'task_state': None}}
        self.assertEqual({'a': 'VERIFY_RESIZE/None',
                          'b': 'ACTIVE/migrating'},
                         tally.unsettled_instances(after))

    def test_extra_migrations(self):
        self.assertEqual(2, tally.extra_migrations(7, 5))
        self.assertEqual(0, tally.extra_migrations(4, 5))
        self.assertEqual(0, tally.extra_migrations(9, None))


class TestCloudActions(base.TestCase):

    def test_host_events_other_than_in_maintenance(self):
        notes = [host('IN_MAINTENANCE', 'c0', 'm1'),
                 host('MAINTENANCE_COMPLETE', 'c0', 'm2'),
                 host('MAINTENANCE_COMPLETE', 'c0', 'm2'),
                 host('MAINTENANCE_COMPLETE', 'c1', 'm3'),
                 host('MAINTENANCE_COMPLETE', 'c0', 'm4'),
                 host('MAINTENANCE_COMPLETE', 'c0', 'm5',
                      session_id=OTHER)]
        self.assertEqual({'c0 MAINTENANCE_COMPLETE': 1},
                         tally.duplicate_host_events(notes, SID))

    def test_in_maintenance_is_left_to_host_starts(self):
        notes = [host('IN_MAINTENANCE', 'c0', 'm1'),
                 host('IN_MAINTENANCE', 'c0', 'm2')]
        self.assertEqual({}, tally.duplicate_host_events(notes, SID))

    def test_migrations_off_the_same_host_twice(self):
        moves = [{'name': 'a', 'source': 'c0', 'dest': 'c1'},
                 {'name': 'a', 'source': 'c1', 'dest': 'c2'},
                 {'name': 'b', 'source': 'c0', 'dest': 'c2'},
                 {'name': 'b', 'source': 'c0', 'dest': 'c1'},
                 {'name': 'b', 'source': 'c0', 'dest': 'c1'}]
        self.assertEqual({'b@c0': 2}, tally.duplicate_migrations(moves))

    def test_host_disabled_again(self):
        updates = [
            {'host': 'c0', 'binary': 'nova-compute', 'disabled': True},
            {'host': 'c0', 'binary': 'nova-compute', 'disabled': False},
            {'host': 'c1', 'binary': 'nova-compute', 'disabled': True},
            {'host': 'c0', 'binary': 'nova-compute', 'disabled': True},
            {'host': 'c1', 'binary': 'nova-scheduler', 'disabled': True}]
        self.assertEqual({'c0': 1}, tally.duplicate_host_disables(updates))


class TestEngineLogs(base.TestCase):

    def test_takeovers_and_fenced_runners_of_the_session(self):
        text = '\n'.join([
            'WARNING fenix.engine.service Taking over session %s from '
            'engine chaos-engine-0' % SID,
            'WARNING fenix.engine.service Taking over session %s from '
            'engine chaos-engine-1' % OTHER,
            'WARNING fenix.engine.service Taking over the notifications '
            'of session %s from engine chaos-engine-2' % SID,
            'WARNING fenix.common.fencing Session %s: engine chaos-engine-0 '
            'no longer owns it (generation 3 is stale): a write refused'
            % SID,
            'INFO fenix.engine.runner Session %s: step 4 done' % SID])
        self.assertEqual((1, 1), tally.engine_log_figures(text, SID))
        self.assertEqual((1, 0), tally.engine_log_figures(text, OTHER))
        figures = tally.evaluate(session_data(takeovers=2, fenced=1))
        self.assertEqual(2, figures['figures'][tally.TAKEOVERS])
        self.assertEqual({}, tally.failures(figures['figures']))

    def test_every_figure_has_a_meaning(self):
        self.assertEqual(set(tally.COUNTED), set(tally.MEANING))


def session_data(**changes):
    data = {
        'session_id': SID, 'state': tally.DONE, 'error': None,
        'hung': False, 'kills': 3, 'kills_skipped': 0,
        'notifications': [host('IN_MAINTENANCE', 'c0', 'm1'),
                          session(tally.DONE, 'm2')],
        'starts': [start('c0')],
        'before': {'1': 'a'},
        'after': {'1': {'name': 'a', 'status': 'ACTIVE'}},
        'owner_deleted': set(), 'migrations': 5,
        'reference_migrations': 5, 'disabled_hosts': [],
        'violations': [], 'overlaps': [], 'vnfm_errors': 0,
    }
    data.update(changes)
    return data


class TestEvaluate(base.TestCase):

    def test_clean_session(self):
        result = tally.evaluate(session_data())
        self.assertEqual({}, tally.failures(result['figures']))
        self.assertEqual({}, result['details'])
        self.assertEqual(3, result['figures'][tally.KILLS])

    def test_every_failure_counted_and_explained(self):
        result = tally.evaluate(session_data(
            state=tally.FAILED, error='boom',
            notifications=[host('IN_MAINTENANCE', 'c0', 'm1'),
                           host('IN_MAINTENANCE', 'c0', 'm3')],
            starts=[start('c0'), start('c0')],
            after={'1': {'name': 'a', 'status': 'VERIFY_RESIZE'}},
            before={'1': 'a', '2': 'b'},
            migrations=8, disabled_hosts=['c1'],
            violations=[{'kind': 'no_active', 'detail': 'x'}],
            overlaps=[('a', 'c0', 1.0, 2.0)], restart_failures=2,
            migration_records=[{'name': 'a', 'source': 'c0'}] * 2,
            service_updates=[{'host': 'c1', 'binary': 'nova-compute',
                              'disabled': True}] * 2))
        self.assertEqual({
            tally.NOT_DONE: 1, tally.RESTART_FAILURES: 2,
            tally.INSTANCES_LOST: 1,
            tally.EXTRA_MIGRATIONS: 3, tally.HOSTS_LEFT_DISABLED: 1,
            tally.DUPLICATE_HOST_STARTS: 1,
            tally.DUPLICATE_PLUGIN_STARTS: 1,
            tally.UNANNOUNCED_FINAL_STATES: 1, tally.APP_VIOLATIONS: 1,
            tally.UNSETTLED_INSTANCES: 1, tally.MAINTENANCE_OVERLAPS: 1,
            tally.DUPLICATE_MIGRATIONS: 1, tally.DUPLICATE_HOST_DISABLES: 1},
            tally.failures(result['figures']))
        details = result['details']
        self.assertEqual('boom', details['error'])
        self.assertEqual(['b'], details['instances_lost'])
        self.assertEqual({'c0': 1}, details['duplicate_host_starts'])
        self.assertEqual({'chaos_probe/host@c0': 1},
                         details['duplicate_plugin_starts'])
        self.assertEqual(['a@c0'], details['maintenance_overlaps'])
        self.assertEqual({'a@c0': 1}, details['duplicate_migrations'])
        self.assertEqual({'c1': 1}, details['duplicate_host_disables'])

    def test_hung_counts_as_not_done_too(self):
        result = tally.evaluate(session_data(
            state='PLANNED_MAINTENANCE', hung=True,
            notifications=[session('PLANNED_MAINTENANCE', 'm1')]))
        self.assertEqual({tally.NOT_DONE: 1, tally.HUNG: 1},
                         tally.failures(result['figures']))

    def test_aggregate_per_group_and_total(self):
        clean = tally.evaluate(session_data())
        bad = tally.evaluate(session_data(
            notifications=[host('IN_MAINTENANCE', 'c0', 'm1')]))
        results = [dict(clean, workflow='default', mode='all-in-one'),
                   dict(bad, workflow='nfv', mode='all-in-one'),
                   dict(bad, workflow='nfv', mode='all-in-one')]
        groups, total = tally.aggregate(results)
        self.assertEqual([('default', 'all-in-one'), ('nfv', 'all-in-one')],
                         [(g['workflow'], g['mode']) for g in groups])
        self.assertEqual(0, groups[0]['figures'][
            tally.UNANNOUNCED_FINAL_STATES])
        self.assertEqual(2, groups[1]['figures'][
            tally.UNANNOUNCED_FINAL_STATES])
        self.assertEqual(9, total[tally.KILLS])
        self.assertEqual(3, total[tally.SESSIONS])
        self.assertEqual({tally.UNANNOUNCED_FINAL_STATES: 2},
                         tally.failures(total))
        table = tally.render(groups, total)
        row = [line for line in table.splitlines()
               if line.startswith(tally.UNANNOUNCED_FINAL_STATES)]
        self.assertEqual(1, len(row))
        self.assertTrue(row[0].endswith('<<'), row[0])
        self.assertEqual(['0', '2', '2', '<<'], row[0].split()[1:])


class TestKillPlan(base.TestCase):

    def test_every_trigger_dealt_once_per_round(self):
        deal = plan.KillPlan(7, per_session=3)
        dealt = []
        for _ in range(3):
            dealt += deal.deal()
        self.assertEqual(sorted(plan.TRIGGERS), sorted(dealt))

    def test_same_seed_same_plan(self):
        one = plan.KillPlan(3, per_session=4)
        two = plan.KillPlan(3, per_session=4)
        self.assertEqual([one.deal() for _ in range(5)],
                         [two.deal() for _ in range(5)])
        self.assertEqual(one.delay(6), two.delay(6))

    def test_hand_in_session_order_final_state_last(self):
        deal = plan.KillPlan(1, per_session=len(plan.TRIGGERS))
        self.assertEqual(list(plan.TRIGGERS), deal.deal())

    def test_missed_triggers_come_first(self):
        deal = plan.KillPlan(1, triggers=(plan.RANDOM, plan.FINAL_STATE),
                             per_session=1)
        deal.again([plan.PLUGIN_START])
        self.assertEqual([plan.PLUGIN_START], deal.deal())

    def test_parse_triggers(self):
        self.assertEqual(plan.TRIGGERS, plan.parse_triggers('all'))
        self.assertEqual((plan.RANDOM, plan.FINAL_STATE),
                         plan.parse_triggers('random, final-state'))
        self.assertRaises(ValueError, plan.parse_triggers, 'random,nope')

    def test_delay_bounds(self):
        deal = plan.KillPlan(2)
        delays = [deal.delay(2.0) for _ in range(50)]
        self.assertTrue(all(0.1 <= d <= 2.0 for d in delays), delays)


class TestDisruption(base.TestCase):
    """--engines N: which engine, SIGKILL or SIGSTOP, and for how long."""

    ENGINES = ['e0', 'e1', 'e2']

    def _many(self, owner='e1', stop_share=0.5, n=400):
        rng = random.Random(3)
        return [plan.disruption(rng, self.ENGINES, owner, stop_share, 4, 3)
                for _ in range(n)]

    def test_owner_most_often_others_too(self):
        engines = collections.Counter(e for _a, e, _s in self._many())
        self.assertGreater(engines['e1'], engines['e0'] + engines['e2'])
        self.assertTrue(engines['e0'] and engines['e2'], engines)

    def test_unknown_owner_any_engine(self):
        engines = {e for _a, e, _s in self._many(owner=None)}
        self.assertEqual(set(self.ENGINES), engines)

    def test_stop_lasts_past_the_takeover_time(self):
        stops = [s for a, _e, s in self._many() if a == plan.STOP]
        self.assertTrue(stops)
        self.assertTrue(all(5 <= s <= 8 for s in stops), stops)

    def test_kill_restarts_at_once_or_after_the_takeover_time(self):
        kills = [s for a, _e, s in self._many() if a == plan.KILL]
        self.assertIn(0.0, kills)
        self.assertTrue(all(s == 0.0 or 5 <= s <= 8 for s in kills), kills)
        self.assertTrue(any(s >= 5 for s in kills))

    def test_stop_share(self):
        self.assertEqual({plan.KILL}, {a for a, _e, _s in self._many(
            stop_share=0)})
        self.assertEqual({plan.STOP}, {a for a, _e, _s in self._many(
            stop_share=1)})
