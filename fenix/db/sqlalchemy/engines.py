# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The engines' heartbeats."""
import sqlalchemy as sa

from fenix.common import exception
from fenix.db.sqlalchemy.clock import db_utc_now
from fenix.db.sqlalchemy.constraints import _delete
from fenix.db.sqlalchemy import models
from fenix.db.sqlalchemy.rows import _dicts
from fenix.db.sqlalchemy.transactions import _reader
from fenix.db.sqlalchemy.transactions import _retry_on_deadlock
from fenix.db.sqlalchemy.transactions import _retry_on_duplicate
from fenix.db.sqlalchemy.transactions import _retry_read
from fenix.db.sqlalchemy.transactions import _writer


@_retry_on_duplicate
def engine_heartbeat(host):
    """Record that the engine ``host`` is alive, at the database server's
    time (:class:`db_utc_now`, not the engine's clock); returns its row."""
    with _writer() as session:
        updated = session.execute(
            sa.update(models.Engine).where(models.Engine.host == host)
            .values(heartbeat_at=db_utc_now())
            .execution_options(synchronize_session=False)).rowcount
        if not updated:
            session.execute(sa.insert(models.Engine).values(
                host=host, heartbeat_at=db_utc_now(),
                started_at=db_utc_now()))
        row = session.get(models.Engine, host, populate_existing=True)
        return row.to_dict()


@_retry_read
def engines_alive(max_age):
    """Hosts of the engines whose last heartbeat is at most ``max_age``
    seconds old, judged in SQL by the database server's clock."""
    with _reader() as session:
        return set(session.execute(
            sa.select(models.Engine.host).where(
                models.Engine.heartbeat_at >= db_utc_now(
                    sa.literal(float(max_age))))).scalars())


@_retry_read
def engines_get():
    with _reader() as session:
        return _dicts(session.execute(
            sa.select(models.Engine).order_by(models.Engine.host)).scalars())


@_retry_on_deadlock
def engine_delete(host):
    """Forget an engine; NotFound if it is not registered."""
    _delete(models.Engine, host,
            exception.NotFound('Engine %s is not registered.' % host))
