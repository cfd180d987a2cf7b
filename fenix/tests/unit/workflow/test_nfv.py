# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The ``nfv`` workflow: real DB, real session runner, a fake cloud and
fake managers that answer per instance through the engine's API."""
import collections
import datetime
import threading
import time
from unittest import mock
from urllib import parse as urlparse

import fixtures
from oslo_db import exception as db_exc
import sqlalchemy

from fenix.common import context
from fenix.common import exception
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.db.sqlalchemy import models
from fenix.engine import manager
from fenix.engine import runner as session_runner
from fenix.tests import base
from fenix.tests.unit.workflow import fakes
from fenix.workflow.executor import common as executor_common
from fenix.workflow.executor import hosts as executor_hosts
from fenix.workflow.executor import loop as executor_loop
from fenix.workflow.executor import moves as executor_moves
from fenix.workflow import nfv_plan
from fenix.workflow import plugins
from fenix.workflow import session_flow
from fenix.workflow import steps as plan_steps
from fenix.workflow.workflows import nfv


class InstanceVNFM(object):
    """A manager answering per-instance events (the ``vnf`` way).

    ``actions``: {instance_id: action}, default MIGRATE; ``silent``: a set
    of events never answered; ``nack``: instance ids refused. ``answered``
    lists the payloads whose answer Fenix took, ``refused`` the (payload,
    409 message) of those it refused (a real manager's error does not
    reach Fenix's notifier either).
    """

    def __init__(self, cloud, notifier, project_id, actions=None,
                 silent=(), nack=(), on_event=None):
        self.cloud = cloud
        self.project_id = project_id
        self.actions = dict(actions or {})
        self.silent = set(silent)
        self.nack = set(nack)
        self.on_event = on_event
        self.events = []
        self.done = []
        self.answered = []
        self.refused = []
        self.engine = manager.EngineManager(notifier, host='test-engine')
        self.ctx = context.get_admin_context()
        notifier.vnfms[project_id] = self
        cloud.managers.add(project_id)

    def __call__(self, payload):
        event = payload['state']
        self.events.append(payload)
        if event == st.INSTANCE_ACTION_DONE:
            self.done.extend(payload['instance_ids'])
            return
        if self.on_event:
            self.on_event(payload, self)
        if event in self.silent:
            return
        sid = payload['session_id']
        if isinstance(payload['instance_ids'], list):
            iid = payload['instance_ids'][0]
            if iid in self.nack:
                body = {'state': 'NACK_' + event}
            else:
                body = {'state': 'ACK_' + event,
                        'instance_action': self.actions.get(iid,
                                                            st.MIGRATE)}
            try:
                self.engine.project_instance_reply(self.ctx, sid,
                                                   self.project_id, iid,
                                                   body)
            except exception.ReplyConflict as e:
                self.refused.append((payload, str(e)))
                return
        else:
            self.engine.project_reply(self.ctx, sid, self.project_id,
                                      {'state': 'ACK_' + event})
        self.answered.append(payload)


class Watch(object):
    """Counts members of each group moving at once (and recovering)."""

    def __init__(self, cloud, delay=0.05):
        self.cloud = cloud
        self.delay = delay
        self.lock = threading.Lock()
        self.group_of = {}
        self.moving = collections.Counter()
        self.peak = collections.Counter()
        self.ends = collections.defaultdict(list)
        self.starts = collections.defaultdict(list)
        self.concurrent = 0
        self.peak_concurrent = 0
        cloud.move_hook = self.hook

    def hook(self, sid, kind, host):
        gid = self.group_of.get(sid)
        with self.lock:
            self.concurrent += 1
            self.peak_concurrent = max(self.peak_concurrent,
                                       self.concurrent)
            if gid:
                self.moving[gid] += 1
                self.peak[gid] = max(self.peak[gid], self.moving[gid])
                self.starts[gid].append(time.monotonic())
        time.sleep(self.delay)
        with self.lock:
            self.concurrent -= 1
            if gid:
                self.moving[gid] -= 1
                self.ends[gid].append(time.monotonic())
        return None


class NFVTestBase(fakes.FakeCloudTestCase):
    """A fake cloud and the helpers of the nfv tests (no tests)."""

    def setUp(self):
        super().setUp()
        self.config(group='workflow', own_action_timeout=5)
        # Short windows, yet long enough for a fake manager's immediate
        # answer on a loaded machine: one later than its deadline is
        # refused (409) and the instance treated as silent.
        for event in ('maintenance', 'prepare_maintenance',
                      'planned_maintenance', 'maintenance_complete',
                      'scale_in'):
            self.config(group='workflow',
                        **{'reply_window_%s' % event: 2})

    # --- helpers ------------------------------------------------------------
    def create(self, options=None, workflow='nfv', plugins=()):
        opts = dict(options or {})
        opts.setdefault('requested_hosts', [])
        session = db_api.session_create({
            'workflow': workflow, 'state': st.MAINTENANCE,
            'maintenance_at': timeutils.utcnow(),
            'meta': {'openstack_version': 'Train'}, 'options': opts,
            'download': [],
            'action_plugins': [{'plugin': 'dummy', 'type': t, 'meta': {}}
                               for t in plugins]})
        return session['session_id']

    def run_session(self, sid):
        runner = session_runner.SessionRunner(sid, self.notifier)
        runner._run()
        return db_api.session_get(sid)

    def history(self, sid):
        return [e['message'] or '' for e in db_api.events_get(sid)]

    def assertInHistory(self, sid, text):
        for message in self.history(sid):
            if text in message:
                return message
        self.fail('%r not in history:\n%s' % (text,
                                              '\n'.join(self.history(sid))))

    def assertDone(self, session):
        self.assertEqual(st.MAINTENANCE_DONE, session['state'],
                         session.get('error'))
        self.assertEqual([], self.notifier.violations)
        for name, host in self.cloud.hosts.items():
            self.assertEqual('enabled', host['status'], name)

    def group(self, gid, members, project='p1', anti=False, budget=1,
              recovery=0, per_host=0, lead=0, mtype=st.MIGRATE, mit=None):
        db_api.instance_group_constraint_put(gid, {
            'project_id': project, 'group_name': gid,
            'anti_affinity_group': anti, 'max_instances_per_host': per_host,
            'max_impacted_members': budget, 'recovery_time': recovery,
            'resource_mitigation': True})
        for iid in members:
            db_api.instance_constraint_put(iid, {
                'project_id': project, 'group_id': gid,
                'instance_name': iid, 'max_interruption_time': mit,
                'migration_type': mtype, 'resource_mitigation': True,
                'lead_time': lead})

    def doctor(self, hosts=4, recovery=0.2):
        """Doctor-style: an active/standby pair (anti-affinity, budget 1)
        and four non-redundant members (budget 2) on ``hosts`` hosts of
        four slots."""
        for n in range(hosts):
            self.cloud.add_host('c%d' % n, vcpus=8, ram=16384, disk=160)
        self.cloud.add_server('ha0', 'c0', floating_ip=True)
        self.cloud.add_server('ha1', 'c1')
        self.cloud.add_server('na0', 'c0')
        self.cloud.add_server('na1', 'c1')
        self.cloud.add_server('na2', 'c2')
        self.cloud.add_server('na3', 'c2')
        self.cloud.add_group('ha', 'anti-affinity', ['ha0', 'ha1'])
        self.group('ha', ['ha0', 'ha1'], anti=True, budget=1,
                   recovery=recovery, per_host=1, mit=600)
        self.group('nonha', ['na0', 'na1', 'na2', 'na3'], budget=2,
                   recovery=recovery, mit=600)
        watch = Watch(self.cloud)
        watch.group_of.update({'ha0': 'ha', 'ha1': 'ha', 'na0': 'nonha',
                               'na1': 'nonha', 'na2': 'nonha',
                               'na3': 'nonha'})
        return watch


