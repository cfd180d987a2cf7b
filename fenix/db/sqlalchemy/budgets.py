# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Group budgets across sessions (``group_impacts``)."""
import datetime

import sqlalchemy as sa

from fenix.common import fencing
from fenix.common import states
from fenix.db.sqlalchemy.clock import db_utc_now
from fenix.db.sqlalchemy import models
from fenix.db.sqlalchemy.rows import _dicts
from fenix.db.sqlalchemy.transactions import _reader
from fenix.db.sqlalchemy.transactions import _retry_on_deadlock
from fenix.db.sqlalchemy.transactions import _retry_on_duplicate_alone
from fenix.db.sqlalchemy.transactions import _retry_read
from fenix.db.sqlalchemy.transactions import _writer


def _ceil_second(when, session=None):
    """``when`` rounded up to a whole second on MySQL/MariaDB, whose
    DATETIME keeps whole seconds: a slot's hold must not be shortened.
    SQLite and PostgreSQL keep microseconds: unchanged (a member would
    otherwise wait up to a second more than its recovery_time)."""
    if session is not None and \
            session.get_bind().dialect.name != 'mysql':
        return when
    if when.microsecond:
        when = when.replace(microsecond=0) + datetime.timedelta(seconds=1)
    return when


def _impact_counts(row, now, live):
    """Whether a ``group_impacts`` row still counts at ``now``: a slot
    recovering until ``ends_at``; a slot impacted (not released), or a
    waiter's place, while its session is ``live`` and ``expires_at`` has
    not passed."""
    if row.ends_at is not None:
        return row.ends_at > now
    return live and row.expires_at > now


def _impact_rows(session, group_ids):
    """The rows of ``group_ids`` with whether they are live: their
    session is; a waiter's also has its session's generation (a fenced
    runner's waiter is gone), in the same statement."""
    gi = models.GroupImpact
    stmt = sa.select(gi, models.Session.state,
                     models.Session.generation).join(
        models.Session, models.Session.session_id == gi.session_id).where(
        gi.group_id.in_(list(group_ids)))
    return [(row, state in states.ACTIVE_SESSION_STATES and
             (row.slot is not None or row.generation >= (generation or 0)))
            for row, state, generation in session.execute(stmt).all()]


def _runner_generation(generation):
    """``generation``, else that of the runner's fence bound to this
    thread (0 outside a runner)."""
    if generation is not None:
        return generation
    fence = fencing.current()
    return fence.generation if fence is not None else 0


