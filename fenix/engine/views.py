# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""How the engine presents its records to API callers (plain JSON data)."""
import datetime

from fenix.common import download_policy
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.workflow import estimate

# Our own optional fields of the create body, kept in session.options.
SESSION_OPTIONS = ('dry_run', 'max_parallel_hosts',
                   'max_concurrent_migrations', 'nack_policy',
                   'silent_own_action', 'reply_window', 'estimates')


def _times(row):
    return {k: (timeutils.format_time(v) if isinstance(v, datetime.datetime)
                else v) for k, v in row.items()}


def _progress(hosts):
    """Hosts done of those to maintain: a skipped host is no work left
    (as the workflows count it in ``maintenance.session``)."""
    skipped = sum(1 for h in hosts if h['state'] == st.HOST_SKIPPED and
                  not h['maintained'])
    total = len(hosts) - skipped
    done = sum(1 for h in hosts if h['maintained'])
    return {'hosts_total': total, 'hosts_done': done,
            'hosts_skipped': skipped,
            'percent_done': int(100 * done / total) if total else 0}


def session_summary(session, hosts=None, now=None):
    if hosts is None:
        hosts = db_api.hosts_get(session['session_id'])
    state = session['state']
    view = {
        'session_id': session['session_id'],
        'state': session['state'],
        'workflow': session['workflow'],
        'maintenance_at': timeutils.format_time(session['maintenance_at']),
        'metadata': session.get('meta') or {},
        'options': session.get('options') or {},
        'error': session.get('error'),
        'failed_state': session.get('failed_state'),
        'engine': session.get('engine'),
        'project_id': session.get('project_id'),
        'created_at': timeutils.format_time(session.get('created_at')),
        'updated_at': timeutils.format_time(session.get('updated_at')),
    }
    view.update(_progress(hosts))
    if view['state'] == st.MAINTENANCE_DONE and not hosts:
        view['percent_done'] = 100
    # Admin control (SPEC 3.7): a pause asked for and not yet reached,
    # and where a PAUSED session resumes.
    view['pause_requested'] = bool(session.get('hold_requested')) and \
        state in st.ACTIVE_SESSION_STATES and state != st.PAUSED
    view['hold_state'] = session.get('hold_state') \
        if state == st.PAUSED else None
    view['dry_run'] = bool((session.get('options') or {}).get('dry_run'))
    view.update(estimate.eta(session, hosts, now=now))
    return view


def action_run(run):
    return _times({k: run[k] for k in ('plugin', 'type', 'hostname', 'state',
                                       'attempt', 'asynchronous',
                                       'message', 'result', 'started_at',
                                       'finished_at')})


def step(row):
    """A step of the stored plan, compact (GET /detail lists them)."""
    return _times({k: row[k] for k in (
        'id', 'kind', 'host', 'instance_id', 'project_id', 'wave', 'state',
        'attempt', 'depends_on', 'started_at', 'finished_at', 'message')})


def session_detail(session):
    sid = session['session_id']
    hosts = db_api.hosts_get(sid)
    view = session_summary(session, hosts)
    # Credentials in a URL are never shown.
    view['download'] = download_policy.redact_entries(
        session.get('download'))
    view['plan'] = session.get('plan')
    view['hosts'] = [_times({k: h[k] for k in (
        'hostname', 'type', 'state', 'maintained', 'disabled_by_fenix',
        'disabled_by_operator', 'skip_requested', 'details', 'started_at',
        'finished_at')})
        for h in hosts]
    view['projects'] = [_times({k: p[k] for k in (
        'project_id', 'has_manager', 'event', 'event_id', 'event_at',
        'actions_at', 'reply_at', 'reply', 'replied_at',
        'instance_actions')})
        for p in db_api.projects_get(sid)]
    view['instances'] = [_times({k: i[k] for k in (
        'instance_id', 'instance_name', 'project_id', 'host', 'vm_state',
        'event', 'event_id', 'reply', 'action', 'action_state',
        'action_attempts',
        'action_message', 'details')})
        for i in db_api.instances_get(sid)]
    view['action_plugins'] = [
        {'plugin': a['plugin'], 'type': a['type'],
         'position': a['position'], 'metadata': a.get('meta') or {}}
        for a in db_api.action_plugins_get(sid)]
    view['action_plugin_runs'] = [action_run(r)
                                  for r in db_api.action_runs_get(sid)]
    view['steps'] = [step(s) for s in db_api.steps_get(sid)]
    view['history'] = [_times({k: e[k] for k in (
        'id', 'created_at', 'kind', 'state', 'host', 'project_id',
        'instance_id', 'message', 'data')})
        for e in db_api.events_get(sid)]
    return view