class NFVTest(NFVTestBase):

    # --- tests --------------------------------------------------------------
    def test_plugin_names(self):
        self.assertIs(nfv.NFVWorkflow, plugins.workflow_class('nfv'))
        self.assertIs(nfv.NFVWorkflow, plugins.workflow_class('vnf'))

    def _peer_moved_onto_the_target(self, workflow):
        """'a' (on c1, the session's one host) and 'b' (on c4, outside
        it) are an anti-affinity pair of Fenix's constraints (not a Nova
        server group: Nova lets them share a host). Just before 'a' is
        moved, 'b' is moved (by another session, say) onto the host
        chosen for 'a', after the session's model read where 'b' was:
        'a' must still end on another host than 'b'."""
        self.cloud.add_host('c1')
        self.cloud.add_host('c2')
        self.cloud.add_host('c3')
        self.cloud.add_host('c4')
        self.cloud.add_server('a', 'c1')
        self.cloud.add_server('b', 'c4')
        self.group('pair', ['a', 'b'], anti=True, budget=1)
        if workflow == 'nfv':
            InstanceVNFM(self.cloud, self.notifier, 'p1')
        else:
            fakes.FakeVNFM(self.cloud, self.notifier, 'p1')
        real_move = self.cloud.move
        chosen = []

        def move(server_id, kind, host=None, source=None, apart_from=()):
            if server_id == 'a' and not chosen:
                chosen.append(host)
                with self.cloud.lock:
                    self.cloud.servers_['b']['host'] = host
            return real_move(server_id, kind, host, source, apart_from)

        self.cloud.move = move
        sid = self.create({'requested_hosts': ['c1']}, workflow=workflow)
        self.assertDone(self.run_session(sid))
        servers = {s['id']: s['host'] for s in self.cloud.servers()}
        self.assertEqual(chosen, [servers['b']])
        self.assertNotIn(servers['a'], ('c1', servers['b']))
        self.assertIn(('peer_on_target', 'a', chosen[0], 'b'),
                      self.cloud.calls)
        self.assertEqual(1, len(self.cloud.moves), self.cloud.moves)
        self.assertInHistory(sid, 'instance b of its anti-affinity group '
                                  'is on %s now' % chosen[0])

    def test_nfv_peer_moved_onto_the_target_is_not_joined(self):
        self._peer_moved_onto_the_target('nfv')

    def test_default_peer_moved_onto_the_target_is_not_joined(self):
        self._peer_moved_onto_the_target('default')

    def test_repeated_instance_replies_are_refused(self):
        """Every earlier answer, sent again whenever a new event comes
        (retries, late), is refused; each instance moves on its own
        answer."""
        self.doctor()
        outcomes = []

        def repeat(payload, vnfm):
            # Events go out from several workers at once: only answers
            # already taken are repeated.
            for old in list(vnfm.answered):
                if old['state'] not in (st.PREPARE_MAINTENANCE,
                                        st.PLANNED_MAINTENANCE):
                    continue
                iid = old['instance_ids'][0]
                try:
                    vnfm.engine.project_instance_reply(
                        vnfm.ctx, old['session_id'], 'p1', iid,
                        {'state': 'ACK_' + old['state'],
                         'instance_action': st.LIVE_MIGRATE},
                        event_id=old['event_id'])
                    outcomes.append('applied')
                except exception.ReplyConflict:
                    outcomes.append('refused')

        vnfm = InstanceVNFM(self.cloud, self.notifier, 'p1',
                            on_event=repeat)
        sid = self.create()
        session = self.run_session(sid)
        self.assertDone(session)
        moves = [e for e in vnfm.events
                 if e['state'] in (st.PREPARE_MAINTENANCE,
                                   st.PLANNED_MAINTENANCE)]
        self.assertEqual(6, len({e['instance_ids'][0] for e in moves}))
        self.assertEqual([], vnfm.refused)
        self.assertTrue(outcomes)
        self.assertEqual({'refused'}, set(outcomes))
        # One applied answer per event, each to its own event.
        replies = [e for e in db_api.events_get(sid)
                   if e['kind'] == st.EVENT_REPLY and e['instance_id']]
        self.assertEqual(sorted(e['event_id'] for e in moves),
                         sorted(e['data']['event_id'] for e in replies))
        # The repeats asked for live migration: none was applied.
        self.assertEqual({st.MIGRATE}, {m[1] for m in self.cloud.moves})

    def test_restart_keeps_instance_events_and_their_ids(self):
        """An engine stops while a per-instance event waits for its
        answer; the answer comes meanwhile (naming the event). The next
        engine does not send it again and takes the answer."""
        for event in ('prepare_maintenance', 'planned_maintenance'):
            self.config(group='workflow',
                        **{'reply_window_%s' % event: 60})
        self.doctor()
        vnfm = InstanceVNFM(self.cloud, self.notifier, 'p1',
                            silent={st.PREPARE_MAINTENANCE,
                                    st.PLANNED_MAINTENANCE})
        sid = self.create()
        runner = session_runner.SessionRunner(sid, self.notifier)
        runner.start()

        def told():
            return [i for i in db_api.instances_get(sid)
                    if i['event'] in (st.PREPARE_MAINTENANCE,
                                      st.PLANNED_MAINTENANCE)]

        deadline = time.monotonic() + 20
        while not told() and time.monotonic() < deadline:
            runner.join(0.01)
        runner.stop(session_runner.STOP_SHUTDOWN, timeout=20)
        self.assertFalse(runner.is_alive())
        rows = told()
        row = rows[0]
        iid, event, eid = row['instance_id'], row['event'], row['event_id']
        sent = [e for e in vnfm.events if e['instance_ids'] == [iid]]
        self.assertEqual([eid], [e['event_id'] for e in sent])
        vnfm.silent = set()
        # Every event out gets its answer (else the next engine waits for
        # their deadlines).
        for told_row in rows:
            vnfm.engine.project_instance_reply(
                vnfm.ctx, sid, 'p1', told_row['instance_id'],
                {'state': st.ack(told_row['event']),
                 'instance_action': st.LIVE_MIGRATE},
                event_id=told_row['event_id'])
        self.assertDone(self.run_session(sid))
        # Not sent again; its answer (live migration, where the planner
        # would have chosen a cold one) was taken.
        sent = [e for e in vnfm.events if e['instance_ids'] == [iid] and
                e['state'] == event]
        self.assertEqual(eid, sent[0]['event_id'])
        self.assertEqual(1, len([e for e in sent
                                 if e['event_id'] == eid]))
        moves = [m for m in self.cloud.moves if m[0] == iid]
        self.assertEqual(st.LIVE_MIGRATE, moves[0][1])
        self.assertNotIn('instance %s on' % iid,
                         ' '.join(m for m in self.history(sid)
                                  if 'did not answer' in m))

    def test_per_instance_run(self):
        watch = self.doctor()
        vnfm = InstanceVNFM(self.cloud, self.notifier, 'p1')
        sid = self.create(plugins=('pre', 'host', 'post'))
        session = self.run_session(sid)
        self.assertDone(session)
        # Every compute maintained once, each only when empty.
        downs = [h for h, s in self.notifier.host_events
                 if s == st.IN_MAINTENANCE]
        self.assertEqual(['c0', 'c1', 'c2', 'c3'], sorted(downs))
        # One event per instance, instance_ids = [id], reply_url its URL.
        moves = [e for e in vnfm.events
                 if e['state'] in (st.PREPARE_MAINTENANCE,
                                   st.PLANNED_MAINTENANCE)]
        self.assertEqual(6, len({e['instance_ids'][0] for e in moves}))
        for e in moves:
            self.assertEqual(1, len(e['instance_ids']))
            url = urlparse.urlsplit(e['reply_url'])
            self.assertTrue(url.path.endswith(
                '/p1/%s' % e['instance_ids'][0]))
            # The URL names the event.
            self.assertEqual({'event_id': [e['event_id']]},
                             urlparse.parse_qs(url.query))
        self.assertEqual(len(moves), len({e['event_id'] for e in moves}))
        self.assertEqual(['ha0', 'ha1', 'na0', 'na1', 'na2', 'na3'],
                         sorted(set(vnfm.done)))
        # Budgets held, recovery time respected.
        self.assertLessEqual(watch.peak['ha'], 1)
        self.assertLessEqual(watch.peak['nonha'], 2)
        starts, ends = sorted(watch.starts['ha']), sorted(watch.ends['ha'])
        self.assertGreaterEqual(len(starts), 2)
        for k in range(1, len(starts)):
            self.assertGreaterEqual(starts[k] - ends[k - 1], 0.2)
        rows = {i['instance_id']: i for i in db_api.instances_get(sid)}
        self.assertEqual({st.MIGRATE}, {r['action'] for r in rows.values()})
        self.assertEqual({st.ACTION_DONE},
                         {r['action_state'] for r in rows.values()})
        # Anti-affinity held on every target.
        self.assertNotEqual(self.cloud.servers_['ha0']['host'],
                            self.cloud.servers_['ha1']['host'])
        plan = session['plan']['nfv']
        self.assertTrue(plan['feasible'])
        self.assertGreaterEqual(len(plan['waves']), 1)
        self.assertIn('lower_bound', plan)

    def test_host_start_commits_once_after_disabling(self):
        """Between disabling a host's nova-compute and its instances'
        events, a host start commits once (the history entry, the host's
        EMPTYING state, its disable step and the start decision together;
        three commits before)."""
        self.doctor()
        InstanceVNFM(self.cloud, self.notifier, 'p1')
        sid = self.create()
        local = threading.local()
        after = []
        disable = self.cloud.disable_compute

        def counted_disable(host, reason):
            local.commits = 0
            return disable(host, reason)

        def on_commit(conn):
            if getattr(local, 'commits', None) is not None:
                local.commits += 1
        begin = executor_hosts.HostsMixin._begin_host

        def counted_begin(executor, hostname, jobs):
            local.commits = None
            try:
                return begin(executor, hostname, jobs)
            finally:
                after.append((hostname, local.commits))
                local.commits = None
        self.cloud.disable_compute = counted_disable
        engine = db_api.get_engine()
        sqlalchemy.event.listen(engine, 'commit', on_commit)
        self.addCleanup(sqlalchemy.event.remove, engine, 'commit',
                        on_commit)
        with mock.patch.object(executor_hosts.HostsMixin, '_begin_host',
                               counted_begin):
            session = self.run_session(sid)
        self.assertDone(session)
        self.assertEqual(['c0', 'c1', 'c2', 'c3'],
                         sorted(h for h, _n in after))
        self.assertEqual({1}, {n for _h, n in after}, after)
        self.assertInHistory(sid, 'nova-compute disabled on c0')
        self.assertInHistory(sid, 'host c0 (wave')

    def test_deadlock_victims_recorded_again(self):
        """The database (MariaDB) chooses a move's start and another
        move's end as deadlock victims: each transaction runs again, the
        book of steps put back what the failed one had written; the
        session ends DONE with every instance moved once."""
        self.doctor()
        InstanceVNFM(self.cloud, self.notifier, 'p1')
        sid = self.create()
        mark = plan_steps.Book.mark
        victims = {'start': 1, 'done': 1}
        chosen = []

        def deadlocking(book, kind, host=None, instance_id=None,
                        event='done', **kwargs):
            row = mark(book, kind, host, instance_id, event, **kwargs)
            if kind == st.STEP_MOVE and victims.get(event):
                # The step was written (and indexed): the database chose
                # the transaction as a victim at a later statement.
                victims[event] -= 1
                chosen.append((event, instance_id))
                raise db_exc.DBDeadlock()
            return row
        with mock.patch.object(plan_steps.Book, 'mark', deadlocking):
            session = self.run_session(sid)
        self.assertDone(session)
        self.assertEqual(['done', 'start'], sorted(e for e, _i in chosen))
        # One move in Nova per move step done, each its first attempt:
        # nothing moved again for a transaction the database undid.
        done = [s for s in db_api.steps_get(sid, kind=st.STEP_MOVE)
                if s['state'] == st.STEP_DONE]
        self.assertEqual(len(self.cloud.moves), len(done))
        self.assertEqual({1}, {s['attempt'] for s in done})
        self.assertEqual(
            sorted((s['instance_id'], s['host']) for s in done),
            sorted((m[0], m[2]) for m in self.cloud.moves))

    def test_host_emptiness_asked_once_by_a_worker(self):
        """Whether an emptied host is empty is asked of Nova once per
        host, by a worker: never by the loop (whose pass, with the moves
        of the replies it handles, would wait for the answer), nor a
        second time right before its maintenance."""
        self.doctor()
        InstanceVNFM(self.cloud, self.notifier, 'p1')
        sid = self.create()
        asked = collections.defaultdict(list)
        servers = self.cloud.servers

        def watched(*args, **kwargs):
            if kwargs.get('host'):
                asked[kwargs['host']].append(
                    threading.current_thread().name)
            return servers(*args, **kwargs)
        self.cloud.servers = watched
        downs = []
        maintain = executor_hosts.HostsMixin._maintain

        def watched_maintain(executor, hostname, checked=False):
            downs.append((hostname, len(asked[hostname])))
            return maintain(executor, hostname, checked=checked)
        with mock.patch.object(executor_hosts.HostsMixin, '_maintain',
                               watched_maintain):
            session = self.run_session(sid)
        self.assertDone(session)
        self.assertEqual(['c0', 'c1', 'c2', 'c3'],
                         sorted(h for h, _n in downs))
        main = threading.current_thread().name
        for hostname, count in downs:
            # Before its maintenance: read when the host was started (by
            # the loop: its placement depends on it), then once by a
            # worker once it was emptied.
            threads = asked[hostname][:count]
            self.assertEqual(2, count, (hostname, threads))
            self.assertEqual(main, threads[0])
            self.assertTrue(threads[1].startswith('nfv-host-'), threads)

    def test_started_host_computes_read_after_its_step(self):
        """A started host's computes are read again before its first
        move, but after the pass that steps its jobs first (its events
        need none of it; its first move is a reply later)."""
        self.doctor()
        InstanceVNFM(self.cloud, self.notifier, 'p1')
        sid = self.create()
        order = []
        services = self.cloud.compute_services

        def listed(*args, **kwargs):
            if not kwargs.get('host'):
                order.append(('listed', None))
            return services(*args, **kwargs)
        self.cloud.compute_services = listed

        def watch(cls, name, record):
            method = getattr(cls, name)

            def watched(executor, *args, **kwargs):
                order.append(record(*args))
                return method(executor, *args, **kwargs)
            self.useFixture(fixtures.MockPatchObject(cls, name, watched))
        watch(executor_hosts.HostsMixin, '_started',
              lambda future, hostname: ('started', hostname))
        watch(executor_loop.Executor, '_step', lambda: ('step', None))
        watch(executor_moves.MovesMixin, '_start_move',
              lambda job, *a: ('move', job.host))
        # Only the reads a start asks for (none each second).
        self.useFixture(fixtures.MockPatchObject(
            executor_common, 'CONSTRAINTS_REFRESH', 3600))
        session = self.run_session(sid)
        self.assertDone(session)
        checked = 0
        for k, (what, hostname) in enumerate(order):
            if what != 'started' or ('move', hostname) not in order[k:]:
                continue
            rest = order[k + 1:]
            step = rest.index(('step', None))
            self.assertNotIn(('listed', None), rest[:step], order)
            move = rest.index(('move', hostname))
            self.assertIn(('listed', None), rest[step:move], order)
            checked += 1
        self.assertEqual(3, checked, order)

    def test_instance_actions_and_silent(self):
        self.doctor()
        vnfm = InstanceVNFM(self.cloud, self.notifier, 'p1',
                            actions={'ha0': st.LIVE_MIGRATE})
        # The standby manager of p2 never answers per-instance events.
        self.cloud.add_server('x0', 'c3', project='p2')
        db_api.instance_constraint_put('x0', {
            'project_id': 'p2', 'group_id': None, 'instance_name': 'x0',
            'migration_type': st.LIVE_MIGRATE, 'lead_time': 0})
        InstanceVNFM(self.cloud, self.notifier, 'p2',
                     silent={st.PREPARE_MAINTENANCE,
                             st.PLANNED_MAINTENANCE})
        sid = self.create()
        session = self.run_session(sid)
        self.assertDone(session)
        kinds = {m[0]: m[1] for m in self.cloud.moves}
        self.assertEqual(st.LIVE_MIGRATE, kinds['ha0'])
        self.assertEqual(st.LIVE_MIGRATE, kinds['x0'])
        self.assertEqual(st.MIGRATE, kinds['na0'])
        self.assertInHistory(sid, 'project p2 did not answer')
        self.assertIn('ha0', vnfm.done)
        # A move keeps what the sync recorded of the instance.
        for row in db_api.instances_get(sid):
            self.assertIn('flavor', row['details'] or {}, row)
            self.assertIn('move_from', row['details'] or {}, row)

    def test_failed_target_is_replaced_by_the_model_not_nova(self):
        for name in ('c1', 'c2', 'c3'):
            self.cloud.add_host(name)
        self.cloud.add_server('a', 'c1')
        InstanceVNFM(self.cloud, self.notifier, 'p1')
        refused = []

        def refuse_first(server_id, kind, host):
            if not refused:
                refused.append(host)
                return {'ok': False, 'host': None, 'attempts': 1,
                        'message': 'No valid host was found. (%s)' % host}
            return None

        self.cloud.move_hook = refuse_first
        sid = self.create()
        self.assertDone(self.run_session(sid))
        asked = [c[3] for c in self.cloud.calls if c[0] == 'move']
        # Every request named a target: Nova never chose.
        self.assertNotIn(None, asked)
        self.assertEqual(refused, asked[:1])
        (iid, _kind, source, target), = self.cloud.moves
        self.assertEqual(('a', 'c1'), (iid, source))
        self.assertNotEqual(refused[0], target)
        self.assertInHistory(sid, 'it is placed again on another host')

    def test_target_disabled_meanwhile_is_placed_again_at_once(self):
        for name in ('c1', 'c2', 'c3'):
            self.cloud.add_host(name)
        self.cloud.add_server('a', 'c1')
        self.cloud.add_server('b', 'c1')
        InstanceVNFM(self.cloud, self.notifier, 'p1')
        dead = self.cloud.disable_first_target()
        sid = self.create()
        session = self.run_session(sid)
        self.assertEqual(st.MAINTENANCE_DONE, session['state'],
                         session.get('error'))
        self.assertEqual([], self.notifier.violations)
        asked = [c[1:4:2] for c in self.cloud.calls if c[0] == 'move']
        # At most one request of each move to the dead target (both may
        # be in flight at once), none where Nova would choose.
        for iid in ('a', 'b'):
            self.assertLessEqual(asked.count((iid, dead[0])), 1, asked)
        self.assertNotIn(None, [t for _i, t in asked])
        self.assertEqual({'a', 'b'}, {m[0] for m in self.cloud.moves})
        for _iid, _kind, source, target in self.cloud.moves:
            self.assertEqual('c1', source)
            self.assertNotEqual(dead[0], target)
        # Its compute was read at once (not at the next listing) and the
        # decision is in the history.
        self.assertIn(('compute_services', 'nova-compute', dead[0]),
                      self.cloud.calls)
        self.assertInHistory(sid, 'refused by Nova at once, its '
                                  'nova-compute is disabled')
        # Another's: left disabled; every other host enabled again.
        for name, host in self.cloud.hosts.items():
            self.assertEqual('disabled' if name == dead[0] else 'enabled',
                             host['status'], name)

    def test_no_target_left_after_a_refusal_fails_clearly(self):
        self.cloud.add_host('c1')
        self.cloud.add_host('c2')
        self.cloud.add_server('a', 'c1')
        InstanceVNFM(self.cloud, self.notifier, 'p1')
        dead = self.cloud.disable_first_target()
        sid = self.create()
        session = self.run_session(sid)
        self.assertEqual(['c2'], dead)
        self.assertEqual(st.MAINTENANCE_FAILED, session['state'])
        self.assertIn('fit on no available host any more', session['error'])
        asked = [c[3] for c in self.cloud.calls if c[0] == 'move']
        self.assertEqual(['c2'], asked)
        self.assertEqual([], self.cloud.moves)

    def test_member_without_room_fails_the_session_not_hangs(self):
        # a and b share a budget of one; once a is told, its room on c2 is
        # taken by a new server: a has nowhere to go and holds the budget
        # b waits for. Nothing in flight can change that: a clear failure,
        # never a session that waits for good.
        self.cloud.add_host('c1')
        self.cloud.add_host('c2')
        self.cloud.add_server('a', 'c1', vcpus=1, ram=1024)
        self.cloud.add_server('b', 'c1', vcpus=1, ram=1024)
        self.group('g', ['a', 'b'], budget=1)

        def fill_c2(payload, vnfm):
            if payload['state'] in (st.PREPARE_MAINTENANCE,
                                    st.PLANNED_MAINTENANCE) and \
                    'x' not in self.cloud.servers_:
                self.cloud.add_server('x', 'c2', project='p9', vcpus=4,
                                      ram=8192)

        InstanceVNFM(self.cloud, self.notifier, 'p1', on_event=fill_c2)
        sid = self.create()
        session = self.run_session(sid)
        self.assertEqual(st.MAINTENANCE_FAILED, session['state'])
        self.assertIn('fit on no available host any more', session['error'])
        self.assertIn("wait(s) for their group's budget held by them",
                      session['error'])
        self.assertEqual([], self.cloud.moves)
        for name, host in self.cloud.hosts.items():
            self.assertEqual('enabled', host['status'], name)

    def _silent_own_action(self, options=None):
        for name in ('c1', 'c2'):
            self.cloud.add_host(name)
        self.cloud.add_server('a', 'c1')
        db_api.instance_constraint_put('a', {
            'project_id': 'p1', 'group_id': None, 'instance_name': 'a',
            'migration_type': st.OWN_ACTION, 'lead_time': 0})
        InstanceVNFM(self.cloud, self.notifier, 'p1',
                     silent={st.PREPARE_MAINTENANCE,
                             st.PLANNED_MAINTENANCE})
        self.config(group='workflow', own_action_timeout=600)
        sid = self.create(options=dict(options or {}, reply_window=1))
        return sid, self.run_session(sid)

    def test_silent_manager_of_own_action_instance_moved(self):
        sid, session = self._silent_own_action()
        self.assertDone(session)
        self.assertEqual([('a', st.MIGRATE)],
                         [(m[0], m[1]) for m in self.cloud.moves])
        self.assertInHistory(sid, 'its constraint says OWN_ACTION but its '
                                  'manager was silent: silent_own_action '
                                  'move')

    def test_silent_manager_of_own_action_instance_skip_host(self):
        sid, session = self._silent_own_action(
            {'silent_own_action': 'skip_host'})
        self.assertDone(session)
        self.assertEqual([], self.cloud.moves)
        hosts = {h['hostname']: h for h in db_api.hosts_get(sid)}
        self.assertEqual(st.HOST_SKIPPED, hosts['c1']['state'])
        self.assertTrue(hosts['c2']['maintained'])
        self.assertInHistory(sid, "instance a must move by its manager's "
                                  'own action, but the manager was silent')
        for name, host in self.cloud.hosts.items():
            self.assertEqual('enabled', host['status'], name)

    def _compute_dies_when_disabled(self, comes_back):
        """c1 (holding a) goes down as its maintenance starts; it comes
        back once the executor said it waits for it (``comes_back``)."""
        for name in ('c1', 'c2'):
            self.cloud.add_host(name)
        self.cloud.add_server('a', 'c1')
        InstanceVNFM(self.cloud, self.notifier, 'p1')
        disable, services = (self.cloud.disable_compute,
                             self.cloud.compute_services)
        sid = self.create()

        def dying_disable(host, reason):
            disable(host, reason)
            self.cloud.hosts['c1']['state'] = 'down'

        def watched_services(*args, **kwargs):
            said = any('is down: its moves wait' in m
                       for m in self.history(sid))
            if comes_back and said:
                self.cloud.hosts['c1']['state'] = 'up'
            return services(*args, **kwargs)
        self.cloud.disable_compute = dying_disable
        self.cloud.compute_services = watched_services
        states = []
        self.cloud.move_hook = lambda server_id, kind, host: states.append(
            self.cloud.hosts['c1']['state'])
        return sid, states

    def test_move_waits_for_a_down_source_compute(self):
        sid, states = self._compute_dies_when_disabled(comes_back=True)
        session = self.run_session(sid)
        self.assertDone(session)
        self.assertInHistory(sid, 'nova-compute on c1 is down')
        # Moved, and only once c1 was up again.
        self.assertEqual(['up'], states)
        self.assertEqual('c2', self.cloud.servers_['a']['host'])

    def test_source_compute_down_too_long_fails_cleanly(self):
        self.config(group='workflow', migration_timeout=1)
        sid, states = self._compute_dies_when_disabled(comes_back=False)
        session = self.run_session(sid)
        self.assertEqual(st.MAINTENANCE_FAILED, session['state'])
        self.assertIn('nova-compute stayed down on c1', session['error'])
        self.assertEqual([], states)
        self.assertEqual('c1', self.cloud.servers_['a']['host'])
        for name, host in self.cloud.hosts.items():
            self.assertEqual('enabled', host['status'], name)

    def test_lead_time_respected(self):
        self.cloud.add_host('c0')
        self.cloud.add_host('c1')
        self.cloud.add_server('a', 'c0')
        self.group('g', ['a'], lead=1)
        InstanceVNFM(self.cloud, self.notifier, 'p1')
        seen = {}

        def hook(sid, kind, host):
            seen[sid] = timeutils.utcnow()
        self.cloud.move_hook = hook
        sid = self.create()
        session = self.run_session(sid)
        self.assertDone(session)
        event = [e for e in self.notifier.project_events
                 if e['state'] in (st.PREPARE_MAINTENANCE,
                                   st.PLANNED_MAINTENANCE)][0]
        sent = [e['created_at'] for e in db_api.events_get(sid)
                if e['kind'] == st.EVENT_NOTIFY and e['instance_id'] == 'a']
        self.assertTrue(event['reply_at'])
        self.assertGreaterEqual((seen['a'] - sent[0]).total_seconds(), 0.9)
        # The event announces when Fenix acts (after the lead time; here
        # the reply window equals it); it never acts earlier than
        # announced.
        self.assertLessEqual(event['actions_at'], event['reply_at'])
        # (The payload's times are in whole seconds.)
        self.assertGreaterEqual(
            (event['actions_at'] - sent[0].replace(microsecond=0))
            .total_seconds(), 0.9)
        self.assertGreaterEqual(seen['a'], event['actions_at'])

    def test_own_action(self):
        self.cloud.add_host('c0')
        self.cloud.add_host('c1')
        self.cloud.add_server('a', 'c0')
        self.group('g', ['a'], mtype=st.OWN_ACTION)

        def replace(payload, vnfm):
            if payload['state'] in (st.PREPARE_MAINTENANCE,
                                    st.PLANNED_MAINTENANCE):
                def later():
                    time.sleep(0.2)
                    self.cloud.delete_server('a')
                    self.cloud.add_server('a2', 'c1')
                threading.Thread(target=later).start()
        InstanceVNFM(self.cloud, self.notifier, 'p1',
                     actions={'a': st.OWN_ACTION}, on_event=replace)
        sid = self.create()
        session = self.run_session(sid)
        self.assertDone(session)
        self.assertEqual([], self.cloud.moves)
        self.assertInHistory(sid, 'instance a left c0 (OWN_ACTION): deleted')

    def test_restart_renews_and_releases_own_action_slot(self):
        """An engine stops while a manager moves its member (OWN_ACTION):
        the member's slot of its group's budget stays held for the
        other sessions; the next runner renews it and releases it once
        the member left."""
        self.cloud.add_host('c0')
        self.cloud.add_host('c1')
        self.cloud.add_server('a', 'c0')
        self.group('g', ['a'], mtype=st.OWN_ACTION)
        InstanceVNFM(self.cloud, self.notifier, 'p1',
                     actions={'a': st.OWN_ACTION})
        sid = self.create()
        runner = session_runner.SessionRunner(sid, self.notifier)
        runner.start()
        deadline = time.monotonic() + 20
        while not db_api.group_impacts_get('g') and \
                time.monotonic() < deadline:
            runner.join(0.01)
        runner.stop(session_runner.STOP_SHUTDOWN, timeout=20)
        self.assertFalse(runner.is_alive())
        before, = db_api.group_impacts_get('g')
        self.assertEqual(('a', None), (before['instance_id'],
                                       before['ends_at']))
        renewed = []
        real = db_api.group_impact_take

        def take(*args, **kwargs):
            result = real(*args, **kwargs)
            renewed.extend(db_api.group_impacts_get('g'))
            # The manager moves it once the new runner watches it.
            self.cloud.delete_server('a')
            self.cloud.add_server('a2', 'c1')
            return result

        with mock.patch.object(db_api, 'group_impact_take',
                               side_effect=take):
            self.assertDone(self.run_session(sid))
        self.assertEqual([(before['id'], 'a')],
                         [(r['id'], r['instance_id']) for r in renewed])
        self.assertEqual([], db_api.group_impacts_get('g'))

    def test_parallel_waves(self):
        # Eight hosts, half full: the planner maintains several at once.
        for n in range(8):
            self.cloud.add_host('c%d' % n)
        for n in range(4):
            self.cloud.add_server('v%d' % n, 'c%d' % n)
        InstanceVNFM(self.cloud, self.notifier, 'p1')
        sid = self.create()
        session = self.run_session(sid)
        self.assertDone(session)
        plan = session['plan']['nfv']
        self.assertLess(len(plan['waves']), 8)
        sid1 = self.create(options={'max_parallel_hosts': 1})
        session = self.run_session(sid1)
        self.assertDone(session)
        plan1 = session['plan']['nfv']
        self.assertTrue(all(len(w['hosts']) == 1 for w in plan1['waves']))

    def test_max_concurrent_migrations(self):
        for n in range(6):
            self.cloud.add_host('c%d' % n, vcpus=16, ram=32768, disk=320)
        for n in range(9):
            self.cloud.add_server('v%d' % n, 'c%d' % (n % 3))
        watch = Watch(self.cloud)
        InstanceVNFM(self.cloud, self.notifier, 'p1')
        sid = self.create(options={'max_concurrent_migrations': 2})
        self.assertDone(self.run_session(sid))
        self.assertLessEqual(watch.peak_concurrent, 2)

    def test_group_budget_shared_with_other_live_sessions(self):
        """Another live session (another cell) is moving a member of the
        pair: no member here gets its event (and so no move) before that
        move is done and its group's recovery_time has passed."""
        for n in range(3):
            self.cloud.add_host('c%d' % n)
        self.cloud.add_server('ha0', 'c0')
        self.cloud.add_server('ha1', 'c1')
        self.cloud.add_server('na0', 'c0')
        self.group('ha', ['ha0', 'ha1', 'hb'], anti=True, budget=1,
                   recovery=0.2)
        other = self.create()
        db_api.session_update(other, {'state': st.PLANNED_MAINTENANCE})
        db_api.instance_create_or_update(other, 'hb', {
            'project_id': 'p1', 'host': 'cell2-c0',
            'action': st.MIGRATE, 'action_state': st.ACTION_IN_PROGRESS})
        seen = []

        def other_state():
            row = db_api.instance_get(other, 'hb')
            return row['action_state'], row['updated_at']

        def at_event(payload, vnfm):
            if payload['state'] in (st.PREPARE_MAINTENANCE,
                                    st.PLANNED_MAINTENANCE) and \
                    isinstance(payload['instance_ids'], list) and \
                    payload['instance_ids'][0].startswith('ha'):
                seen.append((payload['instance_ids'][0], other_state(),
                             timeutils.utcnow()))

        vnfm = InstanceVNFM(self.cloud, self.notifier, 'p1',
                            on_event=at_event)
        real = db_api.instances_moving_elsewhere
        looks = []

        def moving_elsewhere(*args, **kwargs):
            rows = real(*args, **kwargs)
            looks.append([r['instance_id'] for r in rows])
            if len(looks) == 2:
                # The other session's move ends once this one has seen
                # it twice (and waited for it).
                db_api.instance_update(other, 'hb', {
                    'action_state': st.ACTION_DONE})
            return rows

        sid = self.create()
        with mock.patch.object(db_api, 'instances_moving_elsewhere',
                               side_effect=moving_elsewhere):
            session = self.run_session(sid)
        self.assertDone(session)
        self.assertEqual({'ha0', 'ha1'}, {s[0] for s in seen})
        for iid, (state, done_at), sent_at in seen:
            self.assertEqual(st.ACTION_DONE, state, iid)
            self.assertGreaterEqual((sent_at - done_at).total_seconds(),
                                    0.2, iid)
        self.assertEqual(['hb'], looks[0])
        self.assertEqual({'ha0', 'ha1', 'na0'},
                         {e['instance_ids'][0] for e in vnfm.events
                          if isinstance(e['instance_ids'], list)})

    def _run_sessions_at_once(self, sids):
        """Run the sessions ``sids`` at once, each in its own thread (as
        two engines would); returns their rows once all ended."""
        errors = []

        def run(sid):
            try:
                self.run_session(sid)
            except Exception as e:  # noqa - reported below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(sid,))
                   for sid in sids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual([], errors)
        return [db_api.session_get(sid) for sid in sids]

    def test_two_sessions_at_once_share_group_budget(self):
        """Two sessions on disjoint hosts run at once, each with one
        member of a pair whose budget is 1: the members never move
        together (the slot is taken in the database before a move), and
        the second waits for the first's recovery_time."""
        for n in range(4):
            self.cloud.add_host('c%d' % n)
        self.cloud.add_server('ha0', 'c0')
        self.cloud.add_server('ha1', 'c1')
        self.group('ha', ['ha0', 'ha1'], budget=1, recovery=0.3)
        watch = Watch(self.cloud, delay=0.4)
        watch.group_of.update({'ha0': 'ha', 'ha1': 'ha'})
        spans = []

        def hook(sid, kind, host):
            began = time.monotonic()
            watch.hook(sid, kind, host)
            spans.append((sid, began, time.monotonic()))

        self.cloud.move_hook = hook
        InstanceVNFM(self.cloud, self.notifier, 'p1')
        first = self.create(options={'requested_hosts': ['c0']})
        second = self.create(options={'requested_hosts': ['c1']})
        for session in self._run_sessions_at_once([first, second]):
            self.assertDone(session)
        self.assertEqual({'ha0', 'ha1'},
                         {m[0] for m in self.cloud.moves})
        self.assertEqual(1, watch.peak['ha'])
        # Each member's span in Nova, from its first request to its last
        # (a target refused at once is placed again: two requests).
        order = sorted(('ha0', 'ha1'), key=lambda iid: min(
            t for i, t, _e in spans if i == iid))
        ended = max(e for i, _t, e in spans if i == order[0])
        began = min(t for i, t, _e in spans if i == order[1])
        # The second began after the first ended and recovered.
        self.assertGreaterEqual(began - ended, 0.3)
        # Every slot released; what recovers is gone once recovered.
        for row in db_api.group_impacts_get('ha'):
            self.assertIsNotNone(row['ends_at'], row)

    def test_move_waits_for_slot_another_session_took(self):
        """A member told of its move finds its group's last slot taken
        by another session meanwhile (another engine's move): its move
        waits, and starts once that slot is released."""
        for n in range(3):
            self.cloud.add_host('c%d' % n)
        self.cloud.add_server('ha0', 'c0')
        self.group('ha', ['ha0', 'hb'], budget=1)
        other = self.create()
        db_api.session_update(other, {'state': st.PLANNED_MAINTENANCE})
        watch = Watch(self.cloud)
        watch.group_of['ha0'] = 'ha'

        def at_event(payload, vnfm):
            if payload.get('instance_ids') == ['ha0']:
                # Right after its event: the other session moves hb.
                self.assertTrue(db_api.group_impact_take(
                    'ha', 1, other, 'hb', 600)[0])

        InstanceVNFM(self.cloud, self.notifier, 'p1', on_event=at_event)
        real = db_api.group_impact_take
        refused = []
        released = []

        def take(group_id, budget, session_id, instance_id, *args,
                 **kwargs):
            ok, after = real(group_id, budget, session_id, instance_id,
                             *args, **kwargs)
            if not ok and instance_id == 'ha0':
                refused.append(time.monotonic())
                if len(refused) == 2:
                    db_api.group_impact_release(other, 'hb')
                    released.append(time.monotonic())
            return ok, after

        sid = self.create()
        with mock.patch.object(db_api, 'group_impact_take',
                               side_effect=take):
            self.assertDone(self.run_session(sid))
        self.assertEqual(2, len(refused))
        self.assertEqual(1, len(watch.starts['ha']))
        self.assertGreater(watch.starts['ha'][0], released[0])
        self.assertInHistory(sid, 'instance ha0 waits: its group ha')
        # Its own slot is free again (no recovery_time).
        self.assertEqual([], db_api.group_impacts_get('ha'))

    def test_member_waits_its_turn_behind_a_session_that_waited_first(self):
        """Another session (another engine) waited for the group's slot
        before this one and asks again only every 1.7 s: once the slot
        frees, this session's member is neither told of its move nor
        moved before that session took its turn and released it, however
        often this session looks (first come, first served)."""
        for n in range(3):
            self.cloud.add_host('c%d' % n)
        self.cloud.add_server('ha0', 'c0')
        self.group('ha', ['ha0', 'hb', 'hc'], budget=1)
        holder, first = self.create(), self.create()
        for other in (holder, first):
            db_api.session_update(other, {'state': st.PLANNED_MAINTENANCE})
        take = db_api.group_impact_take
        self.assertTrue(take('ha', 1, holder, 'hb', 600)[0])
        self.assertFalse(take('ha', 1, first, 'hc', 600)[0])
        watch = Watch(self.cloud)
        watch.group_of['ha0'] = 'ha'
        told = []

        def at_event(payload, vnfm):
            if payload.get('instance_ids') == ['ha0']:
                told.append(time.monotonic())

        InstanceVNFM(self.cloud, self.notifier, 'p1', on_event=at_event)
        # This session looks often (an idle pass every 0.1 s).
        self.useFixture(fixtures.MockPatchObject(executor_common,
                                                 'IDLE_WAIT', 0.1))
        timeline = {}
        stop = threading.Event()
        waiting = threading.Event()
        real = db_api.group_impacts_held

        def held(*args, **kwargs):
            # This session reads the budgets its member waits for.
            waiting.set()
            return real(*args, **kwargs)

        def other_engine():
            waiting.wait(30)
            stop.wait(0.3)
            db_api.group_impact_release(holder, 'hb')
            timeline['freed'] = time.monotonic()
            while not stop.wait(1.7):
                if take('ha', 1, first, 'hc', 600)[0]:
                    timeline['taken'] = time.monotonic()
                    stop.wait(0.3)
                    db_api.group_impact_release(first, 'hc')
                    timeline['released'] = time.monotonic()
                    return

        thread = threading.Thread(target=other_engine)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(stop.set)
        sid = self.create()
        with mock.patch.object(db_api, 'group_impacts_held',
                               side_effect=held):
            self.assertDone(self.run_session(sid))
        self.assertIn('released', timeline)
        self.assertEqual(1, len(watch.starts['ha']))
        self.assertGreater(told[0], timeline['released'])
        self.assertGreater(watch.starts['ha'][0], timeline['released'])
        # No place left in the queue, no slot held.
        self.assertEqual([], db_api.group_impacts_get('ha', waiting=True))
        self.assertEqual({}, db_api.group_impacts_held(['ha']))

    def test_group_slot_taken_with_the_move_start_or_not_at_all(self):
        """A member's slot of its group's budget is written in the
        transaction that records its move's start, and released in the
        one that records its end: a failure in recording the start
        leaves no slot taken (and Nova is not asked); a recorded start
        holds the slot when Nova is asked."""
        for n in range(3):
            self.cloud.add_host('c%d' % n)
        self.cloud.add_server('ha0', 'c0')
        self.cloud.add_server('ha1', 'c1')
        self.group('ha', ['ha0', 'ha1'], budget=1)
        InstanceVNFM(self.cloud, self.notifier, 'p1')
        real_mark = executor_moves.MovesMixin._mark_move
        real_finished = executor_moves.MovesMixin._move_finished
        failed = []
        seen = []
        asked = []

        def mark(executor, job, event, *args, **kwargs):
            if event == 'start' and not failed:
                failed.append(job.iid)
                raise RuntimeError('recording the start failed')
            return real_mark(executor, job, event, *args, **kwargs)

        def finished(executor, future, job):
            # In the loop, once the worker is done: what is committed.
            seen.append((job.iid, future.exception() is not None,
                         [r['instance_id'] for r in
                          db_api.group_impacts_get('ha')]))
            return real_finished(executor, future, job)

        def hook(iid, *args):
            # Nova is asked: the move's start and its slot are committed.
            asked.append((iid, [(r['instance_id'], r['ends_at'])
                                for r in db_api.group_impacts_get('ha')]))

        self.cloud.move_hook = hook
        sid = self.create()
        with mock.patch.object(executor_moves.MovesMixin, '_mark_move',
                               autospec=True, side_effect=mark), \
                mock.patch.object(executor_moves.MovesMixin,
                                  '_move_finished', autospec=True,
                                  side_effect=finished):
            self.run_session(sid)
        self.assertEqual(1, len(failed))
        # The failed start left no slot (the take was rolled back).
        self.assertEqual((failed[0], True, []), seen[0])
        self.assertNotIn(failed[0], [iid for iid, _rows in asked])
        # A move Nova was asked for held its slot, not yet released.
        for iid, rows in asked:
            self.assertEqual([(iid, None)], rows)
        # Every move that ended released its slot with its end.
        for iid, error, rows in seen[1:]:
            self.assertFalse(error)
            self.assertEqual([], rows)

    def test_stale_move_of_another_session_holds_no_budget(self):
        """A move another live session recorded in progress longer ago
        than migration_timeout (its engine is gone) does not hold the
        group's budget: the session does not wait for it for good."""
        self.config(group='workflow', migration_timeout=60)
        self.cloud.add_host('c0')
        self.cloud.add_host('c1')
        self.cloud.add_server('ha0', 'c0')
        self.group('ha', ['ha0', 'hb'], budget=1)
        other = self.create()
        db_api.session_update(other, {'state': st.PLANNED_MAINTENANCE})
        db_api.instance_create_or_update(other, 'hb', {
            'project_id': 'p1', 'host': 'cell2-c0',
            'action_state': st.ACTION_IN_PROGRESS})
        stale = timeutils.utcnow() - datetime.timedelta(seconds=61)
        with db_api.get_engine().begin() as conn:
            conn.execute(models.Instance.__table__.update().where(
                models.Instance.__table__.c.session_id == other).values(
                updated_at=stale))
        InstanceVNFM(self.cloud, self.notifier, 'p1')
        self.assertDone(self.run_session(self.create()))
        self.assertEqual(st.ACTION_IN_PROGRESS,
                         db_api.instance_get(other, 'hb')['action_state'])

    def test_nack_fails(self):
        self.cloud.add_host('c0')
        self.cloud.add_host('c1')
        self.cloud.add_server('a', 'c0')
        InstanceVNFM(self.cloud, self.notifier, 'p1', nack={'a'})
        sid = self.create()
        session = self.run_session(sid)
        self.assertEqual(st.MAINTENANCE_FAILED, session['state'])
        self.assertIn('refused', session['error'])
        for name, host in self.cloud.hosts.items():
            self.assertEqual('enabled', host['status'], name)
        self.assertEqual([], self.cloud.moves)

    def test_dry_run_touches_nothing(self):
        self.doctor()
        vnfm = InstanceVNFM(self.cloud, self.notifier, 'p1')
        sid = self.create(options={'dry_run': True})
        session = self.run_session(sid)
        self.assertEqual(st.MAINTENANCE_DONE, session['state'])
        self.assertEqual([], self.cloud.moves)
        self.assertEqual([], vnfm.events)
        self.assertEqual([], self.notifier.host_events)
        self.assertFalse([c for c in self.cloud.calls
                          if c[0] in ('disable_compute', 'move')])
        plan = session['plan']['dry_run']
        self.assertTrue(plan['feasible'])
        moves = [m for w in plan['waves'] for m in w['moves']]
        self.assertEqual(6, len({m['instance_id'] for m in moves}))
        for m in moves:
            for key in ('source', 'target', 'kind', 'start', 'end'):
                self.assertIn(key, m)
        self.assertIsNotNone(plan['lower_bound'])
        self.assertIsNotNone(plan['estimated_duration'])
        self.assertInHistory(sid, 'dry run')
        # The real run does what the dry run said: same hosts in the same
        # order of waves, the same instances moved the same way.
        sid2 = self.create()
        session2 = self.run_session(sid2)
        self.assertDone(session2)
        real = session2['plan']['nfv']
        self.assertEqual([w['hosts'] for w in plan['waves']],
                         [w['hosts'] for w in real['waves']])
        self.assertEqual(sorted((m['instance_id'], m['kind'], m['source'],
                                 m['target']) for m in moves),
                         sorted(self.cloud.moves))

    def test_estimates_drive_the_plan(self):
        self.doctor()
        InstanceVNFM(self.cloud, self.notifier, 'p1')
        fast = {'cold_migration': 2, 'live_migration': 2,
                'host_maintenance': 10}
        plans = {}
        for name, estimates in (('default', None), ('fast', fast)):
            options = {'dry_run': True}
            if estimates:
                options['estimates'] = estimates
            session = self.run_session(self.create(options=options))
            plans[name] = session['plan']['dry_run']
        # Planned with the planner's defaults (180 s moves, 900 s hosts)
        # a session takes far longer than with this cloud's estimates.
        self.assertGreaterEqual(plans['default']['lower_bound'], 900)
        self.assertLess(plans['fast']['estimated_duration'], 100)
        self.assertGreaterEqual(plans['fast']['estimated_duration'],
                                plans['fast']['lower_bound'])
        for m in [m for w in plans['fast']['waves'] for m in w['moves']]:
            self.assertLessEqual(m['end'] - m['start'], 2)

    def test_continue_does_not_repeat_moves(self):
        self.doctor()
        InstanceVNFM(self.cloud, self.notifier, 'p1')
        sid = self.create()
        calls = {'n': 0}
        real_maintain = nfv.NFVWorkflow._maintain

        def fail_once(wf, host):
            calls['n'] += 1
            if calls['n'] == 2:
                raise RuntimeError('host action crashed')
            return real_maintain(wf, host)
        with mock.patch.object(nfv.NFVWorkflow, '_maintain', fail_once):
            session = self.run_session(sid)
        self.assertEqual(st.MAINTENANCE_FAILED, session['state'])
        self.assertIn('host action crashed', session['error'])
        moved = collections.Counter(m[0] for m in self.cloud.moves)
        before = len(self.cloud.moves)
        # The admin continues the session from where it failed.
        db_api.session_update(sid, {'state': session['failed_state'],
                                    'error': None})
        session = self.run_session(sid)
        self.assertDone(session)
        for host in db_api.hosts_get(sid):
            self.assertTrue(host['maintained'], host)
        # Moves done before are not repeated: each instance that had
        # finished its moves off a host does not move off it again.
        again = [(m[0], m[2]) for m in self.cloud.moves[before:]]
        done = [(m[0], m[2]) for m in self.cloud.moves[:before]]
        self.assertEqual([], sorted(set(again) & set(done)))
        self.assertTrue(moved)


