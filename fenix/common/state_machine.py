# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The session state machine, declared in one place.

Every workflow plug-in moves a session only along these edges; the engine
checks each transition here before writing it to the database.

Besides the workflow's own edges, an admin may hold a session (SPEC 3.7):
any state a workflow handles may go to PAUSED once nothing of the session
is in flight, and PAUSED goes back to the state it was paused in (the
session's ``hold_state``), never elsewhere.
"""
from fenix.common import exception
from fenix.common import states as st

# Edges a workflow may take by itself. Any active state may also end in
# MAINTENANCE_FAILED (see check_transition).
TRANSITIONS = {
    st.MAINTENANCE: (st.SCALE_IN, st.PREPARE_MAINTENANCE,
                     st.START_MAINTENANCE, st.MAINTENANCE_COMPLETE),
    st.SCALE_IN: (st.SCALE_IN, st.PREPARE_MAINTENANCE,
                  st.START_MAINTENANCE),
    st.PREPARE_MAINTENANCE: (st.SCALE_IN, st.PREPARE_MAINTENANCE,
                             st.START_MAINTENANCE),
    st.START_MAINTENANCE: (st.PLANNED_MAINTENANCE, st.START_MAINTENANCE,
                           st.MAINTENANCE_COMPLETE),
    st.PLANNED_MAINTENANCE: (st.START_MAINTENANCE, st.PLANNED_MAINTENANCE,
                             st.MAINTENANCE_COMPLETE),
    st.MAINTENANCE_COMPLETE: (st.MAINTENANCE_DONE,),
    st.MAINTENANCE_DONE: (),
    st.MAINTENANCE_FAILED: (),
    # Back to where it was paused: see check_transition.
    st.PAUSED: st.WORKFLOW_STATES,
}

# States an admin may resume a failed session from (PUT /v1/maintenance/ID).
RESUMABLE_FROM = (st.MAINTENANCE_FAILED,)
RESUME_TARGETS = st.WORKFLOW_STATES
# States a session may be paused in (PAUSED itself is left out: a paused
# session is not paused again).
PAUSABLE = st.WORKFLOW_STATES


def allowed_next(state):
    """States a session may move to from ``state``."""
    nexts = TRANSITIONS.get(state)
    if nexts is None:
        raise exception.InvalidState(state=state)
    if state in PAUSABLE:
        nexts = tuple(nexts) + (st.PAUSED,)
    if state in st.ACTIVE_SESSION_STATES:
        return tuple(nexts) + (st.MAINTENANCE_FAILED,)
    return tuple(nexts)


def check_transition(src, dst, hold_state=None):
    """Raise InvalidTransition unless a session may go from src to dst.

    ``hold_state``: where a PAUSED session was paused; it only goes back
    there.
    """
    if dst not in allowed_next(src):
        raise exception.InvalidTransition(src=src, dst=dst)
    if src == st.PAUSED and dst != st.MAINTENANCE_FAILED and \
            dst != hold_state:
        raise exception.InvalidTransition(src=src, dst=dst)


def check_resume(current, target):
    """Raise Conflict/Invalid unless a session in ``current`` may be resumed
    at ``target``."""
    if current not in RESUMABLE_FROM:
        raise exception.SessionStateConflict(
            state=current, action='continued',
            allowed=', '.join(RESUMABLE_FROM))
    if target not in RESUME_TARGETS:
        raise exception.InvalidState(state=target)


def check_pause(current, hold_requested):
    """Raise SessionStateConflict unless a session in ``current`` may be
    paused (it runs, and no pause is asked for yet)."""
    if current not in PAUSABLE:
        raise exception.SessionStateConflict(
            state=current, action='paused',
            allowed=', '.join(PAUSABLE))
    if hold_requested:
        raise exception.Conflict(
            reason='a pause of the session was already requested; it '
                   'shows %s once the steps in flight are done'
                   % st.PAUSED)


def check_unpause(current, hold_requested):
    """Raise SessionStateConflict unless a session in ``current`` may be
    resumed: it is PAUSED, or runs with a pause requested (pausing)."""
    if current == st.PAUSED or (current in PAUSABLE and hold_requested):
        return
    raise exception.SessionStateConflict(
        state=current, action='resumed',
        allowed='%s, or while a pause is requested' % st.PAUSED)


# --- The machines of a session's rows ---------------------------------------
#
# Each is declared as {state: {event: next state}}: the events are named, so
# that code says *what happened* (``HOST.next(state, 'emptied')``) and the
# table says where that leads. ``python -m fenix_tools.machines`` (``tox -e
# statemachines``) draws every machine for doc/source/machines.rst.

class Machine(object):
    """A small declared state machine: named states, named events."""

    def __init__(self, name, initial, table, doc=''):
        self.name = name
        self.initial = initial
        self.table = {src: dict(edges) for src, edges in table.items()}
        self.doc = doc
        for src, edges in self.table.items():
            for event, dst in edges.items():
                if dst not in self.table:
                    raise ValueError('%s: %s --%s--> %s: no such state'
                                     % (name, src, event, dst))

    @property
    def states(self):
        return tuple(self.table)

    @property
    def final_states(self):
        return tuple(s for s, edges in self.table.items() if not edges)

    def edges(self):
        """(source, event, target) for every edge, in declaration order."""
        return [(src, event, dst) for src, edges in self.table.items()
                for event, dst in edges.items()]

    def events(self, state):
        """The events a row in ``state`` may take."""
        try:
            return tuple(self.table[state])
        except KeyError:
            raise exception.InvalidState(state=state)

    def next(self, state, event):
        """Where ``event`` takes a row in ``state``; raises
        InvalidStepTransition when it may not happen there."""
        edges = self.table.get(state)
        if edges is None:
            raise exception.InvalidState(state=state)
        if event not in edges:
            raise exception.InvalidStepTransition(
                machine=self.name, src=state, dst='(%s)' % event)
        return edges[event]

    def can_move(self, src, dst):
        """Whether some edge leads from ``src`` to ``dst`` (staying in a
        state is always allowed: a write that repeats it changes
        nothing)."""
        if src == dst or src is None:
            return True
        return dst in self.table.get(src, {}).values()

    def check_move(self, src, dst):
        """Raise InvalidStepTransition unless a row may go src -> dst."""
        if dst not in self.table:
            raise exception.InvalidState(state=dst)
        if not self.can_move(src, dst):
            raise exception.InvalidStepTransition(machine=self.name,
                                                  src=src, dst=dst)


def _session_table():
    table = {}
    for src in st.SESSION_STATES:
        if src == st.PAUSED:
            # Back to where it was paused (hold_state), by a resume.
            edges = {'resume_in_%s' % dst.lower(): dst
                     for dst in TRANSITIONS[st.PAUSED]}
        else:
            edges = {'to_%s' % dst.lower(): dst for dst in allowed_next(src)
                     if dst not in (st.MAINTENANCE_FAILED, st.PAUSED)}
            if st.PAUSED in allowed_next(src):
                edges['pause'] = st.PAUSED
        if st.MAINTENANCE_FAILED in allowed_next(src):
            edges['fail'] = st.MAINTENANCE_FAILED
        if src in RESUMABLE_FROM:
            for dst in RESUME_TARGETS:
                edges['continue_in_%s' % dst.lower()] = dst
        table[src] = edges
    return table


SESSION = Machine(
    'session', st.MAINTENANCE, _session_table(),
    doc='A maintenance session: the workflow moves it along TRANSITIONS; '
        'any active state may fail; PUT continues (or a retry retries) a '
        'failed one; an admin\'s pause holds it in PAUSED, once nothing is '
        'in flight, until it resumes where it was paused.')

HOST = Machine('host', st.HOST_PENDING, {
    st.HOST_PENDING: {'empty': st.HOST_EMPTYING,
                      'maintain': st.HOST_IN_MAINTENANCE,
                      'skip': st.HOST_SKIPPED,
                      'fail': st.HOST_FAILED},
    st.HOST_EMPTYING: {'emptied': st.HOST_PENDING,
                       'defer': st.HOST_PENDING,
                       'maintain': st.HOST_IN_MAINTENANCE,
                       'skip': st.HOST_SKIPPED,
                       'fail': st.HOST_FAILED},
    # 'occupied': an instance appeared on a host found IN_MAINTENANCE at a
    # restart (forced onto it meanwhile): it is emptied again first.
    st.HOST_IN_MAINTENANCE: {'maintained': st.HOST_MAINTAINED,
                             'occupied': st.HOST_EMPTYING,
                             'fail': st.HOST_FAILED},
    st.HOST_FAILED: {'retry': st.HOST_PENDING,
                     'retry_emptying': st.HOST_EMPTYING,
                     'retry_maintenance': st.HOST_IN_MAINTENANCE,
                     'skip': st.HOST_SKIPPED},
    st.HOST_MAINTAINED: {},
    st.HOST_SKIPPED: {},
}, doc='A host of a session: emptied (its instances moved away), then '
       'maintained (IN_MAINTENANCE, plug-ins, MAINTENANCE_COMPLETE); '
       'skipped by a refusal or an admin; a failed host is retried by '
       'continuing the session.')

MOVE = Machine('move', st.ACTION_PENDING, {
    st.ACTION_PENDING: {'start': st.ACTION_IN_PROGRESS,
                        'done': st.ACTION_DONE,
                        'fail': st.ACTION_FAILED},
    st.ACTION_IN_PROGRESS: {'done': st.ACTION_DONE,
                            'fail': st.ACTION_FAILED,
                            'restart': st.ACTION_PENDING},
    st.ACTION_FAILED: {'retry': st.ACTION_PENDING},
    st.ACTION_DONE: {'again': st.ACTION_PENDING,
                     'start_again': st.ACTION_IN_PROGRESS},
}, doc="An instance's move off the host being emptied (its action_state): "
       "started once Nova was asked (or the manager's OWN_ACTION is "
       "awaited), done when the instance left the host. A done move is "
       "planned again when the instance is back on a host still to empty.")

PLUGIN_RUN = Machine('plug-in run', st.RUN_PENDING, {
    st.RUN_PENDING: {'start': st.RUN_RUNNING},
    st.RUN_RUNNING: {'done': st.RUN_DONE, 'fail': st.RUN_FAILED,
                     'start_again': st.RUN_RUNNING},
    st.RUN_FAILED: {'retry': st.RUN_RUNNING},
    st.RUN_DONE: {},
}, doc='One action plug-in on one host (or for the session): each start '
       'is a new attempt; a report names its attempt.')

OUTBOX_QUEUED = 'QUEUED'
OUTBOX_SENT = 'SENT'
OUTBOX_MESSAGE = Machine('notification', OUTBOX_QUEUED, {
    OUTBOX_QUEUED: {'sent': OUTBOX_SENT, 'send_failed': OUTBOX_QUEUED},
    OUTBOX_SENT: {},
}, doc='A notification in the outbox: written with the change that causes '
       'it, sent once that is committed (by the thread that wrote it, else '
       'by the dispatcher, which retries a failed send), marked sent after '
       'it went out (sent again after a restart until it is marked).')

STEP = Machine('step', st.STEP_PENDING, {
    st.STEP_PENDING: {'start': st.STEP_RUNNING,
                      'done': st.STEP_DONE,
                      'fail': st.STEP_FAILED,
                      'skip': st.STEP_SKIPPED,
                      'cancel': st.STEP_CANCELLED},
    # 'resume': an engine that restarted watches the step again (a move in
    # flight, a host in maintenance), the same attempt; 'requeue': it was
    # never really under way and waits for its turn again.
    st.STEP_RUNNING: {'done': st.STEP_DONE,
                      'fail': st.STEP_FAILED,
                      'resume': st.STEP_RUNNING,
                      'requeue': st.STEP_PENDING,
                      'skip': st.STEP_SKIPPED},
    st.STEP_FAILED: {'retry': st.STEP_PENDING,
                     'retry_now': st.STEP_RUNNING,
                     'skip': st.STEP_SKIPPED,
                     'cancel': st.STEP_CANCELLED},
    # 'again': planned once more (an instance back on a host still to
    # empty).
    st.STEP_DONE: {'again': st.STEP_PENDING},
    st.STEP_SKIPPED: {},
    st.STEP_CANCELLED: {},
}, doc='One step of the stored plan (notify, move, disable, plug-in, '
       'maintain, enable, announce): written with the plan, marked in the '
       'transaction of the change it stands for; a restarted engine goes '
       'on from these rows (done steps are not done again, a running one '
       'is resumed). Every start of a new attempt counts in ``attempt``.')

# A step is ready (may start) when it is PENDING and every step of its
# ``depends_on`` ended in one of these. A dependency CANCELLED never
# satisfies it: cancelling a step cancels the steps waiting for it (see
# :func:`step_dependents`), so nothing waits for good on a skipped host.
STEP_SATISFIED = (st.STEP_DONE, st.STEP_SKIPPED)


def step_ready(step, state_of):
    """Whether ``step`` (a dict with ``state`` and ``depends_on``) may
    start. ``state_of``: a step id -> its state (None when unknown: an
    unknown dependency holds the step back)."""
    return step['state'] == st.STEP_PENDING and all(
        state_of(dep) in STEP_SATISFIED
        for dep in step.get('depends_on') or ())


def step_dependents(step_ids, dependents_of):
    """The ids of every step that waits, directly or not, for one of
    ``step_ids`` (``dependents_of``: an id -> the ids whose
    ``depends_on`` name it): what cancelling those steps cancels too."""
    found, todo = set(), list(step_ids)
    while todo:
        for dep in dependents_of(todo.pop()):
            if dep not in found:
                found.add(dep)
                todo.append(dep)
    return found - set(step_ids)


MACHINES = (SESSION, HOST, MOVE, PLUGIN_RUN, STEP, OUTBOX_MESSAGE)