@_retry_on_duplicate_alone
def group_impact_take(group_id, budget, session_id, instance_id, lease,
                      generation=None, force=False, wait_lease=10):
    """Take a slot of ``group_id``'s budget for ``instance_id`` of
    ``session_id``, which starts impacting it (a move, an own action).

    Atomic across sessions and engines: the slot is the lowest number
    below ``budget`` that no row holds, and ``(group_id, slot)`` is a
    unique key, so of two sessions that take the same free slot at once
    one insert fails (the whole call runs again and sees the other's
    row): never more than ``budget`` members impacted at once, on
    MariaDB, PostgreSQL and SQLite alike. Rows that no longer count
    (recovered, expired, of a session no longer live, a fenced waiter)
    are deleted first.

    First come, first served between sessions: a session refused a slot
    for a member waits in the group's queue, a row without a slot whose
    ``id`` (the database's order) is its place; a free slot goes to no
    one while a session ahead of the asker's still waits, however often
    the asker asks. A session has one place per group, whichever of its
    members asks (the asker's id is noted on it): its turn takes it, and
    its other members waiting ask again from the back (sessions take
    turns). A place holds ``wait_lease`` seconds after each ask (every
    ask of the session renews it), while its session is live and its
    generation the session's (a fenced runner's place is gone); then it
    is gone (deleted by the next ask of anyone) and a later ask is at the
    back. Without a waiter the call reads and writes what it did before
    queues existed (one read of the rows, one insert): no queue costs
    nothing.

    The session's own row for the instance (taken before a restart or a
    takeover, or a move placed again) is renewed, not taken twice.
    ``lease``: seconds the slot holds at most without a release (its
    holder may die); ``force``: record the impact even over the budget
    (a manager's own action already under way: it must count for the
    others), whoever waits (the session's place is kept). Judged by the
    database's clock.

    Returns ``(True, None)``, or ``(False, seconds)`` when no slot is
    free for the asker: the seconds until the soonest one frees by
    itself (a recovery's or a lease's end; None while only a release, or
    the turn of a waiter ahead, frees it).

    Inside a caller's :func:`transaction` (a move worker records the
    move's start with it) the slot, or the place in the queue, is
    committed with the rest, or not at all; a lost race for a slot
    (``DBDuplicateEntry``) is then the caller's to handle.
    """
    gi = models.GroupImpact
    generation = _runner_generation(generation)
    with _writer() as session:
        now = session.execute(sa.select(db_utc_now())).scalar_one()
        expires = _ceil_second(now + datetime.timedelta(seconds=lease),
                               session)
        rows = _impact_rows(session, [group_id])
        own = [r.id for r, _live in rows if r.session_id == session_id and
               r.instance_id == instance_id and r.slot is not None]
        if own:
            session.execute(sa.update(gi).where(gi.id == own[0]).values(
                generation=generation, expires_at=expires, ends_at=None)
                .execution_options(synchronize_session=False))
            return True, None
        stale = [r.id for r, live in rows if not _impact_counts(r, now, live)]
        if stale:
            session.execute(sa.delete(gi).where(gi.id.in_(stale))
                            .execution_options(synchronize_session=False))
        held = [r for r, live in rows
                if r.id not in stale and r.slot is not None]
        waiters = sorted((r for r, live in rows
                          if r.id not in stale and r.slot is None),
                         key=lambda r: r.id)
        mine = next((r for r in waiters if r.session_id == session_id),
                    None)
        ahead = waiters if mine is None else \
            [r for r in waiters if r.id < mine.id]
        used = {r.slot for r in held}
        budget = max(1, int(budget or 1))
        if len(used) + len(ahead) >= budget and not force:
            place = _ceil_second(
                now + datetime.timedelta(seconds=wait_lease), session)
            if mine is None:
                session.execute(sa.insert(gi).values(
                    group_id=group_id, slot=None, session_id=session_id,
                    instance_id=instance_id, generation=generation,
                    expires_at=place, ends_at=None, created_at=now))
            else:
                session.execute(sa.update(gi).where(gi.id == mine.id)
                                .values(instance_id=instance_id,
                                        generation=generation,
                                        expires_at=place)
                                .execution_options(
                                    synchronize_session=False))
            if len(used) < budget:
                # A slot is free, for a waiter ahead: its turn.
                return False, None
            ends = [r.ends_at or r.expires_at for r in held]
            soonest = min(ends) if ends else None
            return False, (max(0.0, (soonest - now).total_seconds())
                           if soonest is not None else None)
        slot = next(n for n in range(len(used) + 1) if n not in used)
        values = dict(slot=slot, instance_id=instance_id,
                      generation=generation, expires_at=expires, ends_at=None)
        if mine is not None and not force and session.execute(
                sa.update(gi).where(gi.id == mine.id, gi.slot.is_(None))
                .values(**values)
                .execution_options(synchronize_session=False)).rowcount:
            # Its turn: its place in the queue becomes its slot.
            return True, None
        session.execute(sa.insert(gi).values(
            group_id=group_id, session_id=session_id, created_at=now,
            **values))
        return True, None


@_retry_on_deadlock
def group_impact_queue(group_id, session_id, instance_id, wait_lease,
                       generation=None):
    """``session_id`` waits for a slot of ``group_id`` before it even asks
    for one (its plan holds ``instance_id`` back while other sessions
    hold the group's slots): its place in the group's queue, as a refused
    :func:`group_impact_take` leaves it, is taken (at the back) or
    renewed for ``wait_lease`` seconds. Once the slots others hold free,
    the sessions ahead go first (:func:`group_impacts_held`,
    ``waiting``)."""
    gi = models.GroupImpact
    generation = _runner_generation(generation)
    with _writer() as session:
        now = session.execute(sa.select(db_utc_now())).scalar_one()
        place = _ceil_second(now + datetime.timedelta(seconds=wait_lease),
                             session)
        rows = session.execute(sa.select(
            gi.id, gi.expires_at, gi.generation).where(
            gi.group_id == group_id, gi.session_id == session_id,
            gi.slot.is_(None)).order_by(gi.id)).all()
        live = [r.id for r in rows
                if r.expires_at > now and r.generation >= generation]
        if live:
            session.execute(sa.update(gi).where(gi.id == live[0]).values(
                instance_id=instance_id, generation=generation,
                expires_at=place).execution_options(
                synchronize_session=False))
            return
        if rows:
            session.execute(sa.delete(gi).where(
                gi.id.in_([r.id for r in rows])).execution_options(
                synchronize_session=False))
        session.execute(sa.insert(gi).values(
            group_id=group_id, slot=None, session_id=session_id,
            instance_id=instance_id, generation=generation,
            expires_at=place, ends_at=None, created_at=now))


@_retry_on_deadlock
def group_impact_leave(session_id, group_ids=None):
    """``session_id`` gives up its places in the queues of ``group_ids``
    (or of every group): none of its members waits for a slot there any
    more (its runner ended, or no longer asks). Returns how many."""
    gi = models.GroupImpact
    where = [gi.session_id == session_id, gi.slot.is_(None)]
    if group_ids is not None:
        where.append(gi.group_id.in_(list(group_ids)))
    with _writer() as session:
        return session.execute(sa.delete(gi).where(*where).execution_options(
            synchronize_session=False)).rowcount


