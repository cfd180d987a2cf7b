# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The crash campaign's figures, from what a session left behind.

Inputs are plain data, recorded outside Fenix:

* the simulated cloud's ``notification.receive`` events (``event_type``,
  ``message_id``, ``payload``): every notification Fenix sent, as the
  cloud's listener received it;
* the servers before the session (``{id: name}``) and after it
  (``{id: {'name', 'status', 'task_state'}}``), and the ids their own
  manager deleted on purpose (scale-in, own action);
* the action plug-in starts the campaign's agent received (``{'session_id',
  'plugin', 'type', 'host', 'attempt'}``);
* the session's state as Fenix's API gives it at the end.

:func:`evaluate` makes one session's figures, :func:`aggregate` adds them
up per workflow and mode and in total, :func:`render` prints the table.
A figure listed in :data:`FAILING` that is not zero fails the campaign.
"""
import collections

DONE = 'MAINTENANCE_DONE'
FAILED = 'MAINTENANCE_FAILED'
FINAL_STATES = (DONE, FAILED)
IN_MAINTENANCE = 'IN_MAINTENANCE'
HOST_EVENT = 'maintenance.host'
SESSION_EVENT = 'maintenance.session'
ACTIVE = 'ACTIVE'
ERROR = 'ERROR'

# Counted, never a failure by themselves.
KILLS = 'kills'
SESSIONS = 'sessions'
# Each of these must be zero.
NOT_DONE = 'not_done'
HUNG = 'hung'
RESTART_FAILURES = 'restart_failures'
INSTANCES_LOST = 'instances_lost'
EXTRA_MIGRATIONS = 'extra_migrations'
HOSTS_LEFT_DISABLED = 'hosts_left_disabled'
DUPLICATE_HOST_STARTS = 'duplicate_host_starts'
DUPLICATE_PLUGIN_STARTS = 'duplicate_plugin_starts'
UNANNOUNCED_FINAL_STATES = 'unannounced_final_states'
LOST_FINAL_STATES = 'lost_final_states'
APP_VIOLATIONS = 'app_violations'
UNSETTLED_INSTANCES = 'unsettled_instances'
MAINTENANCE_OVERLAPS = 'maintenance_overlaps'
DUPLICATE_MIGRATIONS = 'duplicate_migrations'
DUPLICATE_HOST_DISABLES = 'duplicate_host_disables'
DUPLICATE_HOST_EVENTS = 'duplicate_host_events'
# Information for whoever reads a failure.
MIGRATIONS = 'migrations'
REFERENCE_MIGRATIONS = 'reference_migrations'
KILLS_SKIPPED = 'kills_skipped'
REDELIVERED = 'redelivered_notifications'
VNFM_ERRORS = 'vnfm_errors'
# With several engines (from their logs): sessions taken over from an
# engine taken for dead, and runners of a stale owner stopped by fencing.
TAKEOVERS = 'takeovers'
FENCED = 'fenced_runners'

FAILING = (NOT_DONE, HUNG, RESTART_FAILURES, INSTANCES_LOST, EXTRA_MIGRATIONS,
           HOSTS_LEFT_DISABLED, DUPLICATE_HOST_STARTS,
           DUPLICATE_PLUGIN_STARTS, UNANNOUNCED_FINAL_STATES,
           LOST_FINAL_STATES, APP_VIOLATIONS, UNSETTLED_INSTANCES,
           MAINTENANCE_OVERLAPS, DUPLICATE_MIGRATIONS,
           DUPLICATE_HOST_DISABLES, DUPLICATE_HOST_EVENTS)
COUNTED = (KILLS, SESSIONS) + FAILING + (
    MIGRATIONS, REFERENCE_MIGRATIONS, KILLS_SKIPPED, REDELIVERED,
    VNFM_ERRORS, TAKEOVERS, FENCED)

# One line of explanation per figure (the table's legend, the README).
MEANING = {
    KILLS: 'SIGKILLs of a running engine process (and SIGSTOPs with '
           '--engines)',
    SESSIONS: 'sessions run with kills',
    NOT_DONE: 'sessions whose final state is not MAINTENANCE_DONE '
              '(hung ones included)',
    HUNG: 'sessions not final within their time bound',
    RESTART_FAILURES: 'engine starts after a kill that did not come up',
    INSTANCES_LOST: 'servers gone without their manager deleting them, '
                    'or in ERROR',
    EXTRA_MIGRATIONS: 'migrations started beyond the crash-free run of '
                      'the same cloud',
    HOSTS_LEFT_DISABLED: 'nova-compute services disabled at the end',
    DUPLICATE_HOST_STARTS: 'maintenance.host IN_MAINTENANCE sent again '
                           'for a host (new message id)',
    DUPLICATE_PLUGIN_STARTS: 'action plug-in runs started again for a '
                             'host (or the session)',
    UNANNOUNCED_FINAL_STATES: 'final state in the API, no '
                              'maintenance.session carrying it',
    LOST_FINAL_STATES: 'final state announced that the API does not '
                       'give at the end',
    APP_VIOLATIONS: "violations seen by the sample VNFM's checker",
    UNSETTLED_INSTANCES: 'servers left not ACTIVE or with a task state '
                         '(e.g. VERIFY_RESIZE)',
    MAINTENANCE_OVERLAPS: 'servers found on a host while it was in '
                          'maintenance',
    DUPLICATE_MIGRATIONS: 'a server migrated again off the same host',
    DUPLICATE_HOST_DISABLES: 'a nova-compute service disabled again '
                             '(after it was enabled) in the session',
    DUPLICATE_HOST_EVENTS: 'maintenance.host of another state than '
                           'IN_MAINTENANCE sent again for a host (new '
                           'message id)',
    MIGRATIONS: 'migrations started (all sessions)',
    REFERENCE_MIGRATIONS: 'migrations of the crash-free runs, one per '
                          'session',
    KILLS_SKIPPED: 'planned kills whose moment never came',
    REDELIVERED: 'notifications received twice with the same message id',
    VNFM_ERRORS: "errors in the sample VNFM's log (information)",
    TAKEOVERS: 'sessions taken over by another engine (engines\' logs)',
    FENCED: "runners of a stale owner fenced (engines' logs: writes or "
            "actions refused, the runner stopped)",
}


# --- notifications ---------------------------------------------------------

def _of_session(notifications, session_id, event_type):
    for event in notifications:
        if event.get('event_type') != event_type:
            continue
        payload = event.get('payload') or {}
        if payload.get('session_id') == session_id:
            yield event, payload


def _message_key(event, index):
    """The message id, or a key of its own when the sender gave none."""
    return event.get('message_id') or ('#%d' % index)


def host_starts(notifications, session_id):
    """``{host: [message id, ...]}``: IN_MAINTENANCE announcements."""
    out = collections.defaultdict(list)
    for index, (event, payload) in enumerate(
            _of_session(notifications, session_id, HOST_EVENT)):
        if payload.get('state') == IN_MAINTENANCE:
            out[payload.get('host')].append(_message_key(event, index))
    return dict(out)


def duplicate_host_starts(notifications, session_id):
    """``{host: n}``: IN_MAINTENANCE sent ``n`` times too many.

    The same message received twice is a re-delivery (a listener drops it
    by its id), not a second start: only distinct ids count.
    """
    return {host: len(set(ids)) - 1
            for host, ids in host_starts(notifications, session_id).items()
            if len(set(ids)) > 1}


def duplicate_host_events(notifications, session_id):
    """``{'host state': n}``: maintenance.host of a state other than
    IN_MAINTENANCE (counted by :func:`duplicate_host_starts`) sent ``n``
    times too many, by distinct message ids."""
    ids = collections.defaultdict(set)
    for index, (event, payload) in enumerate(
            _of_session(notifications, session_id, HOST_EVENT)):
        if payload.get('state') != IN_MAINTENANCE:
            ids['%s %s' % (payload.get('host'), payload.get('state'))].add(
                _message_key(event, index))
    return {key: len(v) - 1 for key, v in ids.items() if len(v) > 1}


def redelivered(notifications, session_id):
    """Notifications of the session received again with the same id."""
    seen = collections.Counter()
    for event in notifications:
        payload = event.get('payload') or {}
        if payload.get('session_id') == session_id and \
                event.get('message_id'):
            seen[event['message_id']] += 1
    return sum(n - 1 for n in seen.values())


def announced_states(notifications, session_id):
    """The states of the session's maintenance.session, in order."""
    return [payload.get('state') for _event, payload in
            _of_session(notifications, session_id, SESSION_EVENT)]


