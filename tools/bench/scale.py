# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Scale of the ``nfv`` workflow: 1000 hosts, 10 000 instances.

A simulated cloud of 1000 computes holding 10 000 instances of 100
projects (anti-affinity pairs as Nova server groups), instant migrations
and no host action; every project's manager answers at once (the light
in-process responder of ``makespan.py``, subscribed through AODH). One
``fenix-all-in-one`` runs the session with the ``nfv`` workflow.

Printed: wall time of the session, CPU time of the engine process, time
per host, peak RSS of the engine (VmHWM); with ``--json`` one JSON object
as the last line. ``--quick``: 100 hosts, 1000 instances, 10 projects.
``--profile FILE``: sample the stacks of every thread of the all-in-one
(every 20 ms, through a ``sitecustomize`` put on its ``PYTHONPATH``) and
print the functions where busy threads spend their time (inclusive and
leaf counts, idle waits left out); the raw counts go to FILE.

Usage: python tools/bench/scale.py [--quick] [--json] [--profile FILE]
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import makespan  # noqa: E402

from fenix.tests.functional import cloud_fixture as cf  # noqa: E402

from fenix_tools.simcloud import topology as topo_mod  # noqa: E402


SAMPLER = """
import collections, json, os, sys, threading, time
_OUT = os.environ.get('FENIX_BENCH_SAMPLES')
_IDLE = ('wait', 'acquire', 'select', 'poll', 'sleep', 'recv_into',
         'accept', 'readinto', 'read', '_wait_for_tstate_lock', 'recv',
         '_worker', 'serve_forever')
if _OUT:
    _incl = collections.Counter()
    _leaf = collections.Counter()
    _cpu_incl = collections.Counter()
    _cpu_leaf = collections.Counter()
    _n = [0, 0, 0]
    _ticks = {}

    def _name(f):
        return '%s:%s' % (f.f_code.co_filename.split('/site-packages/')[-1]
                          .split('/work/main/')[-1], f.f_code.co_name)

    def _cpu(native):
        # utime + stime of one thread, in clock ticks.
        try:
            with open('/proc/self/task/%d/stat' % native) as fh:
                fields = fh.read().rsplit(')', 1)[1].split()
            return int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            return None

    def _count(frame, weight, incl, leaf):
        leaf[_name(frame)] += weight
        seen = set()
        f = frame
        while f is not None:
            n = _name(f)
            if n not in seen:
                seen.add(n)
                incl[n] += weight
            f = f.f_back

    def _sample():
        me = threading.get_ident()
        last = time.monotonic()
        while True:
            time.sleep(0.02)
            natives = {t.ident: t.native_id for t in threading.enumerate()}
            for tid, frame in list(sys._current_frames().items()):
                if tid == me:
                    continue
                _n[0] += 1
                native = natives.get(tid)
                ticks = _cpu(native) if native else None
                if ticks is not None:
                    spent = ticks - _ticks.get(native, ticks)
                    _ticks[native] = ticks
                    if spent > 0:
                        # The CPU a thread used since the last sample,
                        # put on the stack it is in now.
                        _n[2] += spent
                        _count(frame, spent, _cpu_incl, _cpu_leaf)
                if frame.f_code.co_name in _IDLE:
                    continue
                _n[1] += 1
                _count(frame, 1, _incl, _leaf)
            if time.monotonic() - last > 2:
                last = time.monotonic()
                with open(_OUT + '.tmp', 'w') as fh:
                    json.dump({'samples': _n[0], 'busy': _n[1],
                               'cpu_ticks': _n[2],
                               'inclusive': _incl.most_common(60),
                               'leaf': _leaf.most_common(40),
                               'cpu_inclusive': _cpu_incl.most_common(150),
                               'cpu_leaf': _cpu_leaf.most_common(60)}, fh)
                os.replace(_OUT + '.tmp', _OUT)

    threading.Thread(target=_sample, daemon=True).start()
"""


def start_sampler(path):
    """Make the next child Python processes sample their stacks."""
    directory = os.path.join(os.path.dirname(os.path.abspath(path)),
                             'fenix-bench-sampler')
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, 'sitecustomize.py'), 'w') as f:
        f.write(SAMPLER)
    os.environ['PYTHONPATH'] = os.pathsep.join(
        [directory] + [p for p in [os.environ.get('PYTHONPATH')] if p])
    os.environ['FENIX_BENCH_SAMPLES'] = os.path.abspath(path)


