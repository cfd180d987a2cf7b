# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The plan stored as steps (the ``steps`` table).

A workflow writes its plan as step rows when it stores the plan (``nfv``:
the whole session at once, :func:`nfv_plan_steps`; ``default``: one host
at a time when it chooses the host, :func:`host_steps`), in the same
transaction. Each step is marked (:meth:`Book.mark`) in the transaction of
the change it stands for (a move started or done, a host disabled, in
maintenance or maintained, a plug-in run started or ended). An engine
that restarts reads where the session stood from these rows: a step over
(DONE, SKIPPED, CANCELLED) is not done again, a RUNNING one is resumed
according to its kind (a move in flight is watched, a host in
maintenance is not announced again).

Steps of one host::

    disable_compute
      -> notify_instance (nfv) / notify_project (default), per instance /
         project
        -> move (or own_action), per instance
          -> maintain_host    (its plugin steps run while it runs)
            -> enable_compute

``depends_on`` holds the ids of the steps that must be over first.
"""
import threading

from oslo_log import log as logging

from fenix.common import exception
from fenix.common import state_machine
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api

LOG = logging.getLogger(__name__)

MOVE_KINDS = (st.STEP_MOVE, st.STEP_OWN_ACTION)
NOTIFY_KINDS = (st.STEP_NOTIFY_INSTANCE, st.STEP_NOTIFY_PROJECT)

# A step added at run time to a host's steps: (the kinds of that host's
# steps it waits for, the kinds of that host's PENDING steps that then
# wait for it). An event or a move of an instance that came to the host
# comes after the host was disabled (and a move after the instance's own
# event), and before the host is maintained (its plug-ins with it).
RUN_TIME_LINKS = {
    st.STEP_NOTIFY_INSTANCE: ((st.STEP_DISABLE_COMPUTE,),
                              (st.STEP_MAINTAIN_HOST, st.STEP_PLUGIN)),
    st.STEP_NOTIFY_PROJECT: ((st.STEP_DISABLE_COMPUTE,),
                             (st.STEP_MAINTAIN_HOST, st.STEP_PLUGIN)),
    st.STEP_MOVE: ((st.STEP_DISABLE_COMPUTE, st.STEP_NOTIFY_INSTANCE),
                   (st.STEP_MAINTAIN_HOST, st.STEP_PLUGIN)),
    st.STEP_OWN_ACTION: ((st.STEP_DISABLE_COMPUTE, st.STEP_NOTIFY_INSTANCE),
                         (st.STEP_MAINTAIN_HOST, st.STEP_PLUGIN)),
}

# What an event asked of a step in a state becomes (the declared edges
# only): 'start' of a step already running is its resumption, of a failed
# one a retry, of a done one (planned again) 'again' then 'start'.
_ROUTES = {
    ('start', st.STEP_RUNNING): ('resume',),
    ('start', st.STEP_FAILED): ('retry_now',),
    ('start', st.STEP_DONE): ('again', 'start'),
    ('done', st.STEP_FAILED): ('retry_now', 'done'),
    ('fail', st.STEP_DONE): ('again', 'fail'),
}

# Where each event leads (whatever the state it is taken in).
_TARGETS = {event: dst for _src, event, dst in state_machine.STEP.edges()}


def key_of(step):
    """What identifies a step within its session's plan."""
    kind = step['kind']
    inputs = step.get('inputs') or {}
    if kind in MOVE_KINDS:
        kind = st.STEP_MOVE
    if kind == st.STEP_PLUGIN:
        return (kind, step.get('host') or '', inputs.get('plugin'),
                inputs.get('type'))
    if kind == st.STEP_ANNOUNCE:
        return (kind, step.get('host') or '', inputs.get('event'))
    if kind == st.STEP_NOTIFY_PROJECT:
        return (kind, step.get('host') or '', step.get('project_id'),
                inputs.get('event'))
    return (kind, step.get('host') or '', step.get('instance_id'))


def _inputs(extra):
    """Keyword arguments naming a step as its inputs (``event_name`` is
    the ``event`` of a notify step)."""
    return {('event' if k == 'event_name' else k): v
            for k, v in extra.items()}


def _time(value):
    return timeutils.format_time(value) if value is not None else None


