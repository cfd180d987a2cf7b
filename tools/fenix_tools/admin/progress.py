# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Reading a session's detail, rendering progress, following a session.

The readers are tolerant: they take what ``GET /v1/maintenance/{id}`` and
``/detail`` give (SPEC 3.1) and fall back on close variants of a field's
name, so the tool keeps working against Fenix versions that shape the
detail slightly differently.
"""
import collections
import datetime
import threading
import time

from fenix_tools import common

DONE = 'MAINTENANCE_DONE'
FAILED = 'MAINTENANCE_FAILED'
FINAL_STATES = (DONE, FAILED)

BAR_WIDTH = 20


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


def percent_of(detail):
    part = session_part(detail)
    progress = part.get('progress')
    value = _first(progress if isinstance(progress, dict) else {},
                   'percent', 'percent_done')
    if value is None:
        value = _first(part, 'percent_done', 'percent')
    if value is None:
        done, total = host_counts(detail)
        value = (100.0 * done / total) if total else 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def projects_of(detail):
    projects = _first(detail, 'projects', default=None)
    if projects is None:
        projects = _first(session_part(detail), 'projects', default=[])
    if isinstance(projects, dict):
        projects = [dict(v, project_id=k) if isinstance(v, dict) else
                    {'project_id': k, 'state': v}
                    for k, v in projects.items()]
    return [p for p in projects if isinstance(p, dict)]


def project_state(project):
    """A project's standing: its last reply when it answers the last
    event, else the event it was sent with '?' (no answer yet)."""
    state = _first(project, 'state', 'last_state')
    if state:
        return state
    event = _first(project, 'event')
    reply = _first(project, 'reply')
    if reply and (not event or str(reply).endswith(str(event))):
        return reply
    if event:
        return '%s?' % event
    return reply or '-'


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


def short_id(value, length=8):
    value = str(value or '?')
    return value if len(value) <= length else value[:length]


def render_bar(done, total, width=BAR_WIDTH):
    filled = int(round(width * done / total)) if total else 0
    return '[' + '#' * filled + '.' * (width - filled) + ']'


def render_progress(detail, elapsed=None):
    """One line: bar, hosts done/total, state, per-project state."""
    done, total = host_counts(detail)
    part = session_part(detail)
    line = '%s %d/%d hosts %3.0f%% %s%s' % (
        render_bar(done, total), done, total, percent_of(detail),
        state_of(detail) or '?',
        ' (pausing)' if part.get('pause_requested') else '')
    projects = projects_of(detail)
    if projects:
        line += ' | ' + ' '.join(
            '%s=%s' % (short_id(_first(p, 'project_id', 'id')),
                       project_state(p))
            for p in projects)
    if part.get('seconds_left') is not None and \
            state_of(detail) not in FINAL_STATES:
        line += ' | ~%ds left' % int(part['seconds_left'])
    if elapsed is not None:
        line += ' | %ds' % int(elapsed)
    return line


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
                     project_state(p) for p in projects_of(detail)},
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


class FollowResult(object):
    def __init__(self, detail, state, timed_out, elapsed, error=None):
        self.detail = detail
        self.state = state
        self.timed_out = timed_out
        self.elapsed = elapsed
        self.error = error

    @property
    def ok(self):
        return self.state == DONE and not self.timed_out

    @property
    def exit_code(self):
        return 0 if self.ok else 1


class ProgressPrinter(object):
    """Prints progress lines: redrawn in place on a terminal, one line per
    change otherwise."""

    def __init__(self, out, tty=None):
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self._last = None
        self._width = 0

    def show(self, detail, elapsed):
        line = render_progress(detail, elapsed)
        if self.tty:
            pad = max(0, self._width - len(line))
            self.out.write('\r' + line + ' ' * pad)
            self._width = len(line)
            self.out.flush()
        else:
            key = render_progress(detail)
            if key != self._last:
                self.out.write(line + '\n')
                self.out.flush()
            self._last = key

    def close(self):
        if self.tty and self._width:
            self.out.write('\n')
            self.out.flush()
            self._width = 0


def follow(client, session_id, interval=1.0, timeout=3600, printer=None,
           stop_event=None, max_errors=5, clock=time.monotonic):
    """Poll ``/detail`` until the session is final or ``timeout`` passes.

    Transient API errors are tolerated up to ``max_errors`` in a row; a
    404 (the session was deleted) ends the follow at once.
    """
    start = clock()
    detail = {}
    errors = 0
    last_error = None
    stop_event = stop_event or threading.Event()
    try:
        while True:
            try:
                detail = client.get_session_detail(session_id) or {}
                errors = 0
            except common.FenixError as e:
                last_error = str(e)
                errors += 1
                if e.status == 404 or errors >= max_errors:
                    return FollowResult(detail, state_of(detail), False,
                                        clock() - start, last_error)
            elapsed = clock() - start
            if printer is not None and detail:
                printer.show(detail, elapsed)
            state = state_of(detail)
            if state in FINAL_STATES:
                return FollowResult(detail, state, False, elapsed)
            remaining = timeout - elapsed
            if remaining <= 0:
                return FollowResult(detail, state, True, elapsed,
                                    last_error)
            if stop_event.wait(min(interval, remaining)):
                return FollowResult(detail, state, True, clock() - start,
                                    'stopped')
    finally:
        if printer is not None:
            printer.close()
