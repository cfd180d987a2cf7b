# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The VNFM's own service checks.

What a tenant's manager can really observe: its servers through Nova (status,
``OS-EXT-STS:task_state``, the per-project ``hostId`` hash; the real host
name only with an admin role) and the events Fenix sends it. It cannot see
nova-compute services nor the admin's ``maintenance.host`` events (those
belong to the admin project, and AODH only evaluates alarms of the project
an event names). So:

* a member is *out of service* while it is not ACTIVE or has a task state
  (migrating, resizing), or is gone without the VNFM deleting it;
* a host is *in maintenance*, as far as the VNFM knows, when Fenix told it
  that its instances there will be moved (PREPARE/PLANNED_MAINTENANCE): the
  active role must not be on such an instance once the VNFM has answered.

Invariants, checked on every poll:

``no_active``                  no server holds the active role;
``active_not_in_service``      the active server is not in service;
``active_on_host_in_maintenance``  the active server is one the VNFM agreed
                               to have moved;
``max_impacted_members``       a group has more members out of service
                               than its constraint allows;
``anti_affinity`` / ``max_instances_per_host``  placement of a group's
                               in-service members breaks its policy;
``server_lost``                a server went away or to ERROR without the
                               VNFM asking for it.

Each violation is recorded once per episode with the time it was first
seen (``since``) and the time it ended (``until``).

One more, about the order of things rather than a state
(:class:`ReplyOrder`):

``moved_without_reply``        an instance an event E named
                               (PREPARE/PLANNED_MAINTENANCE) started to move
                               before E's ``reply_at`` although the VNFM
                               had not (successfully) answered E: Fenix
                               took something else, e.g. a repeated answer
                               to an earlier event, as E's answer.