class Book(object):
    """The steps of one session, indexed by what they are about; marks
    them. Many threads of one workflow may use it (each step is marked
    by the one thread that does its work)."""

    def __init__(self, session_id):
        self.sid = session_id
        self._lock = threading.Lock()
        # What this thread's open transaction wrote (see _opened).
        self._open = threading.local()
        self.reload()

    def reload(self):
        rows = db_api.steps_get(self.sid)
        with self._lock:
            self._by_key = {}
            # Every row by id (a superseded one too: a dependency may name
            # it), the ids in each state, and who waits for whom.
            self._by_id = {}
            self._by_state = {}
            self._dependents = {}
            # The keys of _by_key by the host of their row, and the order
            # each key came in (host_steps answers in that order).
            self._keys_of_host = {}
            self._key_order = {}
            for row in sorted(rows, key=lambda r: r['id']):
                self._index(row)

    def _index(self, row):
        old = self._by_id.get(row['id'])
        if old is not None:
            self._by_state.get(old['state'], set()).discard(row['id'])
        self._by_id[row['id']] = row
        self._by_state.setdefault(row['state'], set()).add(row['id'])
        for dep in row.get('depends_on') or ():
            self._dependents.setdefault(dep, set()).add(row['id'])
        key = key_of(row)
        old = self._by_key.get(key)
        # A cancelled step (of a plan made again) gives way to a newer
        # one; a newer cancelled one never hides a live one.
        if old is None or old['id'] <= row['id'] and (
                row['state'] != st.STEP_CANCELLED or
                old['state'] == st.STEP_CANCELLED) or old['id'] == row['id']:
            self._by_key[key] = row
            self._key_order.setdefault(key, len(self._key_order))
            if old is not None:
                self._keys_of_host.get(old['host'], set()).discard(key)
            self._keys_of_host.setdefault(row['host'], set()).add(key)

    def _state_of(self, step_id):
        row = self._by_id.get(step_id)
        return row['state'] if row else None

    def in_state(self, state):
        """The steps in ``state`` (plan order: by id)."""
        with self._lock:
            return [self._by_id[i]
                    for i in sorted(self._by_state.get(state, ()))]

    def ready(self, host=None, kinds=None):
        """The PENDING steps whose dependencies are all DONE or SKIPPED
        (:func:`state_machine.step_ready`), of ``host`` and ``kinds``
        when given: what may start now. Read from the index by state,
        not from a scan of the plan."""
        with self._lock:
            found = []
            for i in sorted(self._by_state.get(st.STEP_PENDING, ())):
                row = self._by_id[i]
                if host is not None and row['host'] != host:
                    continue
                if kinds is not None and row['kind'] not in kinds:
                    continue
                if state_machine.step_ready(row, self._state_of):
                    found.append(row)
            return found

    def is_ready(self, kind, host=None, instance_id=None, **extra):
        """Whether the step of ``kind`` (as :meth:`get` names it) may start;
        True for a step the plan does not have (nothing holds it)."""
        row = self.get(kind, host, instance_id, **extra)
        if row is None:
            return True
        with self._lock:
            return state_machine.step_ready(row, self._state_of)

    def waiting_on(self, step):
        """The dependencies of ``step`` not DONE nor SKIPPED (dicts)."""
        with self._lock:
            return [self._by_id.get(d) or {'id': d, 'state': None}
                    for d in step.get('depends_on') or ()
                    if self._state_of(d) not in state_machine.STEP_SATISFIED]

    def __bool__(self):
        return bool(self._by_key)

    def all(self):
        with self._lock:
            return sorted(self._by_key.values(), key=lambda r: r['id'])

    def get(self, kind, host=None, instance_id=None, **extra):
        """The step of ``kind`` on ``host`` (of ``instance_id``); for a
        plug-in step ``plugin`` and ``type``, for a project's event
        ``project_id`` and ``event_name`` say which."""
        extra = _inputs(extra)
        probe = dict(kind=kind, host=host, instance_id=instance_id,
                     project_id=extra.pop('project_id', None), inputs=extra)
        with self._lock:
            return self._by_key.get(key_of(probe))

    def state(self, kind, host=None, instance_id=None, **extra):
        row = self.get(kind, host, instance_id, **extra)
        return row['state'] if row else None

    def host_steps(self, hostname):
        """The steps of ``hostname`` but those cancelled (as :meth:`get`
        names them), from the index by host: what a host's end or a step
        added at run time reads costs that host's steps, not the plan's."""
        with self._lock:
            keys = sorted(self._keys_of_host.get(hostname, ()),
                          key=self._key_order.__getitem__)
            return [r for r in (self._by_key[k] for k in keys)
                    if r['state'] != st.STEP_CANCELLED]

    def add(self, steps, before=None):
        """Write new steps (in the caller's transaction) and index them.

        ``before``: {index in ``steps``: [ids of stored steps that must
        now also wait for that new step]}: the dependencies are extended
        (:func:`db_api.steps_depend`) in the same transaction.
        """
        rows = db_api.steps_create(self.sid, steps)
        self._reindex(rows)
        links = {}
        for n, waiting in (before or {}).items():
            for step_id in waiting:
                links.setdefault(step_id, []).append(rows[n]['id'])
        if links:
            self._extend(db_api.steps_depend(self.sid, links))
        return rows

    def _extend(self, rows):
        """Index the dependencies :func:`db_api.steps_depend` extended,
        and only them: the rest of each indexed row stays as it is (the
        step is another thread's to mark, and that thread may have marked
        it in its own open transaction). After a rollback the links this
        transaction added are taken out again (:meth:`_restore`)."""
        added = {}
        with self._lock:
            for row in rows:
                old = self._by_id.get(row['id'])
                if old is None:
                    self._index(row)
                    continue
                before = set(old.get('depends_on') or ())
                added[row['id']] = set(row['depends_on'] or ()) - before
                self._index(dict(old, depends_on=row['depends_on']))
        if db_api.in_transaction():
            links = self._opened()[1]
            for step_id, deps in added.items():
                links.setdefault(step_id, set()).update(deps)

    def _opened(self):
        """What this thread's open transaction wrote to the book, put back
        by :meth:`_restore` if it is rolled back: (the ids of the rows it
        wrote, {step id: the dependencies it added})."""
        if getattr(self._open, 'ids', None) is None:
            self._open.ids, self._open.links = set(), {}
            db_api.on_end(self._restore)
        return self._open.ids, self._open.links

    def _reindex(self, rows):
        """Index ``rows`` as just written. Written in an open transaction
        (the caller's), they are indexed at once (the thread that wrote
        them reads them next) and put back as the database has them if
        that transaction is rolled back (:meth:`_restore`): the index
        never keeps what was not committed."""
        rows = list(rows)
        with self._lock:
            for row in rows:
                self._index(row)
        if db_api.in_transaction():
            self._opened()[0].update(row['id'] for row in rows)

    def _restore(self, committed):
        """At the end of a transaction that wrote steps: nothing to do
        once committed; after a rollback the rows it wrote are read
        again (a step it added is dropped; only the thread that marks a
        step writes it, so nobody else changed these rows meanwhile) and
        the dependencies it added to other steps taken out (those steps
        may carry another thread's marks: they are not read again)."""
        ids = getattr(self._open, 'ids', None) or set()
        links = getattr(self._open, 'links', None) or {}
        self._open.ids = self._open.links = None
        if committed or not (ids or links):
            return
        stored = ({r['id']: r for r in db_api.steps_get(self.sid, ids=ids)}
                  if ids else {})
        with self._lock:
            for step_id in sorted(ids):
                if step_id in stored:
                    self._index(stored[step_id])
                else:
                    self._drop(step_id)
            for step_id, deps in links.items():
                row = self._by_id.get(step_id)
                if row is None or step_id in ids:
                    continue
                for dep in deps:
                    self._dependents.get(dep, set()).discard(step_id)
                self._index(dict(row, depends_on=[
                    d for d in row.get('depends_on') or () if d not in deps]))
        LOG.info('Session %s: %d step(s) put back as stored, the new '
                 'dependencies of %d taken out after a rolled back '
                 'transaction', self.sid, len(ids), len(links))

    def _drop(self, step_id):
        """Forget a row that was never committed (with the lock)."""
        row = self._by_id.pop(step_id, None)
        if row is None:
            return
        self._by_state.get(row['state'], set()).discard(step_id)
        self._dependents.pop(step_id, None)
        for dep in row.get('depends_on') or ():
            self._dependents.get(dep, set()).discard(step_id)
        key = key_of(row)
        if self._by_key.get(key, {}).get('id') != step_id:
            return
        # The key goes back to the newest row of it left, if any.
        rest = [r for r in self._by_id.values() if key_of(r) == key]
        self._keys_of_host.get(row['host'], set()).discard(key)
        del self._by_key[key]
        if rest:
            self._index(max(rest, key=lambda r: r['id']))
        else:
            self._key_order.pop(key, None)

    def _run_time_links(self, step):
        """A step the plan did not have, added at run time (a move or an
        event for an instance that came to the host, a host's step the
        plan left out): (its own ``depends_on``, the ids of the host's
        steps that must now wait for it). See :data:`RUN_TIME_LINKS`."""
        host = step.get('host')
        if not host:
            return [], []
        after, before = RUN_TIME_LINKS.get(step['kind'], ((), ()))
        deps, waiting = [], []
        for row in self.host_steps(host):
            if row['kind'] in after and (
                    row['kind'] not in NOTIFY_KINDS or
                    row.get('instance_id') == step.get('instance_id')):
                deps.append(row['id'])
            elif row['kind'] in before and \
                    row['state'] == st.STEP_PENDING:
                waiting.append(row['id'])
        return sorted(deps), sorted(waiting)

    def mark(self, kind, host=None, instance_id=None, event='done',
             values=None, bump_attempt=False, create=None, **extra):
        """Take ``event`` on the step (in the caller's transaction).

        A step the plan does not have (the executor adapts: an instance
        that came, a host of the session the plan left out) is added
        first, with ``create`` (more columns) if given. ``event`` is
        routed along the declared edges (see _ROUTES); a step already in
        the state the event leads to is left as it is. Returns the row.
        """
        row = self.get(kind, host, instance_id, **extra)
        if row is None or row['state'] == st.STEP_CANCELLED:
            step = dict(create or {}, kind=kind, host=host,
                        instance_id=instance_id)
            if extra:
                step['inputs'] = dict(step.get('inputs') or {},
                                      **_inputs(extra))
                if 'project_id' in extra:
                    step['project_id'] = step['inputs'].pop('project_id')
            deps, waiting = self._run_time_links(step)
            step.setdefault('depends_on', deps)
            row = self.add([step], before={0: waiting})[0]
        machine = state_machine.STEP
        events = _ROUTES.get((event, row['state']), (event,))
        if events[0] not in machine.table[row['state']]:
            if row['state'] == _TARGETS.get(event) or (
                    row['state'] in st.STEP_OVER and
                    event in ('skip', 'cancel')):
                return row      # already there: nothing to change
            raise exception.InvalidStepTransition(
                machine=machine.name, src=row['state'],
                dst='(%s)' % event)
        for n, ev in enumerate(events):
            last = n == len(events) - 1
            row = db_api.step_transition(
                row['id'], ev, values=values if last else None,
                bump_attempt=bump_attempt and last)
        self._reindex([row])
        return row

    def mark_many(self, kind, marks):
        """:meth:`mark` of many steps of ``kind`` at once (in the caller's
        transaction): the steps the plan does not have added in one
        write, the events taken in one (:func:`db_api.
        steps_transition_each`), each step with its own values.

        ``marks``: dicts with ``host``, ``instance_id``, ``events`` (the
        events taken in that order, each routed as :meth:`mark` routes
        it), ``values`` (set with the last) and ``create`` (more columns
        of a step to add). A step that may not take an event is left as
        it is and the refusal logged (as ``Workflow.mark_step`` does).
        Returns the rows, in the order of ``marks`` (None for a refused
        one)."""
        marks = list(marks)
        rows = [self.get(kind, m.get('host'), m.get('instance_id'))
                for m in marks]
        new = [n for n, row in enumerate(rows)
               if row is None or row['state'] == st.STEP_CANCELLED]
        if new:
            steps, before = [], {}
            for n in new:
                m = marks[n]
                step = dict(m.get('create') or {}, kind=kind,
                            host=m.get('host'),
                            instance_id=m.get('instance_id'))
                deps, waiting = self._run_time_links(step)
                step.setdefault('depends_on', deps)
                before[len(steps)] = waiting
                steps.append(step)
            for n, row in zip(new, self.add(steps, before=before)):
                rows[n] = row
        machine = state_machine.STEP
        changes, where = [], []
        for n, (m, row) in enumerate(zip(marks, rows)):
            state, chain = row['state'], []
            try:
                for event in m.get('events') or ('done',):
                    route = _ROUTES.get((event, state), (event,))
                    if route[0] not in machine.table[state]:
                        if state == _TARGETS.get(event) or (
                                state in st.STEP_OVER and
                                event in ('skip', 'cancel')):
                            continue    # already there
                        raise exception.InvalidStepTransition(
                            machine=machine.name, src=state,
                            dst='(%s)' % event)
                    for ev in route:
                        state = machine.next(state, ev)
                    chain.extend(route)
            except exception.InvalidStepTransition as e:
                LOG.warning('Session %s: step %s of %s: %s', self.sid,
                            kind, m.get('instance_id') or m.get('host'), e)
                rows[n] = None
                continue
            if chain:
                changes.append((row['id'], chain, m.get('values')))
                where.append(n)
        if changes:
            written = db_api.steps_transition_each(self.sid, changes)
            self._reindex(written)
            for n, row in zip(where, written):
                rows[n] = row
        return rows

    def cancel_pending(self, hostname=None, why=None):
        """Cancel the steps not started yet (of ``hostname`` if given), and
        every PENDING step that waits for one of them, whatever its host
        (:func:`state_machine.step_dependents`): a cancelled dependency
        never becomes ready, so nothing is left waiting on it."""
        with self._lock:
            ids = {r['id'] for r in self._by_key.values()
                   if r['state'] == st.STEP_PENDING and
                   (hostname is None or r['host'] == hostname)}
            ids |= {i for i in state_machine.step_dependents(
                ids, lambda i: self._dependents.get(i, ()))
                if self._state_of(i) == st.STEP_PENDING}
        if not ids:
            return []
        rows = db_api.steps_transition(self.sid, sorted(ids), 'cancel',
                                       values={'message': why})
        self._reindex(rows)
        return rows

    def skip_pending(self, steps, why):
        """Skip PENDING ``steps`` the run did not need (an instance gone
        from the host, an event a project without a manager never got),
        in one write: the steps waiting for them may become ready."""
        ids = sorted({s['id'] for s in steps
                      if s['state'] == st.STEP_PENDING})
        if not ids:
            return []
        rows = db_api.steps_transition(self.sid, ids, 'skip',
                                       values={'message': why})
        self._reindex(rows)
        return rows


