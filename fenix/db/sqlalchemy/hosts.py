# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The hosts of a session."""
from oslo_db import exception as db_exc
import sqlalchemy as sa

from fenix.common import exception
from fenix.common import states
from fenix.db.sqlalchemy import models
from fenix.db.sqlalchemy.rows import _as_stored
from fenix.db.sqlalchemy.rows import _check_values
from fenix.db.sqlalchemy.rows import _dicts
from fenix.db.sqlalchemy.rows import _reloaded
from fenix.db.sqlalchemy.rows import _session_must_exist
from fenix.db.sqlalchemy.transactions import _reader
from fenix.db.sqlalchemy.transactions import _retry_on_deadlock
from fenix.db.sqlalchemy.transactions import _retry_read
from fenix.db.sqlalchemy.transactions import _writer
from fenix.db.sqlalchemy.writes import _update_row


def _host_rows(session_id, hosts):
    rows = []
    seen = set()
    for host in hosts:
        host = _check_values(models.Host, host, forbidden=('id',))
        hostname = host.get('hostname')
        if not hostname:
            raise exception.Invalid(reason='a host without a hostname')
        if hostname in seen:
            raise exception.Invalid(reason="host '%s' is listed twice"
                                    % hostname)
        seen.add(hostname)
        host['session_id'] = session_id
        host.setdefault('type', states.COMPUTE)
        host.setdefault('state', states.HOST_PENDING)
        rows.append(models.Host(**host))
    return rows


def _host_not_found(session_id, hostname):
    return exception.NotFound(
        'Host %s is not in maintenance session %s.' % (hostname, session_id))


def _host_row(session, session_id, hostname):
    row = session.execute(sa.select(models.Host).where(
        models.Host.session_id == session_id,
        models.Host.hostname == hostname)).scalar_one_or_none()
    if row is None:
        raise _host_not_found(session_id, hostname)
    return row


@_retry_read
def hosts_get(session_id, type=None):
    """The hosts of a session (of one type if given), in insert order."""
    stmt = sa.select(models.Host).where(models.Host.session_id == session_id)
    if type is not None:
        stmt = stmt.where(models.Host.type == type)
    with _reader() as session:
        return _dicts(session.execute(stmt.order_by(models.Host.id))
                      .scalars())


def host_get(session_id, hostname):
    with _reader() as session:
        return _host_row(session, session_id, hostname).to_dict()


@_retry_on_deadlock
def hosts_create(session_id, list_of_values):
    """Add hosts to a session; returns their dicts in the given order."""
    rows = _host_rows(session_id, list_of_values)
    try:
        with _session_must_exist(session_id), _writer() as session:
            session.add_all(rows)
            return _reloaded(session, rows)
    except db_exc.DBDuplicateEntry:
        raise exception.Conflict(
            reason='a host is already in maintenance session %s'
            % session_id)


@_retry_on_deadlock
def host_update(session_id, hostname, values):
    values = _check_values(models.Host, values,
                           forbidden=('id', 'session_id'))
    with _writer() as session:
        row = _host_row(session, session_id, hostname)
        _update_row(row, values)
        return _as_stored(session, row)
