# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The session state machine, declared in one place.

Every workflow plug-in moves a session only along these edges; the engine
checks each transition here before writing it to the database.
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
}

# States an admin may resume a failed session from (PUT /v1/maintenance/ID).
RESUMABLE_FROM = (st.MAINTENANCE_FAILED,)
RESUME_TARGETS = st.ACTIVE_SESSION_STATES


def allowed_next(state):
    """States a workflow may move to from ``state``."""
    nexts = TRANSITIONS.get(state)
    if nexts is None:
        raise exception.InvalidState(state=state)
    if state in st.ACTIVE_SESSION_STATES:
        return tuple(nexts) + (st.MAINTENANCE_FAILED,)
    return tuple(nexts)


def check_transition(src, dst):
    """Raise InvalidTransition unless a workflow may go from src to dst."""
    if dst not in allowed_next(src):
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