def print_samples(path):
    with open(path) as f:
        data = json.load(f)
    busy = max(1, data['busy'])
    print('stack samples of the all-in-one: %d busy of %d (thread x 20 ms)'
          % (data['busy'], data['samples']))
    print('inclusive (share of busy samples):')
    for name, n in data['inclusive'][:40]:
        print('  %5.1f%%  %s' % (100.0 * n / busy, name))
    print('leaf:')
    for name, n in data['leaf'][:20]:
        print('  %5.1f%%  %s' % (100.0 * n / busy, name))
    ticks = max(1, data.get('cpu_ticks') or 0)
    print('CPU of the all-in-one by stack (%d ticks of its threads, each '
          'put on the stack its thread was in at the next sample):' % ticks)
    for name, n in (data.get('cpu_inclusive') or [])[:70]:
        print('  %5.1f%%  %s' % (100.0 * n / ticks, name))
    print('CPU leaf:')
    for name, n in (data.get('cpu_leaf') or [])[:30]:
        print('  %5.1f%%  %s' % (100.0 * n / ticks, name))


proc_cpu = makespan.proc_cpu


def proc_status(pid, key):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])     # kB
    return None


def fresh_database(url):
    """Create the (empty) database of ``url``; returns its dropper."""
    import sqlalchemy as sa
    target = sa.engine.make_url(url)
    server = sa.create_engine(target.set(database=''
                                         if target.get_backend_name() ==
                                         'mysql' else 'postgres'),
                              isolation_level='AUTOCOMMIT')
    quote = '`' if target.get_backend_name() == 'mysql' else '"'
    name = '%s%s%s' % (quote, target.database, quote)

    def run(sql):
        with server.connect() as conn:
            conn.execute(sa.text(sql))
    run('DROP DATABASE IF EXISTS %s' % name)
    run('CREATE DATABASE %s' % name)

    def drop():
        run('DROP DATABASE IF EXISTS %s' % name)
        server.dispose()
    return drop


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true')
    p.add_argument('--json', action='store_true')
    p.add_argument('--hosts', type=int, default=1000)
    p.add_argument('--instances', type=int, default=10000)
    p.add_argument('--projects', type=int, default=100)
    p.add_argument('--timeout', type=float, default=600,
                   help='seconds the session may take before it is '
                        'stopped (the benchmark always ends)')
    p.add_argument('--profile', help='cProfile output file')
    p.add_argument('--database', metavar='URL',
                   help='a server database for the engine instead of '
                        'SQLite, e.g. mysql+pymysql://openstack_citest:'
                        'openstack_citest@127.0.0.1/fenix_bench (created '
                        'for the run and dropped after it)')
    args = p.parse_args(argv)
    if args.quick:
        args.hosts, args.instances, args.projects = 100, 1000, 10
    mapping = topo_mod.generate(
        computes=args.hosts, servers=args.instances, controllers=1,
        projects=args.projects, flavor='m1.small', group_size=2,
        groups_per_project=5, name='scale')
    mapping['timing'] = {'cold_migration': 0.0, 'live_migration': 0.0,
                         'confirm_resize': 0.0, 'boot': 0.0}
    mapping['users'] = list({u['name']: u for u in
                             mapping['users'] + cf.ADMIN_USERS}.values())
    if args.profile:
        start_sampler(args.profile)
    build = time.monotonic()
    extra = {}
    if args.database:
        drop = fresh_database(args.database)
        extra = {'database': {'connection': args.database}}
    cloud = cf.FenixCloud(mapping, reply_window=30,
                          workflow={'nova_poll_interval': 0.05,
                                    'migration_timeout': 300},
                          extra_config=extra)
    cloud.setUp()
    responder = None
    try:
        sim = cloud.sim
        projects = sorted({sim.project_id('project-%d' % n)
                           for n in range(args.projects)})
        responder = makespan.Responder(sim, cloud.url, {},
                                       workers=32).start(projects)
        pid = cloud.fenix.pid
        setup = time.monotonic() - build
        nova0 = makespan.nova_requests(sim)
        cpu0 = proc_cpu(pid)
        sampler = makespan.CpuSampler(pid).start()
        begin = time.monotonic()
        # Instant moves and host actions: tell the planner so.
        sid = cloud.create_session(hosts=[], workflow='nfv', estimates={
            'cold_migration': 0.1, 'live_migration': 0.1,
            'live_interruption': 0.1, 'host_maintenance': 0.1})
        try:
            # Polled like an admin's tool would (each GET reads every
            # host row of the session).
            state = cloud.wait_final(sid, timeout=args.timeout, interval=1)
        except AssertionError:
            state = 'STOPPED after %ss' % args.timeout
        wall = time.monotonic() - begin
        cpu = proc_cpu(pid) - cpu0
        sampler.stop()
        hwm = proc_status(pid, 'VmHWM')
        summary = cloud.summary(sid)
        detail = cloud.detail(sid)
        if state.startswith('STOPPED'):
            try:
                cloud.client.delete('/v1/maintenance/%s' % sid)
            except Exception as e:  # noqa - the figures are printed anyway
                print('deleting the stopped session failed: %s' % e)
        figures = makespan.move_figures(
            sim, (detail.get('plan') or {}).get('nfv'))
        moves = figures['migrations']
        out = {'hosts': args.hosts, 'instances': args.instances,
               'projects': args.projects, 'state': state,
               'wall_seconds': round(wall, 2),
               'engine_cpu_seconds': round(cpu, 2),
               'seconds_per_host': round(wall / args.hosts, 4),
               'engine_peak_rss_mb': round((hwm or 0) / 1024.0, 1),
               'migrations': moves, 'setup_seconds': round(setup, 1),
               'replies': dict(responder.answered),
               'responder_errors': responder.errors[:5],
               'responder_retries': responder.retried,
               'hosts_done': summary.get('hosts_done'),
               'error': summary.get('error')}
        out.update(figures)
        out['engine_cpu_per_migration_ms'] = makespan.cpu_per_migration(
            cpu, moves)
        out['reply_to_move'] = responder.reply_latency()
        out.update(makespan.split_cpu(sampler, sim, moves))
        out.update(makespan.nova_figures(nova0, makespan.nova_requests(sim),
                                         moves))
    finally:
        if responder:
            responder.stop()
        cloud.cleanUp()
        if args.database:
            drop()
    out['database'] = (args.database or 'sqlite').split(':')[0]
    print('%d hosts, %d instances, %d projects, %s: %s' % (
        args.hosts, args.instances, args.projects, out['database'],
        out['state']))
    print('wall %.2fs (target < 60), engine CPU %.2fs, %.4fs per host, '
          'engine peak RSS %.1f MB (target < 1024)'
          % (out['wall_seconds'], out['engine_cpu_seconds'],
             out['seconds_per_host'], out['engine_peak_rss_mb']))
    lat = out['reply_to_move']
    print('engine CPU before the first move %s s, then %s ms per migration'
          % (out.get('engine_cpu_before_first_move_seconds'),
             out.get('engine_cpu_per_migration_after_first_move_ms')))
    print('engine CPU per migration %s ms (target <= 5); reply answered -> '
          'move started: p50 %s ms, p99 %s ms, max %s ms (%d replies)'
          % (out['engine_cpu_per_migration_ms'], lat['p50_ms'],
             lat['p99_ms'], lat['max_ms'], lat['count']))
    print('%d migrations (%s per instance moved; the plan: %s moves, %s '
          'per instance); %s of %d hosts maintained; replies %s'
          % (moves, out['moves_per_instance'], out['planned_moves'],
             out['planned_moves_per_instance'], out['hosts_done'],
             args.hosts, out['replies']))
    print('Nova requests %d = %s per migration: %s' % (
        out['nova_requests'], out['nova_requests_per_migration'],
        ', '.join('%s %d' % kv for kv in
                  out['nova_requests_by_kind'].items())))
    if out['error']:
        print('error: %s' % out['error'])
    if args.profile and os.path.exists(args.profile):
        print_samples(args.profile)
    if args.json:
        print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