class TopologyTest(base.TestCase):

    def test_build(self):
        hyper = [{'hostname': 'c0', 'vcpus': 4, 'memory_mb': 8192,
                  'local_gb': 80},
                 {'hostname': 'c1', 'vcpus': 4, 'memory_mb': 8192,
                  'local_gb': 80}]
        services = [{'host': 'c0', 'status': 'enabled', 'state': 'up'},
                    {'host': 'c1', 'status': 'disabled', 'state': 'up'}]
        rows = [{'hostname': 'c0', 'type': st.COMPUTE, 'maintained': False,
                 'state': st.HOST_PENDING, 'disabled_by_operator': False}]
        servers = [{'id': 'a', 'host': 'c0', 'project_id': 'p',
                    'flavor': {'vcpus': 2, 'ram': 4096, 'disk': 40}}]
        groups = [{'id': 'g', 'policy': 'anti-affinity', 'members': ['a'],
                   'rules': {}}]
        topo = nfv_plan.build_topology(
            hyper, services, rows, servers, groups,
            {'a': {'lead_time': 5, 'migration_type': st.LIVE_MIGRATE}},
            {'g': {'max_impacted_members': 2, 'recovery_time': 3}},
            {'max_parallel_hosts': 1})
        topo.check()
        hosts = {h.name: h for h in topo.hosts}
        self.assertTrue(hosts['c0'].maintainable)
        self.assertFalse(hosts['c1'].maintainable)
        self.assertFalse(hosts['c1'].schedulable)
        self.assertEqual(1, topo.limits.max_parallel_hosts)
        inst = topo.instances[0]
        self.assertEqual(('g', 5, st.LIVE_MIGRATE),
                         (inst.group_id, inst.lead_time,
                          inst.migration_type))
        group = topo.groups[0]
        self.assertTrue(group.anti_affinity)
        self.assertEqual((2, 3), (group.max_impacted_members,
                                  group.recovery_time))


