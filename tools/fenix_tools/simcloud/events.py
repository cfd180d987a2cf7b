# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The record of everything: an append-only, queryable event log.

Every state change of the simulated cloud appends one event, a dict with

- ``seq``: 1, 2, 3 ... (``events(since=N)`` returns those after N),
- ``t``: ``time.monotonic()`` when it happened (compare with ``now()``),
- ``time``: the wall-clock UTC time, for people,
- ``kind``: what happened (see :data:`KINDS`),
- the fields of that kind (``server``, ``host``, ``migration``, ...).

The history helpers answer the questions tests ask: where was a server at
time T, which hosts were disabled at the end, was a server ever on a host
while that host was in maintenance.
"""
import collections
import threading
import time

from fenix_tools.simcloud import util

KINDS = {
    'cloud.load': 'the topology was loaded (counts)',
    'server.create': 'a server was created (server, name, project, host)',
    'server.state': 'status/vm_state/task_state changed',
    'server.host': 'a server now runs on another host (host, previous)',
    'server.delete': 'a server was deleted',
    'server.metadata': 'the metadata of a server changed (metadata, '
                       'previous)',
    'service.update': 'a service was disabled/enabled/forced down',
    'host.state': 'a host went down or came back up',
    'host.upgrade': 'a host got another software version (version, '
                    'previous, capabilities, the servers it held and '
                    'whether its nova-compute was disabled)',
    'migration.start': 'a migration started (type, source, dest)',
    'migration.finish': 'a cold migration reached VERIFY_RESIZE / a live '
                        'migration or evacuation completed',
    'migration.confirm': 'a resize was confirmed',
    'migration.revert': 'a resize was reverted',
    'migration.error': 'a migration failed (reason)',
    'migration.cancel': 'a live migration was aborted',
    'migration.held': 'a cold migration waits for a crashed host that Nova '
                      'still reads up (timing.service_down_time)',
    'migration.task_cleared': 'the restarted source compute cleared a '
                              'held migration\'s task (its queued resize '
                              'fails next)',
    'allocation.leak': 'a failed migration left its claim on a host '
                       '(fault leak_allocations)',
    'allocation.heal': 'leaked claims were dropped (hosts)',
    'server_group.create': 'a server group was created',
    'server_group.delete': 'a server group was deleted',
    'alarm.create': 'an AODH alarm was created',
    'alarm.update': 'an AODH alarm was updated',
    'alarm.delete': 'an AODH alarm was deleted',
    'alarm.fire': 'an event alarm matched an event (alarm, previous)',
    'alarm.error': 'an alarm could not be evaluated (as in aodh, it does '
                   'not fire)',
    'alarm.delivery': 'a webhook POST was done (url, status, ok, error)',
    'notification.receive': 'a notification arrived (event_type, intake)',
    'notification.drop': 'a notification could not become an event',
    'fault.set': 'fault injection changed',
    'fault.trigger': 'an injected fault fired',
    'timing.set': 'operation durations changed',
    'endpoint.set': 'a catalog endpoint changed',
    'token.expire': 'all tokens were expired by the control API',
    'api.error': 'an API call failed with an unexpected exception (a bug)',
}


class EventLog:
    """Append-only list of events, indexed by server and host."""

    def __init__(self):
        self._events = []
        self._by_server = collections.defaultdict(list)
        self._by_host = collections.defaultdict(list)
        self._cond = threading.Condition(threading.Lock())
        self._waiting = 0

    def record(self, kind, **fields):
        with self._cond:
            event = {'seq': len(self._events) + 1, 't': time.monotonic(),
                     'time': util.wall_clock(), 'kind': kind}
            event.update(fields)
            self._events.append(event)
            index = event['seq'] - 1
            if fields.get('server'):
                self._by_server[fields['server']].append(index)
            for key in ('host', 'previous_host', 'source', 'dest'):
                host = fields.get(key)
                if host:
                    refs = self._by_host[host]
                    if not refs or refs[-1] != index:
                        refs.append(index)
            if self._waiting:
                self._cond.notify_all()
            return event

    @property
    def last_seq(self):
        with self._cond:
            return len(self._events)

    def events(self, since=0, kind=None, server=None, host=None, until=None,
               **match):
        """Events with ``seq > since``, optionally filtered.

        ``kind`` matches exactly or, ending with ``.``, as a prefix
        (``'migration.'``). ``server``/``host`` use the indexes; any other
        keyword must equal the event's field.
        """
        with self._cond:
            if server is not None:
                source = [self._events[i] for i in self._by_server.get(
                    server, ())]
            elif host is not None:
                source = [self._events[i] for i in self._by_host.get(
                    host, ())]
            else:
                source = self._events[since:]
        out = []
        for event in source:
            if event['seq'] <= since:
                continue
            if until is not None and event['t'] > until:
                break
            if kind is not None:
                if kind.endswith('.'):
                    if not event['kind'].startswith(kind):
                        continue
                elif event['kind'] != kind:
                    continue
            if any(event.get(k) != v for k, v in match.items()):
                continue
            out.append(dict(event))
        return out

    def wait_for(self, predicate, timeout, since=0):
        """Wait until ``predicate(event)`` is true for a new or old event.

        Returns the first matching event (seq > since), or None after
        ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        checked = since
        with self._cond:
            while True:
                for event in self._events[checked:]:
                    if predicate(event):
                        return dict(event)
                checked = len(self._events)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._wait(remaining)

    def wait_until(self, condition, timeout):
        """Wait until ``condition()`` (no argument) holds.

        It is re-checked after every new event, without holding the log's
        lock (so it may take the cloud's lock). Returns its last value.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                seen = len(self._events)
            value = condition()
            if value:
                return value
            with self._cond:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return value
                if len(self._events) == seen:
                    self._wait(remaining)

    def _wait(self, timeout):
        self._waiting += 1
        try:
            self._cond.wait(timeout)
        finally:
            self._waiting -= 1

    def dump(self):
        with self._cond:
            return [dict(e) for e in self._events]

    def load(self, events):
        """Restore a saved log.

        The monotonic times are not comparable with this process's clock;
        they are shifted into the past.
        """
        with self._cond:
            now = time.monotonic()
            last = events[-1]['t'] if events else now
            for event in events:
                event = dict(event)
                event['t'] = now - (last - event['t']) - 1.0
                event['seq'] = len(self._events) + 1
                self._events.append(event)
                index = event['seq'] - 1
                if event.get('server'):
                    self._by_server[event['server']].append(index)
                for key in ('host', 'previous_host', 'source', 'dest'):
                    if event.get(key):
                        self._by_host[event[key]].append(index)


class History:
    """Questions about the past, answered from an :class:`EventLog`."""

    def __init__(self, log):
        self.log = log

    def host_of(self, server_id, at=None):
        """The host that held the server at monotonic time ``at``.

        ``at`` None means now. None when it did not exist or had no host.
        """
        host = None
        for event in self.log.events(server=server_id, until=at):
            if event['kind'] in ('server.create', 'server.host'):
                host = event.get('host')
            elif event['kind'] == 'server.delete':
                host = None
        return host

    def server_timeline(self, server_id):
        """``[(t, host, status)]`` every time host or status changed."""
        out = []
        host = status = None
        for event in self.log.events(server=server_id):
            kind = event['kind']
            if kind == 'server.create':
                host, status = event.get('host'), event.get('status')
            elif kind == 'server.host':
                host = event.get('host')
            elif kind == 'server.state':
                status = event.get('status')
            elif kind == 'server.delete':
                host, status = None, 'DELETED'
            else:
                continue
            out.append((event['t'], host, status))
        return out

    def host_intervals(self, server_id):
        """``[(host, t_from, t_to)]``: where the server was.

        ``t_to`` is None while it is still there.
        """
        out = []
        current = None
        for t, host, _status in self.server_timeline(server_id):
            if current and current[0] == host:
                continue
            if current:
                out.append((current[0], current[1], t))
                current = None
            if host:
                current = (host, t)
        if current:
            out.append((current[0], current[1], None))
        return out

    def service_states(self, at=None, binary='nova-compute'):
        """Service states at time ``at``.

        ``{host: {'disabled', 'disabled_reason', 'forced_down'}}`` for the
        services of ``binary`` that ever changed.
        """
        states = {}
        for event in self.log.events(kind='service.update', until=at):
            if event.get('binary') != binary:
                continue
            states[event['host']] = {
                'disabled': event.get('disabled'),
                'disabled_reason': event.get('disabled_reason'),
                'forced_down': event.get('forced_down')}
        return states

    def disabled_hosts(self, at=None, binary='nova-compute'):
        """Hosts whose ``binary`` service was disabled at time ``at``.

        Built from the initial states recorded at load and the changes
        made since.
        """
        initial = set()
        for event in self.log.events(kind='cloud.load', until=at):
            initial = set(event.get('disabled_hosts') or ())
        states = self.service_states(at=at, binary=binary)
        hosts = set(h for h in initial if h not in states)
        hosts.update(h for h, s in states.items() if s['disabled'])
        return sorted(hosts)

    def maintenance_intervals(self, host=None):
        """``[(host, t_start, t_end, session_id)]`` maintenance windows.

        Built from the ``maintenance.host`` notifications: IN_MAINTENANCE
        opens an interval, MAINTENANCE_COMPLETE closes it; ``t_end`` is
        None while it is still open.
        """
        open_ = {}
        out = []
        for event in self.log.events(kind='notification.receive',
                                     event_type='maintenance.host'):
            payload = event.get('payload') or {}
            name = payload.get('host')
            if not name or (host is not None and name != host):
                continue
            state = payload.get('state')
            if state == 'IN_MAINTENANCE' and name not in open_:
                open_[name] = (event['t'], payload.get('session_id'))
            elif state == 'MAINTENANCE_COMPLETE' and name in open_:
                start, session = open_.pop(name)
                out.append((name, start, event['t'], session))
        for name, (start, session) in open_.items():
            out.append((name, start, None, session))
        return sorted(out, key=lambda i: i[1])

    def maintenance_violations(self, server_ids):
        """``[(server, host, t_from, t_to)]``: servers in maintenance.

        Each is an overlap between a server being on a host and that host
        being in a maintenance window.
        """
        windows = collections.defaultdict(list)
        for name, start, end, _ in self.maintenance_intervals():
            windows[name].append((start, end))
        out = []
        for server_id in server_ids:
            for host, t0, t1 in self.host_intervals(server_id):
                for start, end in windows.get(host, ()):
                    lo = max(t0, start)
                    hi = min(t1 if t1 is not None else float('inf'),
                             end if end is not None else float('inf'))
                    if lo < hi:
                        out.append((server_id, host, lo,
                                    None if hi == float('inf') else hi))
        return out