# --- plans as steps ----------------------------------------------------------

def _plugin_types(host_type, controller=False):
    types = [st.PLUGIN_HOST, host_type]
    if host_type == st.COMPUTE and controller:
        types.append(st.PLUGIN_CONTROLLER)
    return types


def _host_tail(hostname, wave, moves_refs, plugins, host_type=st.COMPUTE,
               controller=False, first_ref=None):
    """maintain_host, its plug-ins and enable_compute of one host."""
    steps = []
    deps = list(moves_refs) + ([first_ref] if first_ref else [])
    maintain = 'maintain:%s' % hostname
    steps.append({'ref': maintain, 'kind': st.STEP_MAINTAIN_HOST,
                  'host': hostname, 'wave': wave, 'depends_on': deps})
    for ptype in _plugin_types(host_type, controller):
        for plugin in plugins:
            if plugin['type'] != ptype:
                continue
            steps.append({'kind': st.STEP_PLUGIN, 'host': hostname,
                          'wave': wave, 'depends_on': list(deps),
                          'inputs': {'plugin': plugin['plugin'],
                                     'type': ptype}})
    steps.append({'kind': st.STEP_ENABLE_COMPUTE, 'host': hostname,
                  'wave': wave, 'depends_on': [maintain]})
    return steps


def nfv_plan_steps(plan, hosts, plugins):
    """The steps of an nfv plan dict (:meth:`planner.Plan.to_dict`):
    every host of every wave, with its instance events and moves.

    ``hosts``: {hostname: host row} of the session; ``plugins``: the
    session's action plug-ins.
    """
    steps = []
    for wave in plan.get('waves') or ():
        index = wave['index']
        by_source = {}
        for move in wave.get('moves') or ():
            by_source.setdefault(move['source'], []).append(move)
        for hostname in wave.get('hosts') or ():
            row = hosts.get(hostname) or {}
            off = 'disable:%s' % hostname
            steps.append({'ref': off, 'kind': st.STEP_DISABLE_COMPUTE,
                          'host': hostname, 'wave': index})
            refs = []
            for move in by_source.get(hostname, ()):
                iid = move['instance_id']
                tell = 'notify:%s:%s' % (hostname, iid)
                steps.append({'ref': tell, 'kind': st.STEP_NOTIFY_INSTANCE,
                              'host': hostname, 'instance_id': iid,
                              'project_id': move.get('project_id'),
                              'wave': index, 'depends_on': [off]})
                ref = 'move:%s:%s' % (hostname, iid)
                kind = (st.STEP_OWN_ACTION if move.get('kind') ==
                        st.OWN_ACTION else st.STEP_MOVE)
                steps.append({'ref': ref, 'kind': kind, 'host': hostname,
                              'instance_id': iid,
                              'project_id': move.get('project_id'),
                              'wave': index, 'depends_on': [tell],
                              'target': move.get('target'),
                              'inputs': {'action': move.get('kind'),
                                         'again': bool(move.get('again'))}})
                refs.append(ref)
            steps.extend(_host_tail(
                hostname, index, refs, plugins, row.get('type', st.COMPUTE),
                bool((row.get('details') or {}).get('controller')), off))
    for n, step in enumerate(steps):
        step['seq'] = n
    return steps


