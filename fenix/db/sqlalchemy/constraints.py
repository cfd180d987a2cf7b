# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Instance and instance group constraints."""
import sqlalchemy as sa

from fenix.common import exception
from fenix.db.sqlalchemy import models
from fenix.db.sqlalchemy.rows import _check_values
from fenix.db.sqlalchemy.rows import _dicts
from fenix.db.sqlalchemy.rows import _locking
from fenix.db.sqlalchemy.rows import _reloaded_one
from fenix.db.sqlalchemy.transactions import _reader
from fenix.db.sqlalchemy.transactions import _retry_on_deadlock
from fenix.db.sqlalchemy.transactions import _retry_on_duplicate
from fenix.db.sqlalchemy.transactions import _retry_read
from fenix.db.sqlalchemy.transactions import _writer
from fenix.db.sqlalchemy.writes import _update_row


def _put(model, key_name, key, values):
    values = _check_values(model, values)
    if values.pop(key_name, key) != key:
        raise exception.Invalid(
            reason='%s in the body does not match the one in the URL'
            % key_name)
    with _writer() as session:
        row = session.get(model, key)
        if row is None:
            if not values.get('project_id'):
                raise exception.Invalid(reason='project_id is required')
            row = model(**{key_name: key}, **values)
            session.add(row)
        else:
            _update_row(row, values)
        return _reloaded_one(session, row)


def _get(model, key, not_found, for_update=False):
    with _locking(for_update) as session:
        row = session.get(model, key, with_for_update=for_update or None)
        if row is None:
            raise not_found
        return row.to_dict()


def _delete(model, key, not_found):
    with _writer() as session:
        row = session.get(model, key)
        if row is None:
            raise not_found
        session.delete(row)


def instance_constraint_get(instance_id):
    return _get(models.InstanceConstraint, instance_id,
                exception.InstanceConstraintNotFound(
                    instance_id=instance_id))


@_retry_read
def constraints_version():
    """What changes whenever an instance or group constraint is added,
    changed or removed: per table, its row count and its latest creation
    and update times. A reader that keeps the lists reads them again only
    when this changed (two aggregate queries instead of every row)."""
    version = []
    with _reader() as session:
        for model in (models.InstanceConstraint,
                      models.InstanceGroupConstraint):
            version.append(tuple(session.execute(sa.select(
                sa.func.count(), sa.func.max(model.created_at),
                sa.func.max(model.updated_at))).one()))
    return tuple(version)


def instance_constraints_list(project_id=None, group_id=None):
    stmt = sa.select(models.InstanceConstraint)
    if project_id is not None:
        stmt = stmt.where(models.InstanceConstraint.project_id == project_id)
    if group_id is not None:
        stmt = stmt.where(models.InstanceConstraint.group_id == group_id)
    with _reader() as session:
        return _dicts(session.execute(
            stmt.order_by(models.InstanceConstraint.instance_id)).scalars())


@_retry_on_duplicate
def instance_constraint_put(instance_id, values):
    """Insert or update the constraints of an instance.

    Only the given fields change on update; ``project_id`` is needed to
    insert.
    """
    return _put(models.InstanceConstraint, 'instance_id', instance_id,
                values)


@_retry_on_deadlock
def instance_constraint_delete(instance_id):
    _delete(models.InstanceConstraint, instance_id,
            exception.InstanceConstraintNotFound(instance_id=instance_id))


def instance_group_constraint_get(group_id, for_update=False):
    """The constraints of a group; ``for_update``: a locking read (in a
    transaction: the row stays locked until it ends)."""
    return _get(models.InstanceGroupConstraint, group_id,
                exception.InstanceGroupNotFound(group_id=group_id),
                for_update=for_update)


def instance_group_constraints_list(project_id=None):
    stmt = sa.select(models.InstanceGroupConstraint)
    if project_id is not None:
        stmt = stmt.where(
            models.InstanceGroupConstraint.project_id == project_id)
    with _reader() as session:
        return _dicts(session.execute(
            stmt.order_by(models.InstanceGroupConstraint.group_id))
            .scalars())


# Both spellings are in use.
instance_group_constraint_list = instance_group_constraints_list


@_retry_on_duplicate
def instance_group_constraint_put(group_id, values):
    """Insert or update the constraints of an instance group.

    Only the given fields change on update; ``project_id`` is needed to
    insert.
    """
    return _put(models.InstanceGroupConstraint, 'group_id', group_id,
                values)


@_retry_on_deadlock
def instance_group_constraint_delete(group_id):
    _delete(models.InstanceGroupConstraint, group_id,
            exception.InstanceGroupNotFound(group_id=group_id))
