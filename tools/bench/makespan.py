# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Makespan of the ``nfv`` workflow against one host at a time.

A simulated cloud (64 hosts, 4 instances per host, room for 6; anti-affinity
pairs with a budget of 1, groups of 8 with a budget of 2 and groups of 16
with a budget of 4) is maintained twice by a real ``fenix-all-in-one``
with the ``nfv`` workflow: once as planned (parallel waves), once with
``max_parallel_hosts=1``. Migrations and host actions take fixed, scaled
down times (the host action is an asynchronous ``dummy`` plug-in that an
agent here reports DONE after ``--host-time`` seconds). Every project has a
manager: a light responder subscribed through AODH that answers each
per-instance event at once with the instance's migration type.

Printed: both session durations, their ratio, the planner's lower bound
for the same durations and the ratio to it, and the constraint violations
found in the cloud's own record (group budgets with recovery time, and
anti-affinity, checked over time). ``--json`` adds one JSON object as the
last line.

Usage: python tools/bench/makespan.py [--quick] [--json]
"""
import argparse
import collections
import concurrent.futures
import json
import logging
import os
import sys
import threading
import time

import requests

from fenix.tests.functional import cloud_fixture as cf
from fenix.workflow import bounds
from fenix.workflow import planner

from fenix_tools import topologies
from fenix_tools.vnfm import traits

LOG = logging.getLogger('bench')
FLAVOR = {'name': 'bench.small', 'vcpus': 2, 'ram': 2048, 'disk': 10}
EVENT_TYPE = 'maintenance.planned'


# --- the cloud ---------------------------------------------------------------

def build_cloud(hosts, per_host, slots, projects, seed=4, groups=True):
    """(topology mapping, {name: constraint}, {gid: group constraint}).

    The placement comes from :func:`fenix_tools.topologies.demo_topology`
    (the planner's demo), servers are named after its instances.
    """
    topo = topologies.demo_topology(hosts=hosts, per_host=per_host,
                                    slots=slots, seed=seed)
    tenants = ['bench-%d' % p for p in range(projects)]
    users = list(cf.ADMIN_USERS)
    servers = []
    constraints = {}
    # A group's members are of one project (the API refuses a
    # constraint naming another project's group); groups go round the
    # projects.
    owner = {}
    for n, inst in enumerate(topo.instances):
        key = inst.group_id or inst.instance_id
        project = owner.setdefault(key, tenants[len(owner) % projects])
        servers.append({'name': inst.instance_id, 'project': project,
                        'host': inst.host, 'flavor': FLAVOR['name']})
        if groups:
            constraints[inst.instance_id] = {
                'project': project, 'group': inst.group_id,
                'migration_type': (inst.migration_type
                                   if inst.migration_type != 'OWN_ACTION'
                                   else 'MIGRATE'),
                'max_interruption_time': inst.max_interruption_time}
    rules = {}
    if groups:
        for g in topo.groups:
            rules[g.group_id] = {
                'anti_affinity_group': g.anti_affinity,
                'max_instances_per_host': g.max_instances_per_host,
                'max_impacted_members': g.max_impacted_members,
                'recovery_time': 1}
    mapping = {
        'name': 'bench',
        'projects': [{'name': p} for p in ('admin', 'service')] +
        [{'name': t} for t in tenants],
        'users': users,
        'hosts': [{'name': 'controller-0', 'type': 'controller'}] + [
            {'name': h.name, 'type': 'compute',
             'vcpus': FLAVOR['vcpus'] * slots,
             'memory_mb': FLAVOR['ram'] * slots,
             'disk_gb': FLAVOR['disk'] * slots} for h in topo.hosts],
        'flavors': [dict(FLAVOR, id='b1')],
        'servers': servers,
        'timing': {},
    }
    return mapping, constraints, rules


class Responder(object):
    """Answers every project's events at once, through Fenix's API.

    Subscribed with one AODH event alarm per project (created by the
    admin on the project's behalf); per-instance events are answered with
    the instance's migration type.
    """

    def __init__(self, sim, fenix_url, actions, workers=16):
        from fenix_tools import common
        self.sim = sim
        self.fenix_url = fenix_url
        self.actions = actions
        self.server = common.JsonHTTPServer(name='bench-responder')
        self.server.add_route('POST', '/event', self._on_post)
        self.pool = concurrent.futures.ThreadPoolExecutor(workers)
        self.http = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=workers)
        self.http.mount('http://', adapter)
        self.answered = collections.Counter()
        self.errors = []
        self.retried = 0        # replies sent again after a broken one
        # (instance id, monotonic time the reply was sent, time it was
        # answered): see reply_latency().
        self.replies = []
        self.lock = threading.Lock()

    def start(self, project_ids):
        self.server.start()
        admin = self.sim.auth_args('admin')
        from keystoneauth1.identity import v3
        from keystoneauth1 import session as ks
        sess = ks.Session(auth=v3.Password(**admin))
        url = self.sim.alarming_url.rstrip('/') + '/v2/alarms'
        for pid in project_ids:
            body = {'name': 'bench-%s' % pid, 'type': 'event',
                    'project_id': pid, 'repeat_actions': True,
                    'event_rule': {'event_type': EVENT_TYPE, 'query': [
                        {'field': 'traits.project_id', 'op': 'eq',
                         'type': 'string', 'value': pid}]},
                    'alarm_actions': [self.server.url + '/event']}
            resp = sess.post(url, json=body, raise_exc=False)
            if resp.status_code >= 300:
                raise RuntimeError('alarm for %s: %s %s'
                                   % (pid, resp.status_code, resp.text))
        return self

    def stop(self):
        self.pool.shutdown(wait=False)
        self.server.stop()

    def _on_post(self, request):
        try:
            event = traits.decode_body(request.json())
        except ValueError as e:
            return 400, {'error': str(e)}
        self.pool.submit(self._answer, event)
        return 200, {'accepted': True}

    def _answer(self, event):
        state = event.state
        if not event.reply_url or state == 'INSTANCE_ACTION_DONE':
            return
        body = {'state': 'ACK_%s' % state}
        if event.per_instance and state in ('PREPARE_MAINTENANCE',
                                            'PLANNED_MAINTENANCE'):
            iid = event.instance_ids[0]
            body['instance_action'] = self.actions.get(iid, 'MIGRATE')
        sent = time.monotonic()
        for attempt in (1, 2):
            try:
                resp = self.http.put(event.reply_url, json=body, timeout=30)
                # A retry's copy of a reply that did arrive is refused.
                ok = resp.status_code == 200 or (
                    attempt == 2 and resp.status_code == 409)
            except requests.ConnectionError as e:
                # A kept-alive connection closed by the server as the
                # request went out: sent again once, as a manager would.
                ok, resp = False, e
                with self.lock:
                    self.retried += attempt == 1
                continue
            except requests.RequestException as e:
                ok, resp = False, e
            break
        answered = time.monotonic()
        with self.lock:
            self.answered[state] += 1
            if not ok:
                self.errors.append('%s: %s' % (state, resp))
            elif body.get('instance_action') in ('MIGRATE', 'LIVE_MIGRATE'):
                self.replies.append((event.instance_ids[0], sent, answered))

    def reply_latency(self):
        """How soon a reply was acted on: for every per-instance reply
        asking for a move, the time from the reply's PUT answered to the
        instance's next migration start in the cloud's record (0 when the
        move started before the answer reached the manager).

        :returns: {count, p50_ms, p99_ms, max_ms, unmatched}.
        """
        starts = collections.defaultdict(list)
        for e in self.sim.get_events(kind='migration.start'):
            starts[e['server']].append(e['t'])
        with self.lock:
            replies = list(self.replies)
        lat, unmatched = [], 0
        for iid, sent, answered in replies:
            after = [t for t in starts.get(iid, ()) if t >= sent]
            if not after:
                unmatched += 1
                continue
            lat.append(max(0.0, min(after) - answered) * 1000.0)
        return latency_figures(lat, unmatched)


class HostAgent(object):
    """Reports the async host action DONE ``delay`` seconds after the
    host went IN_MAINTENANCE (watching the cloud's notification record)."""

    def __init__(self, sim, client, plugin, delay):
        self.sim = sim
        self.client = client
        self.plugin = plugin
        self.delay = delay
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.timers = []

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        for t in self.timers:
            t.cancel()
        self.thread.join(5)

    def _report(self, sid, host):
        # On a busy engine the plug-in run may start after ``delay``: its
        # row does not exist yet (404); report again until it does.
        deadline = time.monotonic() + 120
        while not self.stop_event.is_set():
            r = self.client.put('/v1/action_plugin_run/%s/%s/%s'
                                % (sid, self.plugin, host),
                                {'state': 'DONE'})
            if r.status_code != 404 or time.monotonic() > deadline:
                return
            self.stop_event.wait(0.2)

    def _run(self):
        since = 0
        while not self.stop_event.is_set():
            # Woken by the cloud's record (no polling).
            e = self.sim.wait_for_event('notification.receive', timeout=0.5,
                                        since=since,
                                        event_type='maintenance.host')
            if e is None:
                continue
            since = e['seq']
            p = e.get('payload') or {}
            if p.get('state') == 'IN_MAINTENANCE':
                t = threading.Timer(self.delay, self._report,
                                    (p['session_id'], p['host']))
                t.daemon = True
                t.start()
                self.timers.append(t)


# --- the cloud's record ------------------------------------------------------

def violations(sim, names, constraints, rules):
    """Group budgets (with recovery time) and anti-affinity over time."""
    out = []
    moves = {}
    for e in sim.get_events(kind='migration.'):
        mid = e.get('migration')
        if e['kind'] == 'migration.start':
            moves[mid] = [e['server'], e['t'], None]
        elif mid in moves and e['kind'] in ('migration.finish',
                                            'migration.confirm',
                                            'migration.error',
                                            'migration.abort'):
            moves[mid][2] = e['t']
    spans = collections.defaultdict(list)
    for server, start, end in moves.values():
        name = names.get(server)
        c = constraints.get(name)
        if not c:
            continue
        rec = rules[c['group']]['recovery_time']
        spans[c['group']].append((start, (end or start) + rec, name))
    for gid, items in spans.items():
        budget = rules[gid]['max_impacted_members']
        points = sorted([(s, 1) for s, _e, _n in items] +
                        [(e, -1) for _s, e, _n in items],
                        key=lambda p: (p[0], p[1]))
        level = 0
        for t, d in points:
            level += d
            if level > budget:
                out.append('group %s: %d members impacted at once (budget '
                           '%d)' % (gid, level, budget))
                break
    # Anti-affinity: members of a group never on one host at once.
    by_group = collections.defaultdict(list)
    ids = {v: k for k, v in names.items()}
    for name, c in constraints.items():
        if rules[c['group']]['anti_affinity_group']:
            by_group[c['group']].append(ids[name])
    for gid, members in by_group.items():
        intervals = []
        for sid in members:
            for host, begin, end in sim.history.host_intervals(sid):
                intervals.append((host, begin, end, sid))
        for i, a in enumerate(intervals):
            for b in intervals[i + 1:]:
                if a[3] == b[3]:
                    continue
                host_a, host_b = a[0], b[0]
                if host_a != host_b:
                    continue
                start = max(a[1], b[1])
                end = min(a[2] if a[2] is not None else 1e18,
                          b[2] if b[2] is not None else 1e18)
                if start < end:
                    out.append('group %s: two members on %s at once'
                               % (gid, host_a))
    return out


def estimates(args):
    """The session's ``estimates``: the bench's fixed durations."""
    return {'cold_migration': args.mig_time,
            'live_migration': args.mig_time,
            'live_interruption': args.mig_time,
            'own_action': args.mig_time,
            'host_maintenance': args.host_time}


def lower_bound(hosts, per_host, slots, seed, mig_time, host_time):
    topo = topologies.demo_topology(hosts=hosts, per_host=per_host,
                                    slots=slots, seed=seed)
    for inst in topo.instances:
        if inst.migration_type == 'OWN_ACTION':
            inst.migration_type = 'MIGRATE'
        inst.lead_time = 0
    for g in topo.groups:
        g.recovery_time = 1
    topo.durations = planner.Durations(
        cold_migration=mig_time, live_migration=mig_time,
        live_interruption=mig_time, own_action=mig_time,
        host_maintenance=host_time, lead_time=0)
    return bounds.lower_bound(topo), planner.plan_maintenance(topo)


def latency_figures(samples, unmatched=0):
    """Percentiles (ms) of ``samples`` (ms)."""
    ordered = sorted(samples)

    def pct(f):
        if not ordered:
            return None
        return round(ordered[min(len(ordered) - 1,
                                 int(round(f * (len(ordered) - 1))))], 1)
    return {'count': len(ordered), 'p50_ms': pct(0.5), 'p99_ms': pct(0.99),
            'max_ms': round(ordered[-1], 1) if ordered else None,
            'unmatched': unmatched}


def proc_cpu(pid):
    """User + system CPU seconds of a process (``/proc/<pid>/stat``)."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    ticks = os.sysconf('SC_CLK_TCK')
    return (int(fields[11]) + int(fields[12])) / ticks


class CpuSampler(object):
    """Samples a process's CPU time every ``interval`` seconds (monotonic
    time, CPU seconds), to split a run's CPU at a moment of the cloud's
    record (:meth:`at`)."""

    INTERVAL = 0.5

    def __init__(self, pid, interval=INTERVAL):
        self.pid = pid
        self.interval = interval
        self.samples = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.load_start = round(os.getloadavg()[0], 2)
        self.samples.append((time.monotonic(), proc_cpu(self.pid)))
        self.thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        self.thread.join(5)
        try:
            self.samples.append((time.monotonic(), proc_cpu(self.pid)))
        except OSError:
            pass

    def _run(self):
        while not self.stop_event.wait(self.interval):
            try:
                self.samples.append((time.monotonic(), proc_cpu(self.pid)))
            except OSError:
                return

    def at(self, t):
        """CPU seconds used from the start until about ``t``."""
        before = [cpu for when, cpu in self.samples if when <= t]
        return (before[-1] if before else self.samples[0][1]) - \
            self.samples[0][1]


def split_cpu(sampler, sim, migrations):
    """The engine's CPU before the first move (the session's fixed
    costs: Nova sync, plan, project events) and per migration from
    then on."""
    starts = sim.get_events(kind='migration.start')
    if not starts or not sampler.samples:
        return {}
    first = min(e['t'] for e in starts)
    setup = sampler.at(first)
    total = sampler.samples[-1][1] - sampler.samples[0][1]
    return {'engine_cpu_before_first_move_seconds': round(setup, 2),
            'engine_cpu_per_migration_after_first_move_ms':
            cpu_per_migration(total - setup, migrations)}


def cpu_share(sampler, took):
    """How much of a core the engine had: its CPU seconds over the run's
    wall time (mean) and the largest share over one sampling interval
    (peak), with the machine's load average at the start and the end.
    A latency with the engine near one core is the engine's own work (the
    GIL); with the engine well under a core while the load average is
    above the core count, it is waiting for a CPU."""
    samples = sampler.samples
    peak = 0.0
    for (t0, c0), (t1, c1) in zip(samples, samples[1:]):
        if t1 - t0 > 0.2:
            peak = max(peak, (c1 - c0) / (t1 - t0))
    total = samples[-1][1] - samples[0][1] if samples else 0.0
    return {'engine_cpu_share': round(total / took, 3) if took else None,
            'engine_cpu_share_peak': round(peak, 3),
            'loadavg_start': getattr(sampler, 'load_start', None),
            'loadavg_end': round(os.getloadavg()[0], 2),
            'cpus': os.cpu_count()}


def nova_requests(sim):
    """Compute API requests the cloud served so far, by kind."""
    return dict(sim.app.requests_to('/compute'))


def nova_figures(before, after, migrations):
    """Compute API requests between two :func:`nova_requests`, in all
    and per migration, with the kinds asked most."""
    kinds = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    kinds = {k: n for k, n in kinds.items() if n > 0}
    total = sum(kinds.values())
    return {'nova_requests': total,
            'nova_requests_per_migration': round(
                float(total) / migrations, 2) if migrations else None,
            'nova_requests_by_kind': dict(sorted(
                kinds.items(), key=lambda kv: -kv[1]))}


def cpu_per_migration(cpu_seconds, migrations):
    """Engine CPU milliseconds per migration in the cloud's record."""
    if not migrations:
        return None
    return round(1000.0 * cpu_seconds / migrations, 2)


