# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A reply answers one event (SPEC 3.7).

Every project event and every per-instance event has an id of its own,
kept on the project's (or the instance's) row together with the event
(``event_id``), sent in the payload and named in the event's
``reply_url`` (``?event_id=<id>``). A manager's HTTP retry, a proxy's
repeat or a late answer must never count as the answer to a later event of
the same name; so a reply is applied only when all of this holds, else it
is refused with 409 and nothing changes:

1. the session has not ended;
2. the project (instance) has an open event;
3. the reply names no event id, or the id of that current event;
4. its state is ``ACK_<event>`` or ``NACK_<event>`` of the current event
   (an informational INSTANCE_ACTION_DONE expects no answer);
5. a project reply's ``instance_actions`` name only instances the current
   event concerns (the ones tagged for a PREPARE/PLANNED_MAINTENANCE event,
   every instance of the project for the project-wide events); this is
   how a reply that names no event id (a manager that builds the upstream
   URL itself) is told apart from an answer to another event;
6. the current event was not answered yet (a byte-identical retry too is
   refused: it was "already answered");
7. the event's reply deadline has not passed (the workflow has treated
   the project as silent then).

A reply refused because the event it names is no longer current (or the
session has ended) says, when the history shows that event was answered,
that it was "already answered" and how: a manager whose first try got
through while its answer was lost (a time-out, an outage) learns that its
reply was taken, not that it was refused (see :func:`answered_before`).

``ACK_INSTANCE_ACTION_DONE``, which existing managers send to the
informational events, is accepted and ignored at any time; the engine
checks that before it comes here.

The reply is judged on the row and written in the same transaction, with
an UPDATE that changes the row only while it still holds that event
unanswered (see :mod:`fenix.db.replies`), so that two copies of one
reply arriving together cannot both pass.
"""
from fenix.common import exception
from fenix.common import states as st
from fenix.common import timeutils

# Events sent about some of a project's instances: those tagged with the
# event's id. The other project-wide events concern all of them.
TAGGED_EVENTS = (st.PREPARE_MAINTENANCE, st.PLANNED_MAINTENANCE)


def project_subject(project_id):
    return 'project %s' % project_id


def instance_subject(project_id, instance_id):
    return 'instance %s of project %s' % (instance_id, project_id)


def describe(row):
    """The current event of a project or instance row, for messages."""
    if not row.get('event'):
        return 'none'
    parts = ['event_id %s' % (row.get('event_id') or 'unknown')]
    if row['event'] == st.INSTANCE_ACTION_DONE:
        parts.append('informational, expects no answer')
    elif row.get('reply_at'):
        parts.append('reply by %s' % timeutils.format_time(row['reply_at']))
    return '%s (%s)' % (row['event'], ', '.join(parts))


def concerned_instances(project, instances):
    """Ids of the instances (rows of ``project``) its current event is
    about, in the order of ``instances``."""
    event = project.get('event')
    if event in TAGGED_EVENTS:
        if project.get('event_id'):
            return [i['instance_id'] for i in instances
                    if i.get('event_id') == project['event_id']]
        # Tagged by an engine that kept no event ids.
        return [i['instance_id'] for i in instances if i['event'] == event]
    return [i['instance_id'] for i in instances]


def _refuse(message):
    raise exception.ReplyConflict(message=message)


def check_current(row, subject, event_id, what):
    """Refuse (409) ``what`` when ``event_id`` is given and is not the id
    of the current event of ``row``."""
    if event_id is None or event_id == row.get('event_id'):
        return
    if not row.get('event'):
        _refuse('%s names event %s, but %s has no open event.'
                % (what, event_id, subject))
    _refuse('%s names event %s, which is not the current event of %s: '
            'the current one is %s.' % (what, event_id, subject,
                                        describe(row)))


def answered_before(history, event_id):
    """The reply entry of the history rows ``history`` (of one project or
    instance, oldest first) that answered the event ``event_id``; None
    when none did."""
    if not event_id:
        return None
    for entry in history:
        if (entry.get('data') or {}).get('event_id') == event_id:
            return entry
    return None


def refused_with_history(conflict, history, event_id):
    """``conflict`` (a ReplyConflict for a reply naming ``event_id``),
    its message completed with what the history says of that event's
    answer when it was answered."""
    entry = answered_before(history, event_id)
    if entry is None:
        return conflict
    return exception.ReplyConflict(message='%s Event %s was already answered '
                                   '(%s at %s); a reply answers one event '
                                   'once.' % (
                                       str(conflict).rstrip(), event_id,
                                       entry.get('state'),
                                       timeutils.format_time(
                                           entry.get('created_at'))))


def judge(reply_state, row, subject, session, event_id=None, now=None,
          named=(), concerned=None):
    """Refuse (raise ReplyConflict, 409) a reply that does not answer the
    current event of ``row`` (a project's or an instance's row); return
    quietly when it does.

    ``session``: the session's row (its state). ``event_id``: the event
    the reply names, if any. ``named``: instance ids the reply names
    (``instance_actions``); ``concerned``: the ids the current event is
    about (see :func:`concerned_instances`; None: not checked).
    """
    what = 'Reply %s' % reply_state
    if session['state'] in st.FINAL_SESSION_STATES:
        _refuse('%s to %s refused: maintenance session %s has ended (%s); '
                'no event is open.' % (what, subject, session['session_id'],
                                       session['state']))
    if not row.get('event'):
        _refuse('%s refused: %s has no open event.' % (what, subject))
    check_current(row, subject, event_id, what)
    event = row['event']
    if event not in st.REPLY_EVENTS:
        _refuse('%s does not answer the current event of %s, %s.'
                % (what, subject, describe(row)))
    if reply_state not in (st.ack(event), st.nack(event)):
        _refuse('%s does not answer the current event of %s, %s: that '
                'takes %s or %s.' % (what, subject, describe(row),
                                     st.ack(event), st.nack(event)))
    if concerned is not None:
        foreign = sorted(set(named) - set(concerned))
        if foreign:
            _refuse('%s names instance(s) %s, which the current event of '
                    '%s, %s, is not about: it answers another event.'
                    % (what, ', '.join(foreign), subject, describe(row)))
    if row.get('reply'):
        _refuse('%s refused: the current event of %s, %s, was already '
                'answered (%s at %s); a reply answers one event once.'
                % (what, subject, describe(row), row['reply'],
                   timeutils.format_time(row.get('replied_at'))))
    now = now or timeutils.utcnow()
    if row.get('reply_at') and now >= row['reply_at']:
        _refuse('%s came after the deadline of the current event of %s, '
                '%s: Fenix has gone on as if %s were silent.'
                % (what, subject, describe(row), subject))


def judge_with_history(reply_state, row, subject, session, event_id,
                       history, **kwargs):
    """:func:`judge`; a refusal of a reply naming an event that is no
    longer the current one (or of a session that has ended) says whether
    that event was answered (a retry whose first try got through).

    ``history``: a callable returning the reply entries of the row's
    project or instance (see :func:`answered_before`), called only when
    the message needs them (see :mod:`fenix.db.replies`: one judgement,
    one answer, whichever process records the reply).
    """
    try:
        judge(reply_state, row, subject, session, event_id=event_id,
              **kwargs)
    except exception.ReplyConflict as conflict:
        if not event_id or (event_id == row.get('event_id') and
                            session['state'] not in
                            st.FINAL_SESSION_STATES):
            raise
        raise refused_with_history(conflict, history(), event_id)