"""
import collections
import datetime
import logging
import threading

from fenix_tools import common

LOG = logging.getLogger(__name__)

NO_ACTIVE = 'no_active'
ACTIVE_NOT_IN_SERVICE = 'active_not_in_service'
ACTIVE_ON_HOST_IN_MAINTENANCE = 'active_on_host_in_maintenance'
MAX_IMPACTED_MEMBERS = 'max_impacted_members'
ANTI_AFFINITY = 'anti_affinity'
MAX_INSTANCES_PER_HOST = 'max_instances_per_host'
SERVER_LOST = 'server_lost'
MOVED_WITHOUT_REPLY = 'moved_without_reply'

ACTIVE = 'ACTIVE'
ERROR = 'ERROR'


def _attr(server, name, default=None):
    if isinstance(server, dict):
        return server.get(name, default)
    return getattr(server, name, default)


def server_view(server):
    """A novaclient Server (or a dict of its fields) → the plain facts the
    checks use."""
    return {
        'id': _attr(server, 'id'),
        'name': _attr(server, 'name'),
        'status': _attr(server, 'status'),
        'task_state': _attr(server, 'OS-EXT-STS:task_state'),
        'host_id': _attr(server, 'hostId') or None,
        'host': _attr(server, 'OS-EXT-SRV-ATTR:host'),
    }


def host_key(view):
    """Where a server runs as far as the VNFM can tell (None: unknown)."""
    return view.get('host') or view.get('host_id') or None


def in_service(view):
    return (view is not None and view.get('status') == ACTIVE
            and not view.get('task_state'))


# What the checks need to know of the VNFM's own model (taken under its
# lock, so that it is consistent).
CheckModel = collections.namedtuple('CheckModel', [
    'active_id',       # server holding the active role, or None
    'ha_ids',          # ids of the redundant pair
    'groups',          # list of dicts: group_id, group_name, members,
                       # anti_affinity_group, max_instances_per_host,
                       # max_impacted_members
    'pending_moves',   # ids the VNFM agreed to have moved, not done yet
    'seen_active',     # ids that have been in service at least once
    'expect_active',   # False before the app is deployed or after stop
])


def evaluate(model, servers):
    """Current violations: {(kind, subject): detail}.

    ``servers`` maps id → :func:`server_view` of every server Nova lists
    for the project.
    """
    found = {}
    seen = model.seen_active

    if model.expect_active:
        active = model.active_id
        if not active:
            found[(NO_ACTIVE, '-')] = 'no server holds the active role'
        else:
            view = servers.get(active)
            if not in_service(view):
                found[(ACTIVE_NOT_IN_SERVICE, active)] = (
                    'active server %s is %s' % (
                        active, 'gone' if view is None else '%s/%s' % (
                            view.get('status'), view.get('task_state'))))
            if active in model.pending_moves:
                found[(ACTIVE_ON_HOST_IN_MAINTENANCE, active)] = (
                    'active server %s is on a host in maintenance (its '
                    'move was acknowledged)' % active)

    for group in model.groups:
        members = [m for m in group['members'] if m in seen]
        out = [m for m in members if not in_service(servers.get(m))]
        budget = group.get('max_impacted_members')
        if budget is not None and len(out) > budget:
            found[(MAX_IMPACTED_MEMBERS, group['group_id'])] = (
                'group %s: %d members out of service (%s), max %d' % (
                    group.get('group_name'), len(out),
                    ', '.join(sorted(out)), budget))
        per_host = collections.defaultdict(list)
        for m in members:
            view = servers.get(m)
            if in_service(view) and host_key(view):
                per_host[host_key(view)].append(m)
        limit = group.get('max_instances_per_host') or 0
        if group.get('anti_affinity_group'):
            limit = 1 if not limit else min(limit, 1)
            kind = ANTI_AFFINITY
        else:
            kind = MAX_INSTANCES_PER_HOST
        if limit:
            for host, ids in per_host.items():
                if len(ids) > limit:
                    found[(kind, '%s@%s' % (group['group_id'], host))] = (
                        'group %s: %d members on one host (%s), max %d' % (
                            group.get('group_name'), len(ids),
                            ', '.join(sorted(ids)), limit))

    tracked = set(model.ha_ids)
    for group in model.groups:
        tracked.update(group['members'])
    for sid in tracked:
        view = servers.get(sid)
        if sid in seen and view is None:
            found[(SERVER_LOST, sid)] = 'server %s is gone' % sid
        elif view is not None and view.get('status') == ERROR:
            found[(SERVER_LOST, sid)] = 'server %s is in ERROR' % sid
    return found


class ViolationRecorder(object):
    """Keeps every violation episode with its start and end time."""

    def __init__(self, clock=common.utc_iso):
        self._clock = clock
        self._lock = threading.Lock()
        self._open = {}
        self._episodes = []

    def update(self, current):
        """Record the violations seen now; returns the newly opened ones.
        """
        now = self._clock()
        opened = []
        with self._lock:
            for key, detail in current.items():
                if key not in self._open:
                    episode = {'kind': key[0], 'subject': key[1],
                               'detail': detail, 'since': now,
                               'until': None, 'time': now}
                    self._open[key] = episode
                    self._episodes.append(episode)
                    opened.append(dict(episode))
            for key in list(self._open):
                if key not in current:
                    self._open.pop(key)['until'] = now
        for episode in opened:
            LOG.warning('VIOLATION %s %s: %s', episode['kind'],
                        episode['subject'], episode['detail'])
        return opened

    def record(self, kind, subject, detail):
        """Record a one-off violation (opened and closed at once)."""
        now = self._clock()
        episode = {'kind': kind, 'subject': subject, 'detail': detail,
                   'since': now, 'until': now, 'time': now}
        with self._lock:
            self._episodes.append(episode)
        LOG.warning('VIOLATION %s %s: %s', kind, subject, detail)
        return dict(episode)

    def violations(self):
        with self._lock:
            return [dict(e) for e in self._episodes]

    def open_violations(self):
        with self._lock:
            return [dict(e) for e in self._open.values()]


class Checker(object):
    """A thread that polls Nova and evaluates the invariants.

    ``list_servers()`` returns the project's servers (novaclient objects or
    dicts); ``get_model()`` returns a :class:`CheckModel`;
    ``on_snapshot(views)`` (optional) lets the VNFM learn from what was
    seen (e.g. which servers have been in service).
    """

    def __init__(self, list_servers, get_model, recorder=None,
                 interval=0.1, on_snapshot=None):
        self.list_servers = list_servers
        self.get_model = get_model
        self.recorder = recorder or ViolationRecorder()
        self.interval = interval
        self.on_snapshot = on_snapshot
        self.checks = 0
        self.errors = 0
        self.last_error = None
        self.last_check = None
        self._stop = threading.Event()
        self._thread = None
        self._checked = threading.Condition()

    def check_once(self):
        views = {}
        for server in self.list_servers():
            view = server_view(server)
            views[view['id']] = view
        if self.on_snapshot is not None:
            self.on_snapshot(views)
        model = self.get_model()
        opened = self.recorder.update(evaluate(model, views))
        with self._checked:
            self.checks += 1
            self.last_check = common.utc_iso()
            self._checked.notify_all()
        return opened

    def _run(self):
        while not self._stop.is_set():
            try:
                self.check_once()
            except Exception as e:  # Nova hiccup: keep checking
                self.errors += 1
                self.last_error = str(e)
                LOG.debug('check failed: %s', e)
            self._stop.wait(self.interval)

    def start(self):
        self._stop.clear()
        self._thread = threading.Thread(target=self._run,
                                        name='vnfm-checker', daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def wait_checks(self, count, timeout):
        """Wait until ``count`` more checks have completed."""
        with self._checked:
            target = self.checks + count
            return self._checked.wait_for(lambda: self.checks >= target,
                                          timeout)

    def status(self):
        return {'checks': self.checks, 'errors': self.errors,
                'last_error': self.last_error,
                'last_check': self.last_check,
                'interval': self.interval}


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class ReplyOrder(object):
    """Tells "an instance of event E was moved although E had no reply
    from the manager" (``moved_without_reply``).

    The VNFM says when an event was sent (its ``generated`` time, else
    when it arrived: :meth:`event_received`), which instances it is about
    (:meth:`event_instances`, for a project-wide event once the VNFM read
    them), when its answer left (:meth:`reply_started`) and whether Fenix
    took it (:meth:`reply_finished`); every snapshot of Nova goes to
    :meth:`observe`, which notes when each server started to move (it
    leaves service, ACTIVE without a task state, or shows up on another
    host). A move of an instance of E that started after E was sent and
    before E's ``reply_at`` (less ``grace`` seconds, for clocks) is a
    violation unless the VNFM's answer to E had left before it and was
    taken. (Fenix sends an instance's next event only once its previous
    move is over, so a move that starts after E was sent is E's.) Each
    (event, instance) is recorded once.

    Times are naive UTC datetimes; ``clock`` gives now.
    """

    # Events remembered (the oldest are forgotten).
    KEEP = 1000

    def __init__(self, recorder, grace=0.5, clock=_utcnow):
        self.recorder = recorder
        self.grace = datetime.timedelta(seconds=grace)
        self.clock = clock
        self._lock = threading.Lock()
        self._events = collections.OrderedDict()
        self._last = {}          # server id -> (in service, host key)
        self._moves = collections.defaultdict(list)  # id -> [start times]
        self._flagged = set()

    def event_received(self, key, state, reply_at, instance_ids=None,
                       at=None, sent=None):
        """``at``: when it arrived (default now); ``sent``: when Fenix
        sent it (the event's ``generated`` time), if known."""
        received = at or self.clock()
        with self._lock:
            if key in self._events:
                # A copy of an event already known (the outbox may send
                # one again after an engine restart): the same event,
                # with what is known of its answer.
                return
            self._events[key] = {
                'key': key, 'state': state, 'reply_at': reply_at,
                'since': min(sent, received) if sent else received,
                'instances': (list(instance_ids)
                              if instance_ids is not None else None),
                'reply_started': None, 'reply_ok': None}
            while len(self._events) > self.KEEP:
                self._events.popitem(last=False)
        self.evaluate()

    def event_instances(self, key, instance_ids):
        with self._lock:
            if key in self._events:
                self._events[key]['instances'] = list(instance_ids)
        self.evaluate()

    def reply_started(self, key, at=None):
        with self._lock:
            event = self._events.get(key)
            if event is not None and event['reply_started'] is None:
                event['reply_started'] = at or self.clock()

    def reply_finished(self, key, ok):
        """Once Fenix took an answer to the event it stays taken: a later
        copy of the same answer (the VNFM answering a redelivered copy of
        the event, which the outbox may send) is refused with 409 "already
        answered" without undoing the first."""
        with self._lock:
            event = self._events.get(key)
            if event is not None:
                event['reply_ok'] = bool(ok) or bool(event['reply_ok'])
        self.evaluate()

    def observe(self, views, at=None):
        """One snapshot: {id: :func:`server_view`} of the project's
        servers."""
        now = at or self.clock()
        with self._lock:
            for sid, view in views.items():
                current = (in_service(view), host_key(view))
                previous = self._last.get(sid)
                self._last[sid] = current
                if previous is None or not previous[0]:
                    continue
                left = not current[0]
                jumped = (current[1] and previous[1] and
                          current[1] != previous[1])
                if left or jumped:
                    self._moves[sid].append(now)
        self.evaluate()

    def note_move(self, server_id, at):
        """A move of ``server_id`` that began at ``at``, known from
        elsewhere (e.g. a cloud's own record of its migrations, which is
        exact where snapshots come a poll late)."""
        with self._lock:
            if at not in self._moves[server_id]:
                self._moves[server_id].append(at)
        self.evaluate()

    def evaluate(self):
        found = []
        with self._lock:
            for event in self._events.values():
                if not event['instances']:
                    continue
                for sid in event['instances']:
                    if (event['key'], sid) in self._flagged:
                        continue
                    for moved in self._moves.get(sid, ()):
                        if self._unanswered_move(event, moved):
                            self._flagged.add((event['key'], sid))
                            found.append((event, sid, moved))
                            break
        for event, sid, moved in found:
            self.recorder.record(
                MOVED_WITHOUT_REPLY, sid,
                'instance %s of %s event %s started to move at %s, before '
                'its reply_at %s, although %s' % (
                    sid, event['state'], event['key'], moved.isoformat(),
                    event['reply_at'].isoformat()
                    if event['reply_at'] else None,
                    'the event had no answer then'
                    if event['reply_started'] is None or
                    moved < event['reply_started'] else
                    'Fenix did not take its answer'))
        return found

    def _unanswered_move(self, event, moved):
        if moved < event['since']:
            return False
        reply_at = event['reply_at']
        if reply_at is not None and moved >= reply_at - self.grace:
            return False
        started = event['reply_started']
        if started is None or moved < started:
            return True
        # Answered before the move: a violation once Fenix refused it.
        return event['reply_ok'] is False