def per_instance(moves, instances):
    """Moves per moved instance (None when nothing moved)."""
    return round(float(moves) / instances, 4) if instances else None


def plan_figures(plan):
    """Moves of a plan (a :class:`planner.Plan` or its dict) per instance
    it moves: the planner's own count."""
    if isinstance(plan, planner.Plan):
        plan = plan.to_dict()
    moves = [mv for wave in (plan or {}).get('waves') or ()
             for mv in wave.get('moves') or ()]
    moved = len({mv['instance_id'] for mv in moves})
    return {'planned_moves': len(moves), 'planned_instances': moved,
            'planned_moves_per_instance': per_instance(len(moves), moved)}


def move_figures(sim, plan=None):
    """Migrations in the cloud's record per instance moved, and the same
    figure of the session's plan (``plan``: the session's ``nfv`` plan)."""
    starts = sim.get_events(kind='migration.start')
    moved = len({e['server'] for e in starts})
    out = {'migrations': len(starts), 'instances_moved': moved,
           'moves_per_instance': per_instance(len(starts), moved)}
    out.update(plan_figures(plan))
    return out


# --- one run -----------------------------------------------------------------

def run_once(args, parallel, label):
    mapping, constraints, rules = build_cloud(
        args.hosts, args.per_host, args.slots, args.projects, args.seed)
    mapping['timing'] = {'cold_migration': args.mig_time,
                         'live_migration': args.mig_time,
                         'confirm_resize': 0.0, 'boot': 0.01}
    cloud = cf.FenixCloud(mapping, reply_window=max(1, args.reply_window),
                          workflow={'migration_timeout': 120,
                                    'own_action_timeout': 120,
                                    'nova_poll_interval': args.poll})
    cloud.setUp()
    agent = responder = None
    try:
        sim = cloud.sim
        names = {e['server']: e.get('name')
                 for e in sim.get_events(kind='server.create')}
        ids = {v: k for k, v in names.items()}
        projects = sorted({sim.project_id('bench-%d' % p)
                           for p in range(args.projects)})
        client = cloud.client
        pid_of = {'bench-%d' % p: sim.project_id('bench-%d' % p)
                  for p in range(args.projects)}
        for gid, rule in rules.items():
            owner = next(c['project'] for c in constraints.values()
                         if c['group'] == gid)
            body = dict(rule, group_id=gid, project_id=pid_of[owner],
                        group_name=gid, resource_mitigation=False)
            r = client.put('/v1/instance_group/%s' % gid, body)
            assert r.status_code in (200, 204), r.text
        actions = {}
        for name, c in constraints.items():
            iid = ids[name]
            body = {'instance_id': iid, 'project_id': pid_of[c['project']],
                    'group_id': c['group'], 'instance_name': name,
                    'migration_type': c['migration_type'], 'lead_time': 0,
                    'resource_mitigation': False}
            if c['max_interruption_time'] is not None:
                body['max_interruption_time'] = int(
                    c['max_interruption_time'])
            actions[iid] = c['migration_type']
            r = client.put('/v1/instance/%s' % iid, body)
            assert r.status_code in (200, 204), r.text
        responder = Responder(sim, cloud.url, actions).start(projects)
        agent = HostAgent(sim, client, 'dummy', args.host_time).start()
        # What the admin knows of this cloud: how long moves and the host
        # action take (the same figures the lower bound uses).
        body = {'hosts': [], 'workflow': 'nfv',
                'actions': [{'plugin': 'dummy', 'type': 'host',
                             'metadata': {'async': True}}],
                'estimates': estimates(args)}
        if not parallel:
            body['max_parallel_hosts'] = 1
        pid = cloud.fenix.pid
        nova0 = nova_requests(sim)
        cpu0 = proc_cpu(pid)
        sampler = CpuSampler(pid).start()
        begin = time.monotonic()
        sid = cloud.create_session(**body)
        state = cloud.wait_final(sid, timeout=args.timeout, interval=0.2)
        took = time.monotonic() - begin
        cpu = proc_cpu(pid) - cpu0
        sampler.stop()
        detail = cloud.detail(sid)
        if args.trace:
            with open('%s.%s.json' % (args.trace, label), 'w') as f:
                json.dump({'detail': detail,
                           'cloud': sim.get_events()}, f, default=str)
            with open(cloud.log_path, 'rb') as src, \
                    open('%s.%s.log' % (args.trace, label), 'wb') as dst:
                dst.write(src.read())
        problems = violations(sim, names, constraints, rules)
        plan = (detail.get('plan') or {}).get('nfv') or {}
        figures = move_figures(sim, plan)
        moves = figures['migrations']
        result = {'label': label, 'state': state, 'seconds': round(took, 2),
                  'moves': moves, 'waves': len(plan.get('waves') or ()),
                  'violations': problems,
                  'responder_errors': responder.errors[:5],
                  'responder_retries': responder.retried,
                  'error': detail.get('session', detail).get('error')
                  if isinstance(detail.get('session'), dict)
                  else detail.get('error')}
        result.update(figures)
        result['engine_cpu_seconds'] = round(cpu, 2)
        result['engine_cpu_per_migration_ms'] = cpu_per_migration(cpu, moves)
        result['reply_to_move'] = responder.reply_latency()
        result.update(split_cpu(sampler, sim, moves))
        result.update(cpu_share(sampler, took))
        result.update(nova_figures(nova0, nova_requests(sim), moves))
        return result
    finally:
        if agent:
            agent.stop()
        if responder:
            responder.stop()
        cloud.cleanUp()