def final_state_figures(notifications, session_id, api_state):
    """``(unannounced, lost)``, each 0 or 1.

    Unannounced: the API gives a final state that no maintenance.session
    carried. Lost: a final state was announced that is not what the API
    gives at the end (the announcement ran ahead of the database, or the
    state changed after it).
    """
    announced = [s for s in announced_states(notifications, session_id)
                 if s in FINAL_STATES]
    unannounced = int(api_state in FINAL_STATES and
                      api_state not in announced)
    lost = int(any(s != api_state for s in announced))
    return unannounced, lost


# --- plug-in starts --------------------------------------------------------

def duplicate_plugin_starts(starts, session_id):
    """``{(plugin, type, host): n}``: runs started ``n`` times too many.

    A start that names the attempt it belongs to and repeats one already
    seen is a re-delivery of that attempt (an idempotent agent does the
    work once), not a new start; starts without an attempt each count.
    """
    runs = collections.defaultdict(set)
    for index, start in enumerate(starts):
        if start.get('session_id') != session_id:
            continue
        key = (start.get('plugin'), start.get('type'),
               start.get('host') or '')
        attempt = start.get('attempt')
        runs[key].add(('attempt', attempt) if attempt is not None
                      else ('start', index))
    return {key: len(ids) - 1 for key, ids in runs.items() if len(ids) > 1}


