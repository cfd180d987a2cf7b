# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The figures of ``/metrics``, computed from the database when asked.

Every figure comes from rows every engine and every API worker sees
alike (:func:`fenix.db.api.metrics_rows`), never from counters a process
keeps: two API workers, or the API asking two engines in turn, give the
same answer. Gauges are counts of rows as they are now; the counters are
counts of stored rows that only grow while their session is kept (steps
of moves, history entries, the outbox), so deleting or purging a session
lowers them, which Prometheus takes for a counter reset.

The result is plain JSON (it travels over RPC); the API renders it in the
Prometheus text format (:mod:`fenix.api.metrics`).
"""
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api

# Upper bounds (seconds) of the histograms' buckets.
MOVE_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
REPLY_BUCKETS = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200)


def histogram(values, bounds):
    """``{'buckets': [[le, cumulative count], ...], 'count', 'sum'}``,
    the last bucket ``'+Inf'``."""
    values = list(values)
    buckets = [[b, sum(1 for v in values if v <= b)] for b in bounds]
    buckets.append(['+Inf', len(values)])
    return {'buckets': buckets, 'count': len(values),
            'sum': float(sum(values))}


def _seconds(start, end):
    return max(0.0, (end - start).total_seconds())


def reply_latencies(exchanges):
    """``{project_id: [seconds, ...]}``: for each reply, the time since the
    event it answers was sent (the last ``notify`` entry of the same
    session, project and instance before it). Only the first reply to an
    event counts; a reply with no event before it is left out."""
    sent = {}
    latencies = {}
    for session_id, project_id, instance_id, kind, at in exchanges:
        key = (session_id, project_id, instance_id)
        if kind == st.EVENT_NOTIFY:
            sent[key] = at
        elif kind == st.EVENT_REPLY and sent.get(key) is not None:
            latencies.setdefault(project_id, []).append(
                _seconds(sent.pop(key), at))
    return latencies


def figures(rows=None, now=None):
    """The figures of ``/metrics`` (see :func:`fenix.db.api.metrics_rows`
    for ``rows``; default: read them now)."""
    if rows is None:
        rows = db_api.metrics_rows()
    # Heartbeats are written at the database's time (engine liveness is
    # judged by that clock): their age too, unless the caller gives "now".
    beat_now = now or rows.get('db_now')
    now = now or timeutils.utcnow()
    moves = rows['moves']
    return {
        'sessions': {s: rows['sessions'].get(s, 0)
                     for s in sorted(set(st.SESSION_STATES) |
                                     set(rows['sessions']))},
        'hosts': {s: rows['hosts'].get(s, 0)
                  for s in sorted({st.HOST_PENDING, st.HOST_EMPTYING,
                                   st.HOST_IN_MAINTENANCE,
                                   st.HOST_MAINTAINED, st.HOST_FAILED,
                                   st.HOST_SKIPPED} | set(rows['hosts']))},
        'migrations': {
            'started': moves['started'], 'done': moves['done'],
            'failed': moves['failed'],
            'duration': histogram((_seconds(a, b)
                                   for a, b in moves['durations']),
                                  MOVE_BUCKETS)},
        'reply_latency': {
            project_id: histogram(values, REPLY_BUCKETS)
            for project_id, values in sorted(
                reply_latencies(rows['exchanges']).items())},
        'notifications': {
            event_type: {'sent': sent, 'failed': max(0, tries - sent),
                         'queued': queued}
            for event_type, (sent, tries, queued)
            in sorted(rows['outbox'].items())},
        'engines': {host: _seconds(at, beat_now or now)
                    if at <= (beat_now or now) else 0.0
                    for host, at in rows['engines']},
    }
