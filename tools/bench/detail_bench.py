# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``GET /v1/maintenance/{id}/detail`` of a 10 000-instance session.

One SQLite database (a temporary file, migrated to the newest schema)
holds one session as a large ``nfv`` run leaves it: 1000 computes, 10 000
instances of 100 projects, a step per move and per host, two history
entries per instance and a plan of a few MB. Timed in the same run, each
``--repeat`` times (median and best, milliseconds):

* ``legacy``: how the engine built the detail before the API read the
  database itself (every table read as ORM objects, the plan decoded,
  the rows shaped), then ``json.dumps``: no HTTP, no RPC;
* ``rpc``: the API application (WSGI, through WebTest: the whole server
  side of one request, no socket) answering from the engine over the
  in-process RPC transport of the all-in-one (the engine reads, the
  answer is JSON-encoded and decoded as a message, then rendered);
* ``direct``: the same application reading the database itself
  (:class:`fenix.api.reads.DatabaseReader`), as ``fenix-api`` now does;
* ``wsgi``: the same, called as a WSGI server calls it (no WebTest: the
  server side alone).

Also timed: a page of 1000 instances of the detail (``?limit=1000``,
``direct``), the session list and one session (``direct``), with the
session's plan stored (they never decode it). Each figure is wall time
and CPU time of this process (``time.process_time``: user + system).

``--database FILE`` keeps the filled database in FILE and uses it again
in a later run (filling takes minutes). ``--compare CHECKOUT`` also
times the read alone (``fenix.db.reads.session_detail_json``) of this
tree and of another checkout's ``fenix/db/reads.py`` (e.g. ``main`` in
its work tree), alternated, on the same database, and checks they give
the same bytes.

Usage: python tools/bench/detail_bench.py [--instances N] [--hosts N]
       [--projects N] [--repeat N] [--database FILE] [--compare DIR]
       [--json]
"""
import argparse
import datetime
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from unittest import mock

from oslo_config import cfg
from oslo_db.sqlalchemy import engines
import webob
import webtest

from fenix.api import app as api_app
from fenix.api import reads as api_reads
from fenix.common import config
from fenix.common import rpc
from fenix.common import states as st
from fenix.common import views
from fenix.db import api as db_api
from fenix.db import migration
from fenix.db import reads as db_reads
from fenix.engine import manager as engine_manager
from fenix.engine import rpcapi

CONF = cfg.CONF


def populate(instances, hosts, projects):
    """The session; returns its id and the size of its plan (bytes)."""
    names = ['compute-%04d' % h for h in range(hosts)]
    plan = {'waves': [], 'moves': [], 'estimated_duration': 3600.0}
    for w in range(0, hosts, 50):
        plan['waves'].append({
            'start': w * 10.0, 'end': w * 10.0 + 500.0,
            'hosts': names[w:w + 50],
            'maintenance': [{'host': n, 'start': w * 10.0 + 200.0,
                             'end': w * 10.0 + 500.0}
                            for n in names[w:w + 50]]})
    inst = {}
    for i in range(instances):
        iid = '%08d-0000-4000-8000-%012d' % (i, i)
        host = names[i % hosts]
        project = 'project-%03d' % (i % projects)
        inst[iid] = {'project_id': project, 'host': host,
                     'instance_name': 'vm-%05d' % i, 'vm_state': 'active',
                     'event': st.PLANNED_MAINTENANCE, 'reply': 'ACK_' +
                     st.PLANNED_MAINTENANCE, 'action': 'MIGRATE',
                     'action_state': st.ACTION_DONE, 'action_attempts': 1,
                     'details': {'flavor': 'm1.small', 'group': 'g%d'
                                 % (i // 2)}}
        plan['moves'].append({'instance_id': iid, 'from': host,
                              'to': names[(i + 1) % hosts],
                              'kind': 'live_migration', 'wave': 0,
                              'start': 1.0, 'end': 31.0,
                              'project_id': project})
    sid = db_api.session_create({
        'workflow': 'nfv', 'state': st.MAINTENANCE_DONE, 'plan': plan,
        'hosts': [{'hostname': n, 'state': st.HOST_MAINTAINED,
                   'maintained': True} for n in names]})['session_id']
    for p in range(projects):
        db_api.project_create_or_update(sid, 'project-%03d' % p, {
            'has_manager': True, 'event': st.PLANNED_MAINTENANCE,
            'reply': 'ACK_' + st.PLANNED_MAINTENANCE})
    ids = list(inst)
    for start in range(0, len(ids), 2000):
        db_api.instances_put(sid, {k: inst[k]
                                   for k in ids[start:start + 2000]})
    steps = [{'kind': st.STEP_MAINTAIN_HOST, 'host': n, 'wave': 0}
             for n in names]
    steps += [{'kind': st.STEP_MOVE, 'host': inst[k]['host'], 'instance_id': k,
               'project_id': inst[k]['project_id'], 'wave': 0}
              for k in ids]
    for start in range(0, len(steps), 2000):
        db_api.steps_create(sid, steps[start:start + 2000])
    with db_api.transaction():
        for k in ids:
            for what in ('moving', 'moved'):
                db_api.event_add(sid, st.EVENT_STATE, instance_id=k,
                                 project_id=inst[k]['project_id'],
                                 message='instance %s %s' % (k, what),
                                 data={'to': inst[k]['host']})
    return sid, len(json.dumps(plan))


def legacy_detail(sid):
    """The detail as the engine built it before (ORM reads of every
    table, plan decoded), JSON-encoded."""
    session = db_api.session_get(sid)
    view = views.session_detail(
        session, db_api.hosts_get(sid), db_api.projects_get(sid),
        db_api.instances_get(sid), db_api.action_plugins_get(sid),
        db_api.action_runs_get(sid), db_api.steps_get(sid),
        db_api.events_get(sid))
    return json.dumps(view)


def timed(fn, repeat):
    """Wall and CPU time (this process: user + system) of ``fn``."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        out = fn()
        cpu.append((time.process_time() - cpu_started) * 1000.0)
        times.append((time.perf_counter() - started) * 1000.0)
    return {'median_ms': round(statistics.median(times), 1),
            'best_ms': round(min(times), 1),
            'cpu_median_ms': round(statistics.median(cpu), 1),
            'cpu_best_ms': round(min(cpu), 1)}, out


