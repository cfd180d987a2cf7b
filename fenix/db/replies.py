# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Replies settled in the database: judged and recorded in one narrow
transaction, by whichever process receives them.

A project's (or an instance's) reply is judged by the rules of
:mod:`fenix.common.replies` on the row of the event it answers and the
session's state (two columns of the session's row, never the whole row),
and recorded with a conditional UPDATE of that row: it changes the row
only while the row still holds the event the reply was judged against,
unanswered (same ``event_id`` and ``event``, ``reply`` empty). Of two
copies of one reply arriving together exactly one updates the row; the
other finds it changed, is judged again on what it finds and refused
(409, "already answered"), and changes nothing. The reply's history
entry is written in the same transaction (record, then act: the engine
acts on what was committed).

The deadline: the workflow treats a silent project as silent only after
reading its row under a lock once the deadline passed (see
:meth:`fenix.workflow.base.Workflow.instance_reply_final`). The UPDATE
holds the row's lock until the commit; the time is looked at again
after it, so a reply either committed before that read or is refused as
late. The times compared are the clocks of the process recording the
reply and of the engine (both set by NTP, as for the rest of Fenix).

The caller wakes the engine that owns the session afterwards (a cast:
nothing waits for it); the reply stays recorded if that wake-up is lost
(the engine is down, or the broker), and the engine finds it when it
looks at the row again (a workflow waiting for replies looks at least
every ``fenix.workflow.base.WAKE_RECHECK`` seconds; an engine resuming
the session reads it).
"""
import functools

import sqlalchemy as sa

from fenix.common import exception
from fenix.common import replies
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.db.sqlalchemy import models

# Tries of one reply whose row changed between its read and its UPDATE
# (every try but the last is refused or recorded on what it read; the
# last one only gets there when the row keeps changing).
_TRIES = 3

_PROJECT_FIELDS = ('id', 'event', 'event_id', 'reply', 'replied_at',
                   'reply_at', 'instance_actions')
_INSTANCE_FIELDS = ('id', 'project_id', 'event', 'event_id', 'reply',
                    'replied_at', 'reply_at', 'action')
_INSTANCE_EVENT_FIELDS = ('instance_id', 'event', 'event_id')


class _Changed(Exception):
    """The row changed between the read and the UPDATE: judge again."""


# The statements are made once, with bound parameters: SQLAlchemy
# reuses the compiled form of a statement object (see fenix.db.reads).
_built = functools.lru_cache(maxsize=None)


def _select(model, fields, *keys):
    """``fields`` of ``model``'s rows whose ``keys`` are the bound
    parameters of their names."""
    table = model.__table__
    return sa.select(*[table.c[f] for f in fields]).where(
        *[table.c[k] == sa.bindparam(k) for k in keys])


@_built
def _project_stmt():
    return _select(models.Project, _PROJECT_FIELDS, 'session_id',
                   'project_id')


@_built
def _instance_stmt():
    return _select(models.Instance, _INSTANCE_FIELDS, 'session_id',
                   'instance_id')


@_built
def _project_instances_stmt():
    return _select(models.Instance, _INSTANCE_EVENT_FIELDS, 'session_id',
                   'project_id').order_by(models.Instance.__table__.c.id)


@_built
def _session_stmt():
    return _select(models.Session, ('session_id', 'state', 'engine'),
                   'session_id')


@_built
def _history_stmt(of_instance):
    table = models.SessionEvent.__table__
    return sa.select(table.c.data, table.c.state, table.c.created_at).where(
        table.c.session_id == sa.bindparam('session_id'),
        table.c.kind == st.EVENT_REPLY,
        table.c.project_id == sa.bindparam('project_id'),
        table.c.instance_id == sa.bindparam('instance_id')
        if of_instance else table.c.instance_id.is_(None)).order_by(
            table.c.id)


@_built
def _update_stmt(model, with_event_id, columns):
    """The UPDATE of the reply's row (``:w_id``) while it still holds the
    event it was judged on (``:w_event``, ``:w_event_id``; ``with_event_id``
    False: a row of an engine that kept no event ids), unanswered; sets
    ``columns`` to the parameters ``v_<column>``."""
    table = model.__table__
    return sa.update(table).where(
        table.c.id == sa.bindparam('w_id'),
        table.c.event == sa.bindparam('w_event'),
        table.c.event_id == sa.bindparam('w_event_id') if with_event_id
        else table.c.event_id.is_(None),
        table.c.reply.is_(None)).values(
            {c: sa.bindparam('v_' + c, type_=table.c[c].type)
             for c in columns})


def _one(session, stmt, params):
    row = session.execute(stmt, params).first()
    return None if row is None else dict(row._mapping)


def _session_of(session, session_id):
    """The columns of the session's row a reply needs: its state
    (judged) and its owner (woken)."""
    row = _one(session, _session_stmt(), {'session_id': session_id})
    if row is None:
        raise exception.SessionNotFound(session_id=session_id)
    return row


def _history(session, session_id, project_id, instance_id=None):
    """The reply entries of one project (its project-wide replies when
    ``instance_id`` is None, else that instance's), oldest first, in this
    transaction: only for the message of a refusal."""
    return [dict(r._mapping) for r in session.execute(
        _history_stmt(instance_id is not None),
        {'session_id': session_id, 'project_id': project_id,
         'instance_id': instance_id})]


def _record(session, model, row, values):
    """Write ``values`` on ``row`` while it still holds the event it was
    judged on, unanswered (:func:`_update_stmt`); _Changed when it does
    not any more."""
    stmt = _update_stmt(model, row['event_id'] is not None,
                        tuple(sorted(values)))
    params = {'v_' + k: v for k, v in values.items()}
    params.update(w_id=row['id'], w_event=row['event'],
                  w_event_id=row['event_id'])
    if session.execute(stmt, params).rowcount != 1:
        raise _Changed()


def _check_in_time(state, row, subject, session_row):
    """After the UPDATE (the row locked): refuse the reply when its
    event's deadline passed meanwhile (the workflow may have read the row
    as silent while this waited for its lock)."""
    replies.judge(state, dict(row, reply=None), subject, session_row,
                  now=timeutils.utcnow())


def _tried(fn):
    """Run ``fn()`` (one transaction) again when its row changed under
    it; a deadlock's victim runs again too (a new transaction)."""
    retried = db_api.retry_on_deadlock(fn)
    for _ in range(_TRIES - 1):
        try:
            return retried()
        except _Changed:
            continue
    try:
        return retried()
    except _Changed:
        raise exception.ReplyConflict(
            message='The reply was not recorded: its event changed while '
                    'it was being recorded; read the event again.')