# --- the cloud's actions ---------------------------------------------------

def duplicate_migrations(migrations):
    """``{'server@source': n}``: a server migrated ``n`` times too many
    off the same host. ``migrations``: the cloud's ``migration.start``
    records (``server`` or ``name``, ``source``). Each host is maintained
    once in a session, so a server leaves a host at most once; a second
    move off it is a step done twice."""
    seen = collections.Counter(
        '%s@%s' % (m.get('name') or m.get('server'), m.get('source'))
        for m in migrations)
    return {key: n - 1 for key, n in seen.items() if n > 1}


def duplicate_host_disables(updates, binary='nova-compute'):
    """``{host: n}``: the ``binary`` service of a host disabled ``n``
    times too many. ``updates``: the cloud's ``service.update`` records
    (one per change: ``host``, ``binary``, ``disabled``)."""
    seen = collections.Counter(
        u.get('host') for u in updates
        if u.get('binary') == binary and u.get('disabled'))
    return {host: n - 1 for host, n in seen.items() if n > 1}


# --- servers ---------------------------------------------------------------

def engine_log_figures(text, session_id):
    """``(takeovers, fenced)`` of one session from Fenix engines' log
    text: sessions taken over from another engine, and the warnings of a
    stale owner whose write or action was refused (one per fenced
    runner: :class:`fenix.common.fencing.Fence` warns once)."""
    takeovers = fenced = 0
    for line in text.splitlines():
        if session_id not in line:
            continue
        if 'Taking over session %s ' % session_id in line:
            takeovers += 1
        elif 'no longer owns it' in line:
            fenced += 1
    return takeovers, fenced


def lost_instances(before, after, owner_deleted=()):
    """Names of servers lost: present before, gone after without their
    manager deleting them, or in ERROR at the end (any server)."""
    owner_deleted = set(owner_deleted)
    lost = set()
    for sid, name in before.items():
        if sid not in after and sid not in owner_deleted:
            lost.add(name or sid)
    for sid, server in after.items():
        if server.get('status') == ERROR:
            lost.add(server.get('name') or sid)
    return sorted(lost)


def unsettled_instances(after):
    """``{name: 'STATUS/task_state'}`` of servers not ACTIVE and idle
    (ERROR ones are lost, not unsettled)."""
    out = {}
    for sid, server in after.items():
        status = server.get('status')
        task = server.get('task_state')
        if status == ERROR:
            continue
        if status != ACTIVE or task:
            out[server.get('name') or sid] = '%s/%s' % (status, task)
    return out


def extra_migrations(migrations, reference):
    """Migrations beyond the crash-free run (never negative); 0 when
    there is no reference to compare with."""
    if reference is None:
        return 0
    return max(0, int(migrations) - int(reference))


# --- one session, all sessions ---------------------------------------------

