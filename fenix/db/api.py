# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The database API of Fenix.

Every function opens its own transaction through oslo.db's enginefacade
(configured from ``[database]`` of ``cfg.CONF``) and returns plain
dictionaries (``to_dict()`` of the rows) or lists of them, never ORM
objects, so callers in any thread can keep and change what they get. A row
that is not there raises a :class:`fenix.common.exception.NotFound`
subclass.

Concurrency:

- Compare-and-set updates (:func:`session_update` with ``expected_state``,
  :func:`session_set_engine`) lock the row (``SELECT ... FOR UPDATE``) or
  carry the condition in the ``UPDATE`` itself, so two engines or two
  threads never both win.
- Upserts (``*_create_or_update``, ``*_put``, :func:`engine_heartbeat`) that
  race with an insert of the same key are retried, as are deadlocks.
- On SQLite, writing transactions start with ``BEGIN IMMEDIATE``: writers
  queue up (busy timeout) instead of failing with "database is locked" when
  two of them read before they write. Writers of one process also queue on
  a lock of their own (:data:`_SQLITE_WRITER`), so a waiting thread starts
  the moment the previous writer commits instead of polling SQLite's busy
  handler; a writer in an :func:`urgent` block (a manager's reply, a
  move's start) goes before the others waiting; a database file is put in
  WAL mode, so readers never wait for a writer
  (:mod:`fenix.db.sqlalchemy.facade`).

This module is the one every caller imports (``from fenix.db import api as
db_api``); the functions live in :mod:`fenix.db.sqlalchemy`, one concern a
module:

- ``facade``: oslo.db's enginefacade set up for Fenix (pools, listeners,
  SQLite's tuning); ``transactions``: the reader and writer blocks of a
  thread, the fence, the retries; ``clock``: :class:`db_utc_now`;
- ``rows`` and ``writes``: the helpers the others share (checks, read-backs,
  upserts, Core updates of the columns that change);
- ``sessions``, ``hosts``, ``projects``, ``instances``, ``plugins``,
  ``steps``, ``history``, ``outbox``, ``constraints``, ``budgets``,
  ``engines``, ``metrics``: the tables.

A test that patches a function of the DB API patches it here (what
callers use); the modules of :mod:`fenix.db.sqlalchemy` import their
helpers from each other, never from this module. The few private helpers
named here are those :mod:`fenix.db.reads`, :mod:`fenix.db.replies` and the
tests use.
"""
from fenix.db.sqlalchemy import budgets
from fenix.db.sqlalchemy import clock
from fenix.db.sqlalchemy import constraints
from fenix.db.sqlalchemy import engines
from fenix.db.sqlalchemy import facade
from fenix.db.sqlalchemy import history
from fenix.db.sqlalchemy import hosts
from fenix.db.sqlalchemy import instances
from fenix.db.sqlalchemy import metrics
from fenix.db.sqlalchemy import outbox
from fenix.db.sqlalchemy import plugins
from fenix.db.sqlalchemy import projects
from fenix.db.sqlalchemy import rows
from fenix.db.sqlalchemy import sessions
from fenix.db.sqlalchemy import steps
from fenix.db.sqlalchemy import transactions


# The SQLAlchemy engine (oslo.db's enginefacade set up for Fenix).
SQLITE_BUSY_TIMEOUT_MS = facade.SQLITE_BUSY_TIMEOUT_MS
SQLITE_POOL_SIZE = facade.SQLITE_POOL_SIZE
SQLITE_POOL_OVERFLOW = facade.SQLITE_POOL_OVERFLOW
_SQLITE_WRITER = facade._SQLITE_WRITER
_idle_transaction_timeout = facade._idle_transaction_timeout
PING_IDLE_AFTER = facade.PING_IDLE_AFTER
transaction_context = facade.transaction_context

# Transactions and retries (the private helpers: for fenix.db.reads,
# fenix.db.replies and tests). The constants here are copies of their
# module's: change them there.
_writer = transactions._writer
_reader = transactions._reader
_core_reader = transactions._core_reader
transaction = transactions.transaction
in_transaction = transactions.in_transaction
urgent = transactions.urgent
on_end = transactions.on_end
retry_on_deadlock = transactions.retry_on_deadlock
READ_RETRIES = transactions.READ_RETRIES
READ_RETRY_INTERVAL = transactions.READ_RETRY_INTERVAL
_retry_read = transactions._retry_read
get_engine = transactions.get_engine
ping = transactions.ping
reset_for_tests = transactions.reset_for_tests

# The database server's clock.
db_utc_now = clock.db_utc_now

# Keys per ``IN (...)`` list.
IN_CHUNK = rows.IN_CHUNK

# Sessions.
SESSION_CHILD_MODELS = sessions.SESSION_CHILD_MODELS
session_create = sessions.session_create
session_find_by_idempotency_key = sessions.session_find_by_idempotency_key
session_get = sessions.session_get
session_list = sessions.session_list
session_list_by_states = sessions.session_list_by_states
session_update = sessions.session_update
session_delete = sessions.session_delete
ANY_ENGINE = sessions.ANY_ENGINE
session_set_engine = sessions.session_set_engine
session_claim = sessions.session_claim
session_generation = sessions.session_generation
sessions_owners = sessions.sessions_owners
sessions_count = sessions.sessions_count
sessions_count_by_engine = sessions.sessions_count_by_engine

# Hosts.
hosts_get = hosts.hosts_get
host_get = hosts.host_get
hosts_create = hosts.hosts_create
host_update = hosts.host_update

# Projects.
projects_get = projects.projects_get
project_managers = projects.project_managers
project_get = projects.project_get
project_create_or_update = projects.project_create_or_update
project_update = projects.project_update
projects_update = projects.projects_update

# Instances.
instances_get = instances.instances_get
instances_moving_elsewhere = instances.instances_moving_elsewhere
instance_get = instances.instance_get
instance_create_or_update = instances.instance_create_or_update
instances_put = instances.instances_put
instance_update = instances.instance_update
instances_notified = instances.instances_notified
instances_update = instances.instances_update
instance_delete = instances.instance_delete

# Action plug-ins and their runs.
plugin_order = plugins.plugin_order
action_plugins_get = plugins.action_plugins_get
action_runs_get = plugins.action_runs_get
action_run_create_or_update = plugins.action_run_create_or_update
action_run_start = plugins.action_run_start
action_run_update_attempt = plugins.action_run_update_attempt
action_run_update = plugins.action_run_update

# Constraints.
instance_constraint_get = constraints.instance_constraint_get
constraints_version = constraints.constraints_version
instance_constraints_list = constraints.instance_constraints_list
instance_constraint_put = constraints.instance_constraint_put
instance_constraint_delete = constraints.instance_constraint_delete
instance_group_constraint_get = constraints.instance_group_constraint_get
instance_group_constraints_list = constraints.instance_group_constraints_list
instance_group_constraint_list = constraints.instance_group_constraint_list
instance_group_constraint_put = constraints.instance_group_constraint_put
instance_group_constraint_delete = constraints.instance_group_constraint_delete

# The outbox.
outbox_add = outbox.outbox_add
outbox_unsent = outbox.outbox_unsent
outbox_pending_sessions = outbox.outbox_pending_sessions
outbox_mark_sent = outbox.outbox_mark_sent
outbox_mark_failed = outbox.outbox_mark_failed

# Steps of the stored plan.
steps_create = steps.steps_create
steps_depend = steps.steps_depend
step_transition = steps.step_transition
steps_transition = steps.steps_transition
steps_transition_each = steps.steps_transition_each
steps_retry_failed = steps.steps_retry_failed
steps_get = steps.steps_get
step_get = steps.step_get

# History.
_event_values = history._event_values
event_add = history.event_add
events_get = history.events_get
replies_recorded = history.replies_recorded

# Group budgets across sessions.
group_impact_take = budgets.group_impact_take
group_impact_release = budgets.group_impact_release
group_impact_release_ended = budgets.group_impact_release_ended
group_impact_queue = budgets.group_impact_queue
group_impact_leave = budgets.group_impact_leave
group_impacts_held = budgets.group_impacts_held
group_impacts_get = budgets.group_impacts_get

# Fenix's engines (heartbeats).
engine_heartbeat = engines.engine_heartbeat
engines_alive = engines.engines_alive
engines_get = engines.engines_get
engine_delete = engines.engine_delete

# Figures for /metrics.
metrics_rows = metrics.metrics_rows
