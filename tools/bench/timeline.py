#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The critical path of a benchmark session, from ``makespan.py --trace``.

Reads ``TRACE.<run>.json`` (the session detail and the simulated cloud's
record) and ``TRACE.<run>.log`` (the engine's log: the managers' reply
PUTs and the host plug-in runs, which the cloud does not see) and prints,
in seconds from the session's MAINTENANCE announcement:

* per host, in the order the hosts were disabled: its wave and planned
  start and end (the plan's, from the first disable), then when it was
  disabled, its first instance event sent (as the cloud received it),
  first reply, first move started, last move ended, IN_MAINTENANCE
  received, plug-in started (engine log), MAINTENANCE_COMPLETE received
  and enabled;
* the gaps of each link of the chain over all instances and hosts (p50,
  p90, max): disable -> event, event -> reply, reply -> move, last move
  -> IN_MAINTENANCE, the host action, MAINTENANCE_COMPLETE -> enable;
* the session's state changes, and the slip of each wave against the
  plan.

Usage::

    python tools/bench/makespan.py --quick --trace /tmp/ms
    python tools/bench/timeline.py /tmp/ms.nfv
"""
import argparse
import collections
import datetime
import json
import re
import sys

REPLY = re.compile(r'(\S+ \S+) \d+ INFO fenix\.api\.server .*"PUT '
                   r'/v1/maintenance/[^/]+/[^/]+/([0-9a-f-]{36})')
PLUGIN = re.compile(r'(\S+ \S+) \d+ INFO fenix\.workflow\.base .*host '
                    r'plug-in \S+ (started|DONE) on (\S+)')


def _ts(text):
    return datetime.datetime.fromisoformat(text.replace(' ', 'T')).timestamp()


def _pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def load(prefix):
    with open(prefix + '.json') as f:
        trace = json.load(f)
    try:
        with open(prefix + '.log') as f:
            log = f.read().splitlines()
    except OSError:
        log = []
    return trace, log


def timeline(trace, log):
    """(rows, gaps, session states, t0) of one traced run."""
    cloud = trace['cloud']
    plan = ((trace['detail'].get('plan') or {}).get('nfv') or {})
    t0 = None
    for e in cloud:
        if e['kind'] == 'notification.receive' and \
                e.get('event_type') == 'maintenance.session':
            t0 = _ts(e['time'])
            break
    if t0 is None:
        raise ValueError('no maintenance.session notification in the trace')
    hosts = collections.defaultdict(dict)
    moves = collections.defaultdict(list)     # source -> [(kind, t, iid)]
    events = collections.defaultdict(list)    # iid -> [t]
    states = []
    for e in cloud:
        t = _ts(e['time']) - t0
        kind = e['kind']
        payload = e.get('payload')
        if not isinstance(payload, dict):
            payload = {}
        if kind == 'service.update':
            hosts[e['host']]['disable' if e['disabled'] else 'enable'] = t
        elif kind in ('migration.start', 'migration.finish'):
            moves[e['source']].append((kind.split('.')[1], t, e['server']))
        elif kind == 'notification.receive':
            etype = e.get('event_type')
            if etype == 'maintenance.host':
                hosts[payload['host']].setdefault(payload['state'], t)
            elif etype == 'maintenance.session':
                states.append((payload.get('state'), t))
            elif etype == 'maintenance.planned' and \
                    payload.get('state') in ('PREPARE_MAINTENANCE',
                                             'PLANNED_MAINTENANCE') and \
                    isinstance(payload.get('instance_ids'), list):
                events[payload['instance_ids'][0]].append(t)
    replies = collections.defaultdict(list)
    plugins = {}
    for line in log:
        m = REPLY.match(line)
        if m:
            replies[m.group(2)].append(_ts(m.group(1)) - t0)
            continue
        m = PLUGIN.match(line)
        if m:
            plugins.setdefault((m.group(3), m.group(2)),
                               _ts(m.group(1)) - t0)
    planned = {}
    for wave in plan.get('waves') or ():
        for m in wave.get('maintenance') or ():
            planned[m['host']] = (wave['index'], wave['start'], m['end'])
    first = min([h['disable'] for h in hosts.values() if 'disable' in h] or
                [0.0])
    gaps = collections.defaultdict(list)
    rows = []
    for name in sorted(hosts, key=lambda h: hosts[h].get('disable', 1e9)):
        h = hosts[name]
        dis = h.get('disable')
        own = [m for m in moves.get(name, ())]
        starts = {}
        for kind, t, iid in own:
            if kind == 'start':
                starts.setdefault(iid, t)
        sent, answered = [], []
        for iid, start in starts.items():
            ev = [t for t in events.get(iid, ()) if dis is None or t >= dis]
            if not ev:
                continue
            sent.append(ev[0])
            rep = [t for t in replies.get(iid, ()) if t >= ev[0]]
            if dis is not None:
                gaps['disable -> event'].append(ev[0] - dis)
            if rep:
                answered.append(rep[0])
                gaps['event -> reply'].append(rep[0] - ev[0])
                gaps['reply -> move'].append(start - rep[0])
        ends = [t for kind, t, _i in own if kind == 'finish']
        if ends and 'IN_MAINTENANCE' in h:
            gaps['last move -> IN_MAINTENANCE'].append(
                h['IN_MAINTENANCE'] - max(ends))
        if 'IN_MAINTENANCE' in h and 'MAINTENANCE_COMPLETE' in h:
            gaps['IN_MAINTENANCE -> MAINTENANCE_COMPLETE'].append(
                h['MAINTENANCE_COMPLETE'] - h['IN_MAINTENANCE'])
        if 'MAINTENANCE_COMPLETE' in h and 'enable' in h:
            gaps['MAINTENANCE_COMPLETE -> enable'].append(
                h['enable'] - h['MAINTENANCE_COMPLETE'])
        wave, pstart, pend = planned.get(name, (None, None, None))
        rows.append({
            'host': name, 'wave': wave,
            'planned_start': None if pstart is None else pstart + first,
            'planned_end': None if pend is None else pend + first,
            'disable': dis, 'event': min(sent) if sent else None,
            'reply': min(answered) if answered else None,
            'move': min(starts.values()) if starts else None,
            'last_move_end': max(ends) if ends else None,
            'in_maintenance': h.get('IN_MAINTENANCE'),
            'plugin': plugins.get((name, 'started')),
            'complete': h.get('MAINTENANCE_COMPLETE'),
            'enable': h.get('enable')})
    return rows, dict(gaps), states, first


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('prefix', help='TRACE.<run> (without .json / .log)')
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)
    rows, gaps, states, first = timeline(*load(args.prefix))
    if args.json:
        print(json.dumps({'hosts': rows, 'states': states,
                          'gaps': gaps}, sort_keys=True))
        return 0
    cols = ('wave', 'planned_start', 'planned_end', 'disable', 'event',
            'reply', 'move', 'last_move_end', 'in_maintenance', 'plugin',
            'complete', 'enable')
    heads = ('w', 'pl.st', 'pl.end', 'disab', 'event', 'reply', 'move',
             'lastmv', 'in_mnt', 'plugin', 'compl', 'enable')
    print('seconds from MAINTENANCE announced; first disable at %.2f'
          % first)
    print('%-14s' % 'host' + ' '.join('%6s' % h for h in heads))

    def cell(v):
        if v is None:
            return '%6s' % '-'
        return '%6d' % v if isinstance(v, int) else '%6.2f' % v
    for r in rows:
        print('%-14s' % r['host'] + ' '.join(cell(r[c]) for c in cols))
    print()
    for name, values in gaps.items():
        print('%-40s n=%3d  p50 %6.3f  p90 %6.3f  max %6.3f'
              % (name, len(values), _pct(values, 0.5), _pct(values, 0.9),
                 max(values)))
    print()
    waves = collections.defaultdict(list)
    for r in rows:
        if r['wave'] is not None and r['enable'] is not None:
            waves[r['wave']].append(r)
    for w in sorted(waves):
        end = max(r['enable'] for r in waves[w])
        pend = max(r['planned_end'] for r in waves[w])
        print('wave %d: %d host(s), ended %.2f, planned %.2f (slip %+.2f)'
              % (w, len(waves[w]), end, pend, end - pend))
    print('session: ' + ', '.join('%s %.2f' % s for s in states))
    return 0


if __name__ == '__main__':
    sys.exit(main())
