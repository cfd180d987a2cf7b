# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Schema migrations of Fenix (alembic).

Every function works on ``[database] connection`` of ``cfg.CONF`` unless it
is given an ``engine`` (an SQLAlchemy Engine) or an open ``connection``
(tests, tools). The schema is only ever built by the migrations in
``alembic/versions``, never by ``metadata.create_all()``.
"""
import contextlib
import os

from alembic import command as alembic_command
from alembic import config as alembic_config
from alembic import migration as alembic_migration
from alembic import script as alembic_script
from oslo_db.sqlalchemy import engines

from fenix import conf as fenix_conf

CONF = fenix_conf.CONF

INI_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        'alembic.ini')


def alembic_cfg(connection=None):
    """The alembic Config of Fenix, bound to ``connection`` if given."""
    config = alembic_config.Config(INI_PATH)
    if connection is not None:
        config.attributes['connection'] = connection
    return config


@contextlib.contextmanager
def _connection(engine=None, connection=None):
    """An open connection in a transaction that commits at the end."""
    if connection is not None:
        yield connection
        return
    own_engine = engine is None
    if own_engine:
        engine = engine_from_conf()
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        if own_engine:
            engine.dispose()


def engine_from_conf():
    """A new engine for ``[database]`` of the configuration.

    Not the DB API's engine: migrations must run with SQLite foreign keys
    off (SQLite's table rebuilds would otherwise cascade deletes).
    """
    db = CONF.database
    return engines.create_engine(
        db.connection,
        mysql_sql_mode=db.mysql_sql_mode,
        connection_debug=db.connection_debug,
        connection_trace=db.connection_trace,
        max_retries=db.max_retries,
        retry_interval=db.retry_interval,
        connection_parameters=db.connection_parameters)


def head():
    """The newest revision the migrations know."""
    return alembic_script.ScriptDirectory.from_config(
        alembic_cfg()).get_current_head()


def revisions():
    """Every revision, oldest first."""
    script = alembic_script.ScriptDirectory.from_config(alembic_cfg())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def upgrade(revision='head', engine=None, connection=None):
    """Bring the schema up to ``revision`` (default: the newest)."""
    with _connection(engine, connection) as conn:
        alembic_command.upgrade(alembic_cfg(conn), revision or 'head')


def version(engine=None, connection=None):
    """The revision the database is at; None if it was never migrated."""
    with _connection(engine, connection) as conn:
        context = alembic_migration.MigrationContext.configure(conn)
        return context.get_current_revision()


def stamp(revision, engine=None, connection=None):
    """Record that the database is at ``revision`` without migrating."""
    with _connection(engine, connection) as conn:
        alembic_command.stamp(alembic_cfg(conn), revision)


def revision(message=None, autogenerate=False, engine=None,
             connection=None):
    """Write a new migration script into alembic/versions (developers).

    With ``autogenerate`` the script holds the difference between the
    models and the database (which must be at the newest revision).
    Returns the path of the new script.
    """
    if autogenerate:
        with _connection(engine, connection) as conn:
            script = alembic_command.revision(
                alembic_cfg(conn), message=message, autogenerate=True)
    else:
        script = alembic_command.revision(alembic_cfg(), message=message)
    return script.path