def evaluate(data):
    """One session's figures and the details behind every non-zero one.

    ``data``: ``session_id``, ``state`` and ``error`` (from the API at the
    end), ``hung`` (bool), ``kills`` (int), ``kills_skipped`` (int),
    ``notifications``, ``starts``, ``before``, ``after``,
    ``owner_deleted``, ``migrations`` and ``reference_migrations`` (ints),
    ``restart_failures`` (int: engine starts that did not come up),
    ``migration_records`` and ``service_updates`` (the cloud's
    ``migration.start`` and ``service.update`` records),
    ``disabled_hosts`` (names), ``violations`` (the VNFM checker's
    records), ``overlaps`` (``[(server, host)]``), ``vnfm_errors`` (int).
    """
    sid = data['session_id']
    state = data.get('state')
    notifications = data.get('notifications') or ()
    hosts = duplicate_host_starts(notifications, sid)
    host_events = duplicate_host_events(notifications, sid)
    moves = duplicate_migrations(data.get('migration_records') or ())
    disables = duplicate_host_disables(data.get('service_updates') or ())
    plugins = duplicate_plugin_starts(data.get('starts') or (), sid)
    unannounced, lost_final = final_state_figures(notifications, sid, state)
    lost = lost_instances(data.get('before') or {}, data.get('after') or {},
                          data.get('owner_deleted') or ())
    unsettled = unsettled_instances(data.get('after') or {})
    extra = extra_migrations(data.get('migrations') or 0,
                             data.get('reference_migrations'))
    disabled = sorted(data.get('disabled_hosts') or ())
    violations = list(data.get('violations') or ())
    overlaps = list(data.get('overlaps') or ())
    figures = {
        KILLS: int(data.get('kills') or 0),
        SESSIONS: 1,
        NOT_DONE: int(state != DONE),
        HUNG: int(bool(data.get('hung'))),
        RESTART_FAILURES: int(data.get('restart_failures') or 0),
        INSTANCES_LOST: len(lost),
        EXTRA_MIGRATIONS: extra,
        HOSTS_LEFT_DISABLED: len(disabled),
        DUPLICATE_HOST_STARTS: sum(hosts.values()),
        DUPLICATE_PLUGIN_STARTS: sum(plugins.values()),
        UNANNOUNCED_FINAL_STATES: unannounced,
        LOST_FINAL_STATES: lost_final,
        APP_VIOLATIONS: len(violations),
        UNSETTLED_INSTANCES: len(unsettled),
        MAINTENANCE_OVERLAPS: len(overlaps),
        DUPLICATE_MIGRATIONS: sum(moves.values()),
        DUPLICATE_HOST_DISABLES: sum(disables.values()),
        DUPLICATE_HOST_EVENTS: sum(host_events.values()),
        MIGRATIONS: int(data.get('migrations') or 0),
        REFERENCE_MIGRATIONS: int(data.get('reference_migrations') or 0),
        KILLS_SKIPPED: int(data.get('kills_skipped') or 0),
        REDELIVERED: redelivered(notifications, sid),
        VNFM_ERRORS: int(data.get('vnfm_errors') or 0),
        TAKEOVERS: int(data.get('takeovers') or 0),
        FENCED: int(data.get('fenced') or 0),
    }
    details = {}
    if figures[NOT_DONE]:
        details['state'] = state
        details['error'] = data.get('error')
    if lost:
        details['instances_lost'] = lost
    if hosts:
        details['duplicate_host_starts'] = hosts
    if host_events:
        details['duplicate_host_events'] = host_events
    if moves:
        details['duplicate_migrations'] = moves
    if disables:
        details['duplicate_host_disables'] = disables
    if plugins:
        details['duplicate_plugin_starts'] = {
            '%s/%s@%s' % (p, t, h or 'session'): n
            for (p, t, h), n in sorted(plugins.items())}
    if unannounced or lost_final:
        details['announced_states'] = announced_states(notifications, sid)
    if disabled:
        details['hosts_left_disabled'] = disabled
    if unsettled:
        details['unsettled_instances'] = unsettled
    if violations:
        details['app_violations'] = [
            '%s %s' % (v.get('kind'), v.get('detail') or '')
            for v in violations]
    if overlaps:
        details['maintenance_overlaps'] = ['%s@%s' % tuple(o[:2])
                                           for o in overlaps]
    return {'figures': figures, 'details': details}


def failures(figures):
    """``{figure: value}`` of the failing figures that are not zero."""
    return {name: figures.get(name) for name in FAILING
            if figures.get(name)}


def add(total, figures):
    for name in COUNTED:
        total[name] = total.get(name, 0) + int(figures.get(name) or 0)
    return total


def aggregate(results):
    """``(groups, total)`` from per-session results.

    ``results``: dicts with ``workflow``, ``mode`` and ``figures``.
    ``groups`` is ordered by first appearance: ``[{'workflow', 'mode',
    'figures'}]``.
    """
    groups = collections.OrderedDict()
    total = dict.fromkeys(COUNTED, 0)
    for result in results:
        key = (result['workflow'], result['mode'])
        if key not in groups:
            groups[key] = dict.fromkeys(COUNTED, 0)
        add(groups[key], result['figures'])
        add(total, result['figures'])
    return ([{'workflow': w, 'mode': m, 'figures': f}
             for (w, m), f in groups.items()], total)


# --- the table -------------------------------------------------------------

TABLE_ROWS = COUNTED


def render(groups, total):
    """A table: one row per figure, one column per workflow/mode and the
    total; failing figures that are not zero are marked ``<<``."""
    columns = ['%s/%s' % (g['workflow'], g['mode']) for g in groups]
    columns.append('total')
    values = [g['figures'] for g in groups] + [total]
    width = max([len(r) for r in TABLE_ROWS] + [6])
    cols = [max(len(c), 5) for c in columns]
    lines = ['%-*s  %s' % (width, 'figure', '  '.join(
        '%*s' % (w, c) for w, c in zip(cols, columns)))]
    lines.append('-' * len(lines[0]))
    for row in TABLE_ROWS:
        cells = '  '.join('%*d' % (w, v.get(row, 0))
                          for w, v in zip(cols, values))
        mark = '  <<' if row in FAILING and total.get(row) else ''
        lines.append('%-*s  %s%s' % (width, row, cells, mark))
    return '\n'.join(lines)
