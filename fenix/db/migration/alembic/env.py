# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Alembic environment of Fenix.

The functions of :mod:`fenix.db.migration` hand over an open connection in
``config.attributes['connection']``. Without one (a bare ``alembic``
command) the URL is ``sqlalchemy.url`` of the ini file if set, else
``[database] connection`` of the Fenix configuration.
"""
from alembic import context
from oslo_db.sqlalchemy import engines

from fenix import conf as fenix_conf
from fenix.db.sqlalchemy import models

config = context.config
target_metadata = models.Base.metadata


def _url():
    return (config.get_main_option('sqlalchemy.url') or
            fenix_conf.CONF.database.connection)


def _configure(**kwargs):
    context.configure(target_metadata=target_metadata,
                      compare_type=True,
                      render_as_batch=True,
                      **kwargs)


def run_migrations_offline():
    """Write the SQL to stdout instead of running it."""
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connection = config.attributes.get('connection')
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engines.create_engine(_url())
    try:
        with engine.begin() as connection:
            _configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
