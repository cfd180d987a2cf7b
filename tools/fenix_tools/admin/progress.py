# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Following a session, and the summary of how it ended.

Following and the progress line are the client library's
(:mod:`fenix.client.progress`, as ``openstack maintenance session watch``
shows them); this module adds what fenix-admin, the demo and the
integration tier report at the end: :func:`summarize`, a plain dict of
the outcome (hosts maintained, instance actions, errors, duration).

The readers are tolerant: they take what ``GET /v1/maintenance/{id}`` and
``/detail`` give (SPEC 3.1) and fall back on close variants of a field's
name, so the tool keeps working against Fenix versions that shape the
detail slightly differently.
"""
import collections
import datetime

from fenix.client import exceptions as client_exc
from fenix.client import progress as client_progress

from fenix_tools.admin import client as admin_client

DONE = 'MAINTENANCE_DONE'
FAILED = 'MAINTENANCE_FAILED'
FINAL_STATES = (DONE, FAILED)


def _first(mapping, *names, default=None):
    for name in names:
        if isinstance(mapping, dict) and mapping.get(name) is not None:
            return mapping[name]
    return default


def session_part(detail):
    """The session record inside a detail (or the record itself)."""
    inner = _first(detail, 'session', 'maintenance')
    if isinstance(inner, dict):
        merged = dict(inner)
        for key, value in detail.items():
            merged.setdefault(key, value)
        return merged
    return detail or {}


def state_of(detail):
    return _first(session_part(detail), 'state', 'status')


def session_id_of(detail):
    return _first(session_part(detail), 'session_id', 'id', 'uuid')


def host_name(host):
    if isinstance(host, str):
        return host
    return _first(host, 'hostname', 'host', 'name', default='?')


def hosts_of(detail):
    hosts = _first(detail, 'hosts', default=None)
    if hosts is None:
        hosts = _first(session_part(detail), 'hosts', default=[])
    if isinstance(hosts, dict):
        hosts = [dict(v, hostname=k) if isinstance(v, dict) else
                 {'hostname': k, 'state': v} for k, v in hosts.items()]
    return [h for h in hosts if isinstance(h, (dict, str))]


def host_done(host):
    if isinstance(host, str):
        return False
    if _first(host, 'maintained') is True:
        return True
    return _first(host, 'state', 'status') in ('MAINTAINED', 'DONE')


def host_counts(detail):
    """(done, total): from the hosts list, else from the progress fields."""
    hosts = hosts_of(detail)
    if hosts:
        return sum(1 for h in hosts if host_done(h)), len(hosts)
    part = session_part(detail)
    progress = part.get('progress') if isinstance(part, dict) else None
    source = progress if isinstance(progress, dict) else part
    done = _first(source, 'hosts_done', 'done', default=0)
    total = _first(source, 'hosts_total', 'total', default=0)
    return int(done or 0), int(total or 0)


def projects_of(detail):
    projects = _first(detail, 'projects', default=None)
    if projects is None:
        projects = _first(session_part(detail), 'projects', default=[])
    if isinstance(projects, dict):
        projects = [dict(v, project_id=k) if isinstance(v, dict) else
                    {'project_id': k, 'state': v}
                    for k, v in projects.items()]
    return [p for p in projects if isinstance(p, dict)]


def instances_of(detail):
    instances = _first(detail, 'instances', default=None)
    if instances is None:
        instances = _first(session_part(detail), 'instances', default=[])
    if isinstance(instances, dict):
        instances = [dict(v, instance_id=k) for k, v in instances.items()
                     if isinstance(v, dict)]
    return [i for i in instances if isinstance(i, dict)]


def history_of(detail):
    history = _first(detail, 'history', 'events', default=None)
    if history is None:
        history = _first(session_part(detail), 'history', 'events',
                         default=[])
    return [h for h in history if isinstance(h, dict)]


def _parse(value):
    if not value:
        return None
    try:
        text = str(value).replace('Z', '+00:00')
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(
            tzinfo=None)
    return parsed


def summarize(detail, elapsed=None):
    """The facts of a finished (or stopped) session as a plain dict."""
    part = session_part(detail)
    hosts = hosts_of(detail)
    done, total = host_counts(detail)
    instances = instances_of(detail)
    actions = collections.Counter()
    moved = []
    for inst in instances:
        action = _first(inst, 'action', 'instance_action')
        state = _first(inst, 'action_state', 'state')
        if action:
            actions['%s:%s' % (action, state or '?')] += 1
        if action and state in ('DONE', None):
            moved.append({'instance_id': _first(inst, 'instance_id', 'id'),
                          'action': action,
                          'from_host': _first(inst, 'host', 'from_host',
                                              'hostname'),
                          'to_host': _first(inst, 'target_host',
                                            'to_host', 'new_host')})
    errors = [_first(h, 'message', 'details', 'detail', default='')
              for h in history_of(detail)
              if _first(h, 'kind', 'type') == 'error']
    if part.get('error') and part['error'] not in errors:
        errors.insert(0, part['error'])
    duration = None
    created = _parse(_first(part, 'created_at', 'created'))
    finished = _parse(_first(part, 'finished_at', 'updated_at'))
    if created and finished and state_of(detail) in FINAL_STATES:
        duration = (finished - created).total_seconds()
    return {
        'session_id': session_id_of(detail),
        'state': state_of(detail),
        'hosts_done': done,
        'hosts_total': total,
        'hosts_maintained': [host_name(h) for h in hosts if host_done(h)],
        'hosts_not_maintained': [host_name(h) for h in hosts
                                 if not host_done(h)],
        'projects': {str(_first(p, 'project_id', 'id')):
                     client_progress.project_state(p)
                     for p in projects_of(detail)},
        'instance_actions': dict(actions),
        'instances_moved': moved,
        'errors': errors,
        'failed_state': part.get('failed_state'),
        'session_duration': duration,
        'elapsed': elapsed,
    }


def render_summary(summary):
    lines = ['Session %s: %s' % (summary.get('session_id'),
                                 summary.get('state'))]
    lines.append('  hosts maintained: %d/%d %s' % (
        summary['hosts_done'], summary['hosts_total'],
        ', '.join(summary['hosts_maintained']) or '-'))
    if summary['hosts_not_maintained']:
        lines.append('  hosts NOT maintained: %s'
                     % ', '.join(summary['hosts_not_maintained']))
    for project, state in sorted(summary['projects'].items()):
        lines.append('  project %s: %s' % (project, state))
    if summary['instance_actions']:
        lines.append('  instance actions: %s' % ', '.join(
            '%s x%d' % (k, v)
            for k, v in sorted(summary['instance_actions'].items())))
    if summary.get('failed_state'):
        lines.append('  failed in state: %s' % summary['failed_state'])
    for error in summary['errors']:
        lines.append('  error: %s' % error)
    if summary.get('session_duration') is not None:
        lines.append('  session duration: %.1f s'
                     % summary['session_duration'])
    elif summary.get('elapsed') is not None:
        lines.append('  followed for: %.1f s' % summary['elapsed'])
    return '\n'.join(lines)


def follow(client, session_id, interval=1.0, timeout=3600, display=None,
           stop_event=None):
    """Poll ``/detail`` until the session is final or ``timeout`` passes:
    :func:`fenix.client.progress.watch` (its WatchResult: ``detail``,
    ``state``, ``timed_out``, ``elapsed``, ``error``, ``exit_code``).

    :param client: an :class:`~fenix_tools.admin.client.AdminClient`, a
        :class:`fenix_tools.common.FenixClient` or the library's client.
    :param display: a :class:`fenix.client.progress.Display`, or None.
    """
    try:
        library = admin_client.library_client(client)
        return client_progress.watch(library, session_id,
                                     interval=interval, timeout=timeout,
                                     display=display, stop=stop_event)
    except client_exc.ClientException as e:
        raise admin_client.error(e)
    finally:
        if display is not None:
            display.end_line()