@_retry_on_deadlock
def group_impact_release(session_id, instance_id, recovery=0,
                         generation=None):
    """``instance_id`` of ``session_id`` is no longer impacted: its slots
    hold ``recovery`` seconds more (its group's ``recovery_time``, by the
    database's clock), or are freed at once (0). Only the rows of
    ``generation`` (or of any when None) are changed: a stale runner's
    release does not free the slot its session's new owner renewed.
    Returns how many slots were released."""
    gi = models.GroupImpact
    where = [gi.session_id == session_id, gi.instance_id == instance_id,
             gi.slot.isnot(None), gi.ends_at.is_(None)]
    if generation is not None:
        where.append(gi.generation <= generation)
    with _writer() as session:
        if recovery and recovery > 0:
            now = session.execute(sa.select(db_utc_now())).scalar_one()
            return session.execute(sa.update(gi).where(*where).values(
                ends_at=_ceil_second(
                    now + datetime.timedelta(seconds=recovery), session))
                .execution_options(synchronize_session=False)).rowcount
        return session.execute(sa.delete(gi).where(*where).execution_options(
            synchronize_session=False)).rowcount


@_retry_on_deadlock
def group_impact_release_ended(session_id, instance_id):
    """The impact of ``instance_id`` by ``session_id`` ended while no
    runner watched it (a move seen through after a restart or a
    takeover): whichever runner took its slots, they hold the
    ``recovery_time`` registered for their group, then free."""
    gi = models.GroupImpact
    with _writer() as session:
        rows = session.execute(sa.select(gi.id, gi.group_id).where(
            gi.session_id == session_id, gi.instance_id == instance_id,
            gi.slot.isnot(None), gi.ends_at.is_(None))).all()
        if not rows:
            return 0
        now = session.execute(sa.select(db_utc_now())).scalar_one()
        rules = dict(session.execute(sa.select(
            models.InstanceGroupConstraint.group_id,
            models.InstanceGroupConstraint.recovery_time).where(
            models.InstanceGroupConstraint.group_id.in_(
                [g for _i, g in rows]))).all())
        for row_id, group_id in rows:
            recovery = rules.get(group_id) or 0
            stmt = sa.delete(gi) if recovery <= 0 else \
                sa.update(gi).values(ends_at=_ceil_second(
                    now + datetime.timedelta(seconds=recovery), session))
            session.execute(stmt.where(gi.id == row_id).execution_options(
                synchronize_session=False))
        return len(rows)


@_retry_read
def group_impacts_held(group_ids=None, exclude_session=None, waiting=False):
    """``{group_id: slots held now}`` across every session (but
    ``exclude_session``): what the groups' budgets have left
    deployment-wide. ``group_ids``: those groups only. ``waiting``: the
    places of the other sessions that wait ahead of ``exclude_session``
    in a group's queue count too (all of them when it has no place
    there): a slot that frees is theirs first. One statement."""
    gi = models.GroupImpact
    with _reader() as session:
        now = session.execute(sa.select(db_utc_now())).scalar_one()
        stmt = sa.select(gi, models.Session.state,
                         models.Session.generation).join(
            models.Session, models.Session.session_id == gi.session_id)
        if not waiting:
            stmt = stmt.where(gi.slot.isnot(None))
        if group_ids is not None:
            stmt = stmt.where(gi.group_id.in_(list(group_ids)))
        if exclude_session is not None and not waiting:
            stmt = stmt.where(gi.session_id != exclude_session)
        counts = {}
        places = []
        for row, state, generation in session.execute(stmt).all():
            live = state in states.ACTIVE_SESSION_STATES
            if row.slot is None:
                if _impact_counts(row, now, live and
                                  row.generation >= (generation or 0)):
                    places.append(row)
            elif row.session_id != exclude_session and \
                    _impact_counts(row, now, live):
                counts[row.group_id] = counts.get(row.group_id, 0) + 1
        mine = {}
        for row in places:
            if row.session_id == exclude_session:
                mine[row.group_id] = min(row.id, mine.get(row.group_id,
                                                          row.id))
        for row in places:
            if row.session_id != exclude_session and \
                    row.id < mine.get(row.group_id, row.id + 1):
                counts[row.group_id] = counts.get(row.group_id, 0) + 1
        return counts


@_retry_read
def group_impacts_get(group_id=None, session_id=None, waiting=False):
    """The ``group_impacts`` rows (tests, operators): the slots, by group
    and slot; ``waiting``: the waiters instead, by group and place in
    its queue (whether or not they are still live)."""
    gi = models.GroupImpact
    if waiting:
        stmt = sa.select(gi).where(gi.slot.is_(None)).order_by(
            gi.group_id, gi.id)
    else:
        stmt = sa.select(gi).where(gi.slot.isnot(None)).order_by(
            gi.group_id, gi.slot)
    if group_id is not None:
        stmt = stmt.where(gi.group_id == group_id)
    if session_id is not None:
        stmt = stmt.where(gi.session_id == session_id)
    with _reader() as session:
        return _dicts(session.execute(stmt).scalars())
