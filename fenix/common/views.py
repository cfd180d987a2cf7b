# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The documents the API answers, shaped from database rows.

Pure functions over plain data (the row dicts of :mod:`fenix.db.api` or
:mod:`fenix.db.reads`): no database, no clients, no workflow. The engine
(its RPC answers) and the API process (its own reads of the database,
:mod:`fenix.db.reads`) both shape their answers here, so that an answer
is the same whichever of them gives it.

The ``*_FIELDS`` tuples are the columns each list of ``GET .../detail``
shows, in the order it shows them: the reads select only these.
"""
import datetime

from fenix.common import download_policy
from fenix.common import estimate
from fenix.common import states as st
from fenix.common import timeutils

# Our own optional fields of the create body, kept in session.options.
SESSION_OPTIONS = ('dry_run', 'max_parallel_hosts',
                   'max_concurrent_migrations', 'nack_policy',
                   'silent_own_action', 'reply_window', 'estimates')

# The session columns a summary needs (every one but the plan and what
# only the engine reads).
SUMMARY_FIELDS = (
    'session_id', 'state', 'workflow', 'maintenance_at', 'meta', 'options',
    'error', 'failed_state', 'engine', 'project_id', 'created_at',
    'updated_at', 'hold_requested', 'hold_state', 'estimate')
# The host columns of the progress and the ETA.
SUMMARY_HOST_FIELDS = ('type', 'state', 'maintained', 'started_at',
                       'finished_at')

HOST_FIELDS = ('hostname', 'type', 'state', 'maintained',
               'disabled_by_fenix', 'disabled_by_operator', 'skip_requested',
               'details', 'started_at', 'finished_at')
PROJECT_FIELDS = ('project_id', 'has_manager', 'event', 'event_id',
                  'event_at', 'actions_at', 'reply_at', 'reply',
                  'replied_at', 'instance_actions')
INSTANCE_FIELDS = ('instance_id', 'instance_name', 'project_id', 'host',
                   'vm_state', 'event', 'event_id', 'reply', 'action',
                   'action_state', 'action_attempts', 'action_message',
                   'details')
PLUGIN_FIELDS = ('plugin', 'type', 'position', 'meta')
RUN_FIELDS = ('plugin', 'type', 'hostname', 'state', 'attempt',
              'asynchronous', 'message', 'result', 'started_at',
              'finished_at')
STEP_FIELDS = ('id', 'kind', 'host', 'instance_id', 'project_id', 'wave',
               'state', 'attempt', 'depends_on', 'started_at',
               'finished_at', 'message')
EVENT_FIELDS = ('id', 'created_at', 'kind', 'state', 'host', 'project_id',
                'instance_id', 'message', 'data')


def _times(row):
    return {k: (timeutils.format_time(v) if isinstance(v, datetime.datetime)
                else v) for k, v in row.items()}


def _picked(row, fields):
    return _times({k: row[k] for k in fields})


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


def session_summary(session, hosts, now=None):
    """``GET /v1/maintenance/{id}``: ``session`` its row (at least
    :data:`SUMMARY_FIELDS`), ``hosts`` its host rows (at least
    :data:`SUMMARY_HOST_FIELDS`)."""
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


def host(row):
    return _picked(row, HOST_FIELDS)


def project(row):
    return _picked(row, PROJECT_FIELDS)


def instance(row):
    return _picked(row, INSTANCE_FIELDS)


def action_plugin(row):
    return {'plugin': row['plugin'], 'type': row['type'],
            'position': row['position'], 'metadata': row.get('meta') or {}}


def action_run(run):
    return _picked(run, RUN_FIELDS)


def step(row):
    """A step of the stored plan, compact (GET /detail lists them)."""
    return _picked(row, STEP_FIELDS)


def history_entry(row):
    return _picked(row, EVENT_FIELDS)


def session_detail(session, hosts, projects, instances, plugins, runs,
                   steps, events, now=None):
    """``GET /v1/maintenance/{id}/detail`` from the session's row (with
    its ``plan`` and ``download``) and the rows of its tables, each list
    in the order it is shown."""
    view = session_summary(session, hosts, now=now)
    # Credentials in a URL are never shown.
    view['download'] = download_policy.redact_entries(
        session.get('download'))
    view['plan'] = session.get('plan')
    view['hosts'] = [host(h) for h in hosts]
    view['projects'] = [project(p) for p in projects]
    view['instances'] = [instance(i) for i in instances]
    view['action_plugins'] = [action_plugin(a) for a in plugins]
    view['action_plugin_runs'] = [action_run(r) for r in runs]
    view['steps'] = [step(s) for s in steps]
    view['history'] = [history_entry(e) for e in events]
    return view