def record_project_reply(session_id, project_id, reply, event_id=None):
    """Judge and record the project reply ``reply`` (``state``, and
    ``instance_actions``) naming ``event_id`` (None: judged by what it
    says). Returns ``(answer, owner)``: the API's answer, and the engine
    that owns the session (None: none), to be woken.

    Refused: ReplyConflict (409, nothing changed); instance_actions
    naming instances not of the project: Invalid (400); unknown session
    or project: SessionNotFound, ProjectNotFound (404).
    """
    state = reply['state']
    actions = reply.get('instance_actions') or {}
    subject = replies.project_subject(project_id)
    keys = {'session_id': session_id, 'project_id': project_id}

    def once():
        # The executor waits for it: before other writes queued meanwhile.
        with db_api.urgent(), db_api.transaction() as session:
            row = _one(session, _project_stmt(), keys)
            session_row = _session_of(session, session_id)
            if row is None:
                raise exception.ProjectNotFound(project_id=project_id,
                                                session_id=session_id)
            concerned = None
            if actions:
                instances = [dict(r._mapping) for r in session.execute(
                    _project_instances_stmt(), keys)]
                unknown = sorted(set(actions) -
                                 {i['instance_id'] for i in instances})
                if unknown:
                    raise exception.Invalid(
                        reason='instance_actions: %s not instance(s) of '
                               'project %s in this session'
                               % (', '.join(unknown), project_id))
                concerned = replies.concerned_instances(row, instances)
            replies.judge_with_history(
                state, row, subject, session_row, event_id,
                lambda: _history(session, session_id, project_id),
                named=actions, concerned=concerned)
            merged = dict(row['instance_actions'] or {})
            merged.update(actions)
            now = timeutils.utcnow()
            _record(session, models.Project, row, {
                'reply': state, 'replied_at': now,
                'instance_actions': merged, 'updated_at': now})
            _check_in_time(state, row, subject, session_row)
            session.execute(sa.insert(models.SessionEvent.__table__),
                            [db_api._event_values(
                                session_id, st.EVENT_REPLY, state=state,
                                project_id=project_id,
                                message='project %s replied %s to event %s'
                                % (project_id, state, row['event_id']),
                                data={'instance_actions': actions,
                                      'event_id': row['event_id']})])
        return ({'session_id': session_id, 'project_id': project_id,
                 'state': state, 'event_id': row['event_id'],
                 'instance_actions': merged}, session_row['engine'])

    return _tried(once)