def host_steps(hostname, event, projects, servers, moves, plugins,
               host_type=st.COMPUTE, controller=False, wave=None):
    """The steps of one host the ``default`` workflow chose to empty:
    disabled, ``event`` to each project with a manager, every instance
    moved (to ``moves[iid]`` when the capacity model chose a target),
    maintained, enabled."""
    off = 'disable:%s' % hostname
    steps = [{'ref': off, 'kind': st.STEP_DISABLE_COMPUTE, 'host': hostname,
              'wave': wave}]
    told = []
    for pid in projects:
        ref = 'notify:%s' % pid
        steps.append({'ref': ref, 'kind': st.STEP_NOTIFY_PROJECT,
                      'host': hostname, 'project_id': pid, 'wave': wave,
                      'depends_on': [off], 'inputs': {'event': event}})
        told.append(ref)
    refs = []
    for srv in servers:
        ref = 'move:%s' % srv['id']
        steps.append({'ref': ref, 'kind': st.STEP_MOVE, 'host': hostname,
                      'instance_id': srv['id'],
                      'project_id': srv.get('project_id'), 'wave': wave,
                      'depends_on': list(told) or [off],
                      'target': (moves or {}).get(srv['id']),
                      'inputs': {'event': event}})
        refs.append(ref)
    steps.extend(_host_tail(hostname, wave, refs, plugins, host_type,
                            controller, off))
    return steps


