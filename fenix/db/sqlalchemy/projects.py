# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The projects of a session."""
import sqlalchemy as sa

from fenix.common import exception
from fenix.db.sqlalchemy import models
from fenix.db.sqlalchemy.rows import _check_values
from fenix.db.sqlalchemy.rows import _dicts
from fenix.db.sqlalchemy.rows import _locking
from fenix.db.sqlalchemy.rows import _reloaded_one
from fenix.db.sqlalchemy.rows import _session_must_exist
from fenix.db.sqlalchemy.transactions import _reader
from fenix.db.sqlalchemy.transactions import _retry_on_deadlock
from fenix.db.sqlalchemy.transactions import _retry_on_duplicate
from fenix.db.sqlalchemy.transactions import _retry_read
from fenix.db.sqlalchemy.transactions import _writer
from fenix.db.sqlalchemy.writes import _update_row
from fenix.db.sqlalchemy.writes import _upsert_rows


def _project_row(session, session_id, project_id, for_update=False):
    stmt = sa.select(models.Project).where(
        models.Project.session_id == session_id,
        models.Project.project_id == project_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.execute(stmt).scalar_one_or_none()
    if row is None:
        raise exception.ProjectNotFound(project_id=project_id,
                                        session_id=session_id)
    return row


@_retry_read
def projects_get(session_id, for_update=False):
    """The projects of a session, in insert order.

    ``for_update``: lock the rows (``SELECT ... FOR UPDATE``) until the
    end of the enclosing :func:`transaction`; a reply being stored at the
    same time is then either seen or stored after it.
    """
    stmt = (sa.select(models.Project)
            .where(models.Project.session_id == session_id)
            .order_by(models.Project.id))
    if for_update:
        stmt = stmt.with_for_update()
    with _locking(for_update) as session:
        return _dicts(session.execute(stmt).scalars())


def project_managers(session_id):
    """``[{project_id, has_manager}]`` of a session's projects, in insert
    order: the two columns the ``nfv`` executor reads every second,
    without the rest of the rows (their ``instance_actions``, the JSON of
    every reply, grow with the instances of the session)."""
    table = models.Project.__table__
    stmt = (sa.select(table.c.project_id, table.c.has_manager)
            .where(table.c.session_id == session_id).order_by(table.c.id))
    with _reader() as session:
        return [{'project_id': pid, 'has_manager': bool(has)}
                for pid, has in session.execute(stmt)]


def project_get(session_id, project_id, for_update=False):
    """One project of a session; ``for_update`` as for
    :func:`projects_get`."""
    with _locking(for_update) as session:
        return _project_row(session, session_id, project_id,
                            for_update=for_update).to_dict()


@_retry_on_duplicate
def project_create_or_update(session_id, project_id, values):
    """Insert the project of a session, or update it if it is there."""
    values = _check_values(models.Project, values,
                           forbidden=('id', 'session_id', 'project_id'))
    with _session_must_exist(session_id), _writer() as session:
        rows = _upsert_rows(session, session_id, models.Project,
                            'project_id', {project_id: values})
        return _reloaded_one(session, rows[0])


@_retry_on_deadlock
def project_update(session_id, project_id, values):
    values = _check_values(models.Project, values,
                           forbidden=('id', 'session_id', 'project_id'))
    with _writer() as session:
        row = _project_row(session, session_id, project_id)
        _update_row(row, values)
        return _reloaded_one(session, row)


@_retry_on_deadlock
def projects_update(session_id, values, project_ids=None):
    """Set ``values`` on many projects of a session at once.

    Those in ``project_ids``, or all when it is None. Returns how many
    matched.
    """
    values = _check_values(models.Project, values,
                           forbidden=('id', 'session_id', 'project_id'))
    if not values:
        raise ValueError('nothing to update')
    stmt = sa.update(models.Project).where(
        models.Project.session_id == session_id)
    if project_ids is not None:
        project_ids = list(project_ids)
        if not project_ids:
            return 0
        stmt = stmt.where(models.Project.project_id.in_(project_ids))
    stmt = stmt.values(**values).execution_options(
        synchronize_session=False)
    with _writer() as session:
        return session.execute(stmt).rowcount