class TestRestartFromSteps(NFVTestBase):
    """An engine that stopped in the middle of PLANNED_MAINTENANCE: the
    next one continues from the step rows, never from the instance and
    host rows (here left as if nothing had started)."""

    def planned(self, **kwargs):
        """A session planned (MAINTENANCE ran: the plan and its steps are
        stored) and moved to PLANNED_MAINTENANCE, as an engine leaves it
        when it stops there."""
        self.doctor()
        InstanceVNFM(self.cloud, self.notifier, 'p1')
        sid = self.create(**kwargs)
        runner = session_runner.SessionRunner(sid, self.notifier)
        wf = nfv.NFVWorkflow(sid, runner, self.notifier)
        self.assertEqual(st.START_MAINTENANCE, wf.maintenance())
        db_api.session_update(sid, {'state': st.PLANNED_MAINTENANCE})
        return sid, wf

    def step(self, sid, kind, host=None, instance_id=None):
        found = [s for s in db_api.steps_get(sid, kind=kind, host=host,
                                             instance_id=instance_id)
                 if s['state'] != st.STEP_CANCELLED]
        self.assertEqual(1, len(found), (kind, host, instance_id))
        return found[0]

    def first_move(self, sid):
        moves = [s for s in db_api.steps_get(sid, kind=st.STEP_MOVE)
                 if s['wave'] == 0]
        self.assertTrue(moves)
        return moves[0]

    def test_the_plan_is_stored_as_steps(self):
        sid, _wf = self.planned(plugins=('host',))
        plan = db_api.session_get(sid)['plan']['nfv']
        steps = db_api.steps_get(sid)
        planned = {(m['instance_id'], m['source'])
                   for w in plan['waves'] for m in w['moves']}
        self.assertEqual(planned, {(s['instance_id'], s['host'])
                                   for s in steps
                                   if s['kind'] in (st.STEP_MOVE,
                                                    st.STEP_OWN_ACTION)})
        hosts = [h for w in plan['waves'] for h in w['hosts']]
        for kind in (st.STEP_DISABLE_COMPUTE, st.STEP_MAINTAIN_HOST,
                     st.STEP_ENABLE_COMPUTE, st.STEP_PLUGIN):
            self.assertEqual(sorted(hosts), sorted(
                s['host'] for s in steps if s['kind'] == kind), kind)
        self.assertEqual({st.STEP_PENDING}, {
            s['state'] for s in steps if s['host']})
        # The MAINTENANCE exchange is over: its notify steps (no host)
        # are done, with the id of each project's event.
        told = [s for s in steps if s['kind'] == st.STEP_NOTIFY_PROJECT]
        self.assertTrue(told)
        self.assertEqual({(None, st.MAINTENANCE, st.STEP_DONE, 1)}, {
            (s['host'], s['inputs']['event'], s['state'], s['attempt'])
            for s in told})
        self.assertTrue(all(s['event_id'] and s['reply_at'] for s in told))
        # The executor runs the plan from the steps: the same hosts, waves
        # and targets as the plan's description.
        order, moves = plan_steps.stored_plan(steps)
        self.assertEqual(nfv_plan.host_order(plan), order)
        self.assertEqual({k: m['target'] for k, m in
                          nfv_plan.planned_moves(plan).items()},
                         {k: m['target'] for k, m in moves.items()})
        # The MAINTENANCE event to the projects was sent: its step is
        # done.
        self.assertEqual([(st.MAINTENANCE, st.STEP_DONE)], [
            (s['result']['event'], s['state']) for s in steps
            if s['kind'] == st.STEP_ANNOUNCE])
        # A move depends on its instance's event, which depends on the
        # host being disabled; the host's maintenance on its moves.
        move = self.first_move(sid)
        note = self.step(sid, st.STEP_NOTIFY_INSTANCE, move['host'],
                         move['instance_id'])
        off = self.step(sid, st.STEP_DISABLE_COMPUTE, move['host'])
        maintain = self.step(sid, st.STEP_MAINTAIN_HOST, move['host'])
        self.assertEqual([note['id']], move['depends_on'])
        self.assertEqual([off['id']], note['depends_on'])
        self.assertIn(move['id'], maintain['depends_on'])

    def test_a_run_marks_every_step(self):
        sid, _wf = self.planned(plugins=('host',))
        self.assertDone(self.run_session(sid))
        steps = db_api.steps_get(sid)
        left = [(s['kind'], s['host'], s['instance_id'], s['state'])
                for s in steps if s['state'] not in st.STEP_OVER]
        self.assertEqual([], left)
        for step in steps:
            if step['state'] == st.STEP_DONE and step['kind'] in (
                    st.STEP_MOVE, st.STEP_MAINTAIN_HOST, st.STEP_PLUGIN):
                self.assertEqual(1, step['attempt'], step)
                self.assertIsNotNone(step['started_at'])
            if step['state'] == st.STEP_DONE:
                self.assertIsNotNone(step['finished_at'])

    def move_left_running(self):
        """A planned session whose first move a stopped engine had
        started: its host disabled, the instance's event sent, the move's
        step RUNNING and Nova migrating the instance to its target.
        Returns (sid, wf, host, instance id, target)."""
        sid, wf = self.planned()
        move = self.first_move(sid)
        host, iid = move['host'], move['instance_id']
        target = move['target']
        wf._disable(wf._host(host))
        wf.steps.mark(st.STEP_DISABLE_COMPUTE, host)
        wf.steps.mark(st.STEP_NOTIFY_INSTANCE, host, iid, 'skip')
        wf.steps.mark(st.STEP_MOVE, host, iid, 'start', bump_attempt=True,
                      values={'result': {'action': st.MIGRATE,
                                         'target': target}})
        with self.cloud.lock:
            srv = self.cloud.servers_[iid]
            srv['task_state'] = 'migrating'
            srv['pending_target'] = target
        return sid, wf, host, iid, target

    def test_move_in_flight_is_watched_not_started_again(self):
        # What the stopped engine had written: the host disabled for it,
        # the instance's event sent, its move started; Nova goes on.
        sid, wf, host, iid, target = self.move_left_running()
        self.assertDone(self.run_session(sid))
        self.assertIn(('wait_for_move', iid, host, st.MIGRATE),
                      self.cloud.calls)
        # Nova was not asked again to move it there.
        self.assertNotIn(('move', iid, st.MIGRATE, target),
                         self.cloud.calls)
        done = self.step(sid, st.STEP_MOVE, host, iid)
        self.assertEqual((st.STEP_DONE, 1), (done['state'],
                                             done['attempt']))
        # Its event was not sent (its step was over): events only for
        # its moves from other hosts.
        sent = [e for e in self.notifier.vnfms['p1'].events
                if e['instance_ids'] == [iid] and e['state'] in (
                    st.PREPARE_MAINTENANCE, st.PLANNED_MAINTENANCE)]
        others = [s for s in db_api.steps_get(
                  sid, kind=st.STEP_NOTIFY_INSTANCE, instance_id=iid)
                  if s['host'] != host and s['state'] == st.STEP_DONE]
        self.assertEqual(len(others), len(sent))
        self.assertEqual(st.STEP_SKIPPED, self.step(
            sid, st.STEP_NOTIFY_INSTANCE, host, iid)['state'])
        self.assertInHistory(sid, 'of instance %s from %s to %s watched '
                                  'again' % (iid, host, target))

    def test_move_ended_unwatched_is_not_done_again(self):
        # The stopped engine had started the move (its step RUNNING); Nova
        # still shows the instance on its host when the new owner reads
        # the servers, and on its target awaiting confirmation
        # (VERIFY_RESIZE) by the time the host's interrupted moves are
        # seen through.
        sid, wf, host, iid, target = self.move_left_running()
        finish = session_flow.SessionFlow._finish_interrupted

        def arrived(flow, hostname):
            if hostname == host:
                # The stopped runner held a slot of a group's budget for
                # it.
                self.assertTrue(db_api.group_impact_take('gx', 1, sid, iid,
                                                         600)[0])
            with self.cloud.lock:
                moving = self.cloud.servers_[iid]
                if moving.get('pending_target'):
                    moving['host'] = target
            return finish(flow, hostname)

        with mock.patch.object(session_flow.SessionFlow,
                               '_finish_interrupted', arrived):
            self.assertDone(self.run_session(sid))
        # Seen through once, never moved again from the host it left (a
        # later wave may move it from its new host).
        again = [e['message'] for e in db_api.events_get(sid)
                 if 'of instance %s from %s to' % (iid, host) in
                 (e['message'] or '')]
        self.assertEqual([], again)
        done = self.step(sid, st.STEP_MOVE, host, iid)
        self.assertEqual((st.STEP_DONE, 1), (done['state'],
                                             done['attempt']))
        self.assertInHistory(sid, 'from %s done (seen after a restart)'
                             % host)
        # Its slot was released when the move was seen through (gx has no
        # recovery_time), not left to its lease.
        self.assertEqual([], db_api.group_impacts_get('gx'))

    def test_a_project_that_came_later_is_asked(self):
        sid, wf = self.planned()
        # Another session moved an instance of another tenant, whose
        # manager listens, onto a host of this one after it began: that
        # project was not in its MAINTENANCE exchange.
        late = InstanceVNFM(self.cloud, self.notifier, 'p9')
        host = self.first_move(sid)['host']
        self.cloud.add_server('late0', host, project='p9', vcpus=1,
                              ram=512, disk=1)
        self.assertDone(self.run_session(sid))
        asked = [e for e in late.events if e['instance_ids'] == ['late0']
                 and e['state'] in (st.PREPARE_MAINTENANCE,
                                    st.PLANNED_MAINTENANCE)]
        self.assertEqual(1, len(asked), late.events)
        self.assertInHistory(sid, 'project p9: an instance of it came onto '
                                  'the hosts of the session after it '
                                  'began; its manager is asked')
        self.assertTrue(db_api.projects_get(sid))
        self.assertEqual([True], [p['has_manager'] for p in
                                  db_api.projects_get(sid)
                                  if p['project_id'] == 'p9'])

    def test_host_in_maintenance_is_not_announced_again(self):
        sid, wf = self.planned()
        # An empty host whose maintenance had begun (its step RUNNING)
        # when the engine stopped; its row does not say so.
        host = self.step(sid, st.STEP_MAINTAIN_HOST, 'c3')['host']
        self.assertEqual([], self.cloud.servers(host=host))
        wf._disable(wf._host(host))
        wf.steps.mark(st.STEP_DISABLE_COMPUTE, host)
        wf.steps.mark(st.STEP_MAINTAIN_HOST, host, event='start',
                      bump_attempt=True)
        self.assertIsNone(wf._host(host)['announced_state'])
        self.assertDone(self.run_session(sid))
        events = [s for h, s in self.notifier.host_events if h == host]
        self.assertEqual([st.HOST_MAINTENANCE_COMPLETE], events)
        self.assertInHistory(sid, '%s resumed in maintenance' % host)
        maintain = self.step(sid, st.STEP_MAINTAIN_HOST, host)
        self.assertEqual((st.STEP_DONE, 1), (maintain['state'],
                                             maintain['attempt']))

    def test_done_steps_are_not_done_again(self):
        sid, wf = self.planned()
        move = self.first_move(sid)
        host, iid = move['host'], move['instance_id']
        target = move['target']
        # The move ended before the engine stopped: Nova has the instance
        # on its target; the steps say so, the rows do not.
        wf._disable(wf._host(host))
        wf.steps.mark(st.STEP_DISABLE_COMPUTE, host)
        wf.steps.mark(st.STEP_NOTIFY_INSTANCE, host, iid, 'skip')
        wf.steps.mark(st.STEP_MOVE, host, iid, 'start', bump_attempt=True)
        self.assertTrue(self.cloud.move(iid, st.MIGRATE, target)['ok'])
        wf.steps.mark(st.STEP_MOVE, host, iid, 'done')
        calls = len(self.cloud.calls)
        self.assertDone(self.run_session(sid))
        again = [c for c in self.cloud.calls[calls:]
                 if c[0] in ('move', 'wait_for_move') and c[1] == iid and
                 c[2] == host]
        self.assertEqual([], again)
        self.assertEqual(1, self.step(sid, st.STEP_MOVE, host,
                                      iid)['attempt'])