def stored_plan(rows):
    """The plan the steps of a session store (those written with a plan:
    with a wave, not cancelled): ([(hostname, wave)] in the plan's order,
    {(instance_id, source): {target, again, kind}} of its moves). The
    executor runs from these, not from the plan's JSON."""
    order, seen, planned = [], set(), {}
    rows = sorted((r for r in rows if r.get('wave') is not None and
                   r['state'] != st.STEP_CANCELLED),
                  key=lambda r: (r['wave'], r.get('seq') or 0, r['id']))
    for row in rows:
        host = row.get('host')
        if row['kind'] == st.STEP_DISABLE_COMPUTE and host not in seen:
            seen.add(host)
            order.append((host, row['wave']))
        elif row['kind'] in MOVE_KINDS:
            inputs = row.get('inputs') or {}
            planned.setdefault((row['instance_id'], host), {
                'instance_id': row['instance_id'], 'source': host,
                'target': row.get('target'), 'kind': inputs.get('action'),
                'again': bool(inputs.get('again'))})
    return order, planned


def event_values(sent, iid_or_pid, actions_at=None):
    """What a notify step keeps of the event sent (a restart reads it,
    :func:`sent_of`): the event's id and reply deadline in its columns,
    the event and its ``actions_at`` in its result."""
    return {'event_id': sent.event_ids.get(iid_or_pid),
            'reply_at': sent.reply_at,
            'result': {'event': sent.event, 'actions_at': _time(actions_at)}}


def sent_of(step):
    """What a notify step says was sent: {event, event_id, reply_at,
    actions_at} (times as datetimes), or None when nothing was."""
    if step is None or not step.get('reply_at'):
        return None
    result = step.get('result') or {}
    return {'event': result.get('event') or
            (step.get('inputs') or {}).get('event'),
            'event_id': step.get('event_id'),
            'reply_at': step['reply_at'],
            'actions_at': parse(result.get('actions_at'))}


def parse(value):
    return timeutils.parse_time(value) if value else None