def other_reads(checkout):
    """``fenix/db/reads.py`` of another checkout (e.g. ``main`` in its
    work tree), loaded as a module of its own next to this one's."""
    path = os.path.join(checkout, 'fenix', 'db', 'reads.py')
    spec = importlib.util.spec_from_file_location('fenix_other_reads', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--instances', type=int, default=10000)
    parser.add_argument('--hosts', type=int, default=1000)
    parser.add_argument('--projects', type=int, default=100)
    parser.add_argument('--repeat', type=int, default=7)
    parser.add_argument('--database', metavar='FILE',
                        help='SQLite file to fill, or to use again when '
                             'it was filled by an earlier run')
    parser.add_argument('--compare', metavar='CHECKOUT',
                        help='also time the read alone of this other '
                             'checkout\'s fenix/db/reads.py')
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args(argv)

    config.parse_args([], default_config_files=[])
    path = args.database or os.path.join(
        tempfile.mkdtemp(prefix='fenix-detail-bench-'), 'fenix.sqlite')
    url = 'sqlite:///' + path
    filled = os.path.exists(path)
    if not filled:
        engine = engines.create_engine(url)
        migration.upgrade('head', engine=engine)
        engine.dispose()
    CONF.set_override('connection', url, group='database')
    CONF.set_override('auth_strategy', 'noauth', group='api')

    started = time.perf_counter()
    if filled:
        sid = db_api.session_list()[0]['session_id']
        plan_bytes = len(json.dumps(db_api.session_get(sid)['plan']))
    else:
        sid, plan_bytes = populate(args.instances, args.hosts,
                                   args.projects)
    fill_s = time.perf_counter() - started

    rpc.set_local_manager(engine_manager.EngineManager(None, host='bench'))
    headers = {'X-User-Id': 'bench', 'X-Project-Id': 'admin',
               'X-Roles': 'admin'}
    via_rpc = webtest.TestApp(api_app.setup_app(
        engine_api=rpcapi.EngineAPI(), reader=rpcapi.EngineAPI()))
    direct = webtest.TestApp(api_app.setup_app(
        engine_api=rpcapi.EngineAPI(), reader=api_reads.DatabaseReader()))
    path = '/v1/maintenance/%s/detail' % sid

    def get(client, url):
        return lambda: client.get(url, headers=headers, status=200).body

    server = api_app.setup_app(engine_api=rpcapi.EngineAPI(),
                               reader=api_reads.DatabaseReader())

    def wsgi(url):
        """The server side alone: the WSGI application called as a
        server calls it, its answer joined (no WebTest)."""
        def call():
            environ = webob.Request.blank(url, headers=headers).environ
            status = []
            body = b''.join(server(environ, lambda s, h, e=None:
                                   status.append(s)))
            assert status[0].startswith('200'), status
            return body
        return call

    legacy_t, legacy_body = timed(lambda: legacy_detail(sid), args.repeat)
    rpc_t, rpc_body = timed(get(via_rpc, path), args.repeat)
    direct_t, direct_body = timed(get(direct, path), args.repeat)
    wsgi_t, wsgi_body = timed(wsgi(path), args.repeat)
    page_t, page_body = timed(get(direct, path + '?limit=1000'),
                              args.repeat)
    list_t, _ = timed(get(direct, '/v1/maintenance'), args.repeat)
    one_t, _ = timed(get(direct, '/v1/maintenance/%s' % sid), args.repeat)
    same = (json.loads(rpc_body) == json.loads(direct_body) ==
            json.loads(legacy_body))
    result = {
        'instances': args.instances, 'hosts': args.hosts,
        'projects': args.projects, 'repeat': args.repeat,
        'plan_bytes': plan_bytes, 'detail_bytes': len(direct_body),
        'fill_s': round(fill_s, 1), 'same_document': same,
        'detail_legacy': legacy_t, 'detail_rpc': rpc_t,
        'detail_direct': direct_t, 'detail_wsgi': wsgi_t,
        'detail_page_direct': page_t,
        'detail_page_bytes': len(page_body), 'list_direct': list_t,
        'session_direct': one_t, 'load_average': os.getloadavg(),
    }
    same = same and wsgi_body == direct_body
    names = ['detail_legacy', 'detail_rpc', 'detail_direct', 'detail_wsgi',
             'detail_page_direct', 'list_direct', 'session_direct']
    if args.compare:
        other = other_reads(args.compare)
        now = datetime.datetime.utcnow()
        for i in (1, 2):
            # Alternated, so that both see the same load: the read alone,
            # then the server side of the request with either read.
            result['read_this_%d' % i], mine_text = timed(
                lambda: db_reads.session_detail_json(sid, now=now),
                args.repeat)
            result['read_other_%d' % i], their_text = timed(
                lambda: other.session_detail_json(sid, now=now),
                args.repeat)
            result['wsgi_this_%d' % i], mine_body = timed(
                wsgi(path), args.repeat)
            with mock.patch.object(api_reads, 'reads', other):
                result['wsgi_other_%d' % i], their_body = timed(
                    wsgi(path), args.repeat)
            names += ['read_this_%d' % i, 'read_other_%d' % i,
                      'wsgi_this_%d' % i, 'wsgi_other_%d' % i]
        result['same_bytes_as_other'] = (mine_text == their_text and
                                         mine_body == their_body)
        same = same and result['same_bytes_as_other']
        result['same_document'] = same
    print('%d instances, %d hosts, %d projects; plan %.1f MB, detail '
          '%.1f MB (filled in %.1f s); same document on every path: %s'
          % (args.instances, args.hosts, args.projects, plan_bytes / 1e6,
             len(direct_body) / 1e6, fill_s, same))
    for name in names:
        print('  %-18s median %8.1f ms  best %8.1f ms  CPU median %8.1f '
              'ms  best %8.1f ms'
              % (name, result[name]['median_ms'], result[name]['best_ms'],
                 result[name]['cpu_median_ms'], result[name]['cpu_best_ms']))
    print('  load average %.1f %.1f %.1f' % result['load_average'])
    if args.json:
        print(json.dumps(result))
    return 0 if same else 1


if __name__ == '__main__':
    sys.exit(main())