def print_costs(run):
    lat = run['reply_to_move']
    print('  engine CPU before the first move %s s, then %s ms per migration'
          % (run.get('engine_cpu_before_first_move_seconds'),
             run.get('engine_cpu_per_migration_after_first_move_ms')))
    print('  engine CPU %.2fs = %s ms per migration (target <= 5); reply '
          'answered -> move started: p50 %s ms, p99 %s ms (target <= 50), '
          'max %s ms over %d replies%s'
          % (run['engine_cpu_seconds'], run['engine_cpu_per_migration_ms'],
             lat['p50_ms'], lat['p99_ms'], lat['max_ms'], lat['count'],
             ' (%d without a move)' % lat['unmatched']
             if lat['unmatched'] else ''))
    if run.get('engine_cpu_share') is not None:
        print('  engine CPU share %s of a core (peak %s over %.1f s); load '
              'average %s at the start, %s at the end (%s CPUs)'
              % (run['engine_cpu_share'], run['engine_cpu_share_peak'],
                 CpuSampler.INTERVAL, run['loadavg_start'],
                 run['loadavg_end'], run['cpus']))
    if run.get('nova_requests') is not None:
        print('  Nova requests %d = %s per migration: %s' % (
            run['nova_requests'], run['nova_requests_per_migration'],
            ', '.join('%s %d' % kv for kv in
                      run['nova_requests_by_kind'].items())))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true',
                   help='16 hosts (CI-sized)')
    p.add_argument('--json', action='store_true')
    p.add_argument('--hosts', type=int, default=64)
    p.add_argument('--per-host', type=int, default=4)
    p.add_argument('--slots', type=int, default=6)
    p.add_argument('--projects', type=int, default=8)
    p.add_argument('--seed', type=int, default=4)
    p.add_argument('--mig-time', type=float, default=0.5,
                   help='seconds of a migration (cold and live)')
    p.add_argument('--host-time', type=float, default=4.0,
                   help='seconds of the host action')
    p.add_argument('--poll', type=float, default=0.05)
    p.add_argument('--reply-window', type=int, default=5)
    p.add_argument('--timeout', type=float, default=900)
    p.add_argument('--skip-serial', action='store_true')
    p.add_argument('--trace', help='write the session detail and the '
                   "cloud's record to TRACE.<run>.json")
    args = p.parse_args(argv)
    if args.quick:
        args.hosts = 16
    logging.basicConfig(level=logging.WARNING)
    bound, plan = lower_bound(args.hosts, args.per_host, args.slots,
                              args.seed, args.mig_time, args.host_time)
    print('cloud: %d hosts x %d instances (room for %d), %d projects; '
          'migration %ss, host action %ss, recovery 1s'
          % (args.hosts, args.per_host, args.slots, args.projects,
             args.mig_time, args.host_time))
    own = plan_figures(plan)
    print('planner: estimate %.2fs in %d waves, lower bound %.2fs, %d '
          'moves (%s per instance moved)'
          % (plan.estimated_duration, len(plan.waves), bound,
             own['planned_moves'], own['planned_moves_per_instance']))
    par = run_once(args, True, 'nfv')
    print('nfv (parallel):     %s in %.2fs, %d migrations (%s per instance '
          'moved; planned %s), %d waves, %d violations'
          % (par['state'], par['seconds'], par['moves'],
             par['moves_per_instance'], par['planned_moves_per_instance'],
             par['waves'], len(par['violations'])))
    print_costs(par)
    out = {'hosts': args.hosts, 'instances': args.hosts * args.per_host,
           'lower_bound': round(bound, 3),
           'planner_estimate': round(plan.estimated_duration, 3),
           'planner_moves_per_instance': own['planned_moves_per_instance'],
           'moves_per_instance': par['moves_per_instance'],
           'planned_moves_per_instance': par['planned_moves_per_instance'],
           'engine_cpu_per_migration_ms':
           par['engine_cpu_per_migration_ms'],
           'reply_to_move_p99_ms': par['reply_to_move']['p99_ms'],
           'nfv': par}
    if not args.skip_serial:
        ser = run_once(args, False, 'one-at-a-time')
        print('one host at a time: %s in %.2fs, %d migrations, '
              '%d violations' % (ser['state'], ser['seconds'], ser['moves'],
                                 len(ser['violations'])))
        print_costs(ser)
        out['serial'] = ser
        out['ratio_to_serial'] = round(par['seconds'] / ser['seconds'], 3)
        print('nfv / one-at-a-time = %.3f (target <= 0.25)'
              % out['ratio_to_serial'])
    out['ratio_to_bound'] = round(par['seconds'] / bound, 3)
    out['violations'] = len(par['violations']) + len(
        (out.get('serial') or {}).get('violations') or ())
    print('nfv / lower bound = %.3f (target <= 1.25)'
          % out['ratio_to_bound'])
    print('constraint violations: %d' % out['violations'])
    for v in par['violations'][:10]:
        print('  ' + v)
    if args.json:
        print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