def record_instance_reply(session_id, project_id, instance_id, reply,
                          event_id=None):
    """As :func:`record_project_reply`, for a reply (``state``, and
    ``instance_action``) to one instance's event; an instance not of the
    project: InstanceNotFound (404)."""
    state = reply['state']
    action = reply.get('instance_action')
    subject = replies.instance_subject(project_id, instance_id)

    def once():
        # The executor waits for it: before other writes queued meanwhile.
        with db_api.urgent(), db_api.transaction() as session:
            row = _one(session, _instance_stmt(), {
                'session_id': session_id, 'instance_id': instance_id})
            session_row = _session_of(session, session_id)
            if row is None or row['project_id'] != project_id:
                raise exception.InstanceNotFound(
                    session_id=session_id, project_id=project_id,
                    instance_id=instance_id)
            replies.judge_with_history(
                state, row, subject, session_row, event_id,
                lambda: _history(session, session_id, project_id,
                                 instance_id=instance_id))
            now = timeutils.utcnow()
            values = {'reply': state, 'replied_at': now, 'updated_at': now}
            if action:
                values['action'] = action
            _record(session, models.Instance, row, values)
            _check_in_time(state, row, subject, session_row)
            session.execute(sa.insert(models.SessionEvent.__table__),
                            [db_api._event_values(
                                session_id, st.EVENT_REPLY, state=state,
                                project_id=project_id,
                                instance_id=instance_id,
                                message='instance %s: %s %s to event %s' % (
                                    instance_id, state, action or '',
                                    row['event_id']),
                                data={'event_id': row['event_id']})])
        return ({'session_id': session_id, 'project_id': project_id,
                 'instance_id': instance_id, 'state': state,
                 'event_id': row['event_id'],
                 'instance_action': action or row['action']},
                session_row['engine'])

    return _tried(once)


def _informational(state):
    """ACK_INSTANCE_ACTION_DONE: existing managers answer the
    informational events; accepted and ignored, at any time."""
    return state == st.ack(st.INSTANCE_ACTION_DONE)


def settle_project_reply(session_id, project_id, reply, event_id=None):
    """A project's reply as whoever receives it settles it (the API
    process, or an engine for an API of before RPC 1.4): an informational
    answer is only checked; any other is judged and recorded
    (:func:`record_project_reply`). Returns ``(answer, wake)``: ``wake``
    is ``{'engine': owner}`` (None: any engine) when the session's runner
    is to be woken, None when nothing changed."""
    if _informational(reply['state']):
        check_informational(session_id, project_id)
        return {'session_id': session_id, 'project_id': project_id,
                'state': reply['state']}, None
    answer, owner = record_project_reply(session_id, project_id, reply,
                                         event_id)
    return answer, {'engine': owner}


def settle_instance_reply(session_id, project_id, instance_id, reply,
                          event_id=None):
    """As :func:`settle_project_reply`, for one instance's event."""
    if _informational(reply['state']):
        check_informational(session_id, project_id,
                            instance_id=instance_id)
        return {'session_id': session_id, 'instance_id': instance_id,
                'state': reply['state']}, None
    answer, owner = record_instance_reply(session_id, project_id,
                                          instance_id, reply, event_id)
    return answer, {'engine': owner}


def check_informational(session_id, project_id, instance_id=None):
    """An informational answer (ACK_INSTANCE_ACTION_DONE) is accepted
    and ignored; only its session, project (instance) must exist."""
    with db_api._reader() as session:
        _session_of(session, session_id)
        if instance_id is None:
            found = _one(session, _project_stmt(), {
                'session_id': session_id, 'project_id': project_id})
            if found is None:
                raise exception.ProjectNotFound(project_id=project_id,
                                                session_id=session_id)
            return
        found = _one(session, _instance_stmt(), {
            'session_id': session_id, 'instance_id': instance_id})
        if found is None or found['project_id'] != project_id:
            raise exception.InstanceNotFound(
                session_id=session_id, project_id=project_id,
                instance_id=instance_id)
