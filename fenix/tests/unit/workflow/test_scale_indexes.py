# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""What the executor and the book of steps keep between passes, so that a
pass costs what changed and not the size of the session: the answers are
those of a scan of everything, and only what changed is looked at again."""
import random
from unittest import mock

from fenix.common import states as st
from fenix.db import api as db_api
from fenix.tests import base
from fenix.tests.unit.workflow import test_readiness
from fenix.workflow import executor
from fenix.workflow.executor import common
from fenix.workflow import steps as plan_steps

HOST_STATES = (common.H_PENDING, common.H_STARTING, common.H_EMPTYING,
               common.H_DOWN, common.H_DONE)


class StampedTest(base.TestCase):

    def test_stamp_and_dirty_follow_changes_only(self):
        d = common.Stamped({'a': 1})
        self.assertEqual({'a'}, d.dirty)
        d.dirty.clear()
        stamp = d.stamp
        d['a'] = 1
        self.assertEqual((stamp, set()), (d.stamp, d.dirty))
        d['a'] = 2
        d.update(b=3)
        d.setdefault('c', 4)
        d.setdefault('c', 5)
        self.assertEqual({'a', 'b', 'c'}, d.dirty)
        self.assertNotEqual(stamp, d.stamp)
        d.dirty.clear()
        d.pop('b')
        d.pop('zz', None)
        del d['c']
        self.assertEqual({'b', 'c'}, d.dirty)
        self.assertEqual({'a': 2}, d)
        self.assertIs(d, common.stamped(d))
        self.assertIsInstance(common.stamped({'x': 1}), common.Stamped)


def _executor(n_hosts=40):
    wf = mock.MagicMock()
    wf.session_id = 's1'
    wf.options = {}
    ex = executor.Executor(wf)
    names = ['c%02d' % n for n in range(n_hosts)]
    ex.capacity = {n: (8, 16384, 160) for n in names}
    # Some hosts are not the session's (always targets when usable).
    ex.session_hosts = {
        n: {'hostname': n, 'state': st.HOST_PENDING, 'maintained': False,
            'disabled_by_operator': False} for n in names[:-5]}
    ex.hstate = {n: common.H_PENDING for n in names[:-5]}
    ex.services = {n: {'host': n, 'state': 'up', 'status': 'enabled'}
                   for n in names}
    return ex, names


def _scanned(ex):
    """The targets as a scan of every host gives them."""
    good, later = [], []
    for name in sorted(ex.capacity):
        kind = ex._target_kind(name)
        if kind:
            (good if kind == 'good' else later).append(name)
    return good, later


class TargetsTest(base.TestCase):

    def test_same_as_a_scan_through_random_changes(self):
        ex, names = _executor()
        rnd = random.Random(7)
        for n in range(400):
            name = rnd.choice(names)
            what = rnd.random()
            if what < 0.6:
                ex.hstate[name] = rnd.choice(HOST_STATES)
            elif what < 0.8:
                ex.services[name] = dict(
                    ex.services[name],
                    state=rnd.choice(('up', 'up', 'down')),
                    status=rnd.choice(('enabled', 'enabled', 'disabled')))
            elif what < 0.9 and name in ex.session_hosts:
                ex.session_hosts[name] = dict(
                    ex.session_hosts[name],
                    state=rnd.choice((st.HOST_PENDING, st.HOST_SKIPPED)),
                    disabled_by_operator=rnd.random() < 0.2)
            elif what < 0.95:
                # Replaced whole, as a listing does.
                ex.services = {k: dict(v) for k, v in ex.services.items()}
            else:
                ex.capacity[name + 'x'] = (8, 16384, 160)
                ex.services[name + 'x'] = {'host': name + 'x'}
            if n % 3 == 0:
                self.assertEqual(_scanned(ex), ex._targets(), n)
        self.assertEqual(_scanned(ex), ex._targets())

    def test_only_changed_hosts_looked_at_again(self):
        ex, names = _executor()
        ex.hstate[names[0]] = common.H_DONE
        first = ex._targets()
        self.assertEqual(([names[0]] + names[-5:], names[1:-5]), first)
        with mock.patch.object(ex, '_target_kind',
                               wraps=ex._target_kind) as kind:
            ex.hstate[names[3]] = common.H_STARTING
            ex.hstate[names[4]] = common.H_DONE
            good, later = ex._targets()
            self.assertEqual(2, kind.call_count)
            self.assertEqual(sorted([names[0], names[4]] + names[-5:]),
                             good)
            self.assertNotIn(names[3], later)
            # Nothing changed: nothing is looked at.
            self.assertEqual((good, later), ex._targets())
            self.assertEqual(2, kind.call_count)
        # The lists handed out are the caller's own.
        good.append('zz')
        self.assertNotIn('zz', ex._targets()[0])


class PendingTest(base.TestCase):

    def test_pending_follows_host_states(self):
        ex, names = _executor(10)
        ex.order = list(reversed(names[:5]))
        self.assertEqual(ex.order, ex._pending())
        ex.hstate[names[2]] = common.H_STARTING
        self.assertEqual([h for h in ex.order if h != names[2]],
                         ex._pending())
        ex.hstate[names[2]] = common.H_PENDING
        self.assertEqual(ex.order, ex._pending())
        ex.hstate = {names[0]: common.H_PENDING}
        self.assertEqual([names[0]], ex._pending())


class StartedHostServicesTest(base.TestCase):
    """A forced read of the computes after hosts started reads those hosts'
    computes by themselves in a large cloud, every compute in a small
    one."""

    def _refresh(self, n_hosts, started, enabled=(), force=True):
        ex, names = _executor(n_hosts)
        ex.enabled_hosts = set(enabled)
        ex.constraints_at = 0
        ex.services_at = 10 ** 12     # the periodic listing is not due
        ex.down_since = {}
        listed = []

        def services(binary='nova-compute', host=None):
            listed.append(host)
            return [dict(ex.services[h], status='disabled')
                    for h in names if host in (None, h)]
        ex.wf.cloud.compute_services.side_effect = services
        with mock.patch.object(db_api, 'constraints_version'), \
                mock.patch.object(ex, '_constraints_known',
                                  return_value=True):
            ex._refresh_constraints(force=force, hosts=set(started))
        return ex, names, listed

    def test_large_cloud_reads_the_started_hosts_only(self):
        ex, names, listed = self._refresh(50, ['c01', 'c00'])
        self.assertEqual(['c00', 'c01'], listed)
        self.assertEqual('disabled', ex.services['c01']['status'])
        self.assertEqual('enabled', ex.services['c02']['status'])
        self.assertNotIn('c00', ex._targets()[1])

    def test_maintained_hosts_read_at_the_next_refresh(self):
        # Enabled again after its maintenance: its compute is read by
        # itself at the next pass (no listing of every compute).
        ex, names, listed = self._refresh(50, [], enabled=['c07'],
                                          force=False)
        self.assertEqual(['c07'], listed)
        self.assertEqual(set(), ex.enabled_hosts)
        ex, names, listed = self._refresh(10, [], enabled=['c07'],
                                          force=False)
        self.assertEqual([None], listed)

    def test_small_cloud_or_many_hosts_read_every_compute(self):
        _ex, _names, listed = self._refresh(30, ['c00', 'c01'])
        self.assertEqual([None], listed)
        _ex, _names, listed = self._refresh(50, ['c00'] * 1 + ['c01',
                                                               'c02'])
        self.assertEqual([None], listed)


class HostStepsTest(test_readiness.BookTestCase):
    """Book.host_steps from its index by host: the steps a scan of every
    step finds, in the same order, through marks, steps added at run time
    and a plan made again."""

    PLAN = {'waves': [
        {'index': 0, 'hosts': ['c1', 'c2'], 'moves': [
            {'instance_id': 'i1', 'source': 'c1', 'target': 'c3',
             'kind': st.LIVE_MIGRATE, 'project_id': 'p1'},
            {'instance_id': 'i2', 'source': 'c2', 'target': 'c3',
             'kind': st.LIVE_MIGRATE, 'project_id': 'p1'}]},
        {'index': 1, 'hosts': ['c3'], 'moves': [
            {'instance_id': 'i3', 'source': 'c3', 'target': 'c1',
             'kind': st.LIVE_MIGRATE, 'project_id': 'p1'}]}]}

    def check(self, book):
        for host in ('c1', 'c2', 'c3', 'c9'):
            scanned = [r for r in book._by_key.values()
                       if r['host'] == host and
                       r['state'] != st.STEP_CANCELLED]
            self.assertEqual(scanned, book.host_steps(host), host)

    def test_same_as_a_scan(self):
        b = self.book
        self.check(b)
        b.mark(st.STEP_DISABLE_COMPUTE, 'c1')
        b.mark(st.STEP_NOTIFY_INSTANCE, 'c1', 'i1')
        # An instance that came to c1: its event and move added.
        b.mark(st.STEP_NOTIFY_INSTANCE, 'c1', 'i9')
        b.mark(st.STEP_MOVE, 'c1', 'i9', 'start')
        self.check(b)
        self.assertIn('i9', [s['instance_id'] for s in b.host_steps('c1')])
        # c2 is planned again: its pending steps cancelled, new ones.
        b.cancel_pending('c2', why='planned again')
        self.assertEqual([], b.host_steps('c2'))
        b.add(plan_steps.nfv_plan_steps({'waves': [
            {'index': 2, 'hosts': ['c2'], 'moves': [
                {'instance_id': 'i2', 'source': 'c2', 'target': 'c1',
                 'kind': st.LIVE_MIGRATE, 'project_id': 'p1'}]}]}, {}, []))
        self.check(b)
        self.assertEqual(['c1'], [s['target'] for s in b.host_steps('c2')
                                  if s['kind'] == st.STEP_MOVE])
        self.check(plan_steps.Book(self.sid))
