# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""What the API reads itself: the database, not the engine.

``GET`` of the session list, a session, its detail, a project's or an
instance's event, the action plug-in runs and the constraints is answered
by the API process from the database (:mod:`fenix.db.reads`, the same
code the engine answers these with over RPC), as Ironic's API reads its
database: a read costs no RPC round trip, works while no engine runs,
and API workers added serve more of them. A project's or an instance's
reply is judged and recorded here too (:mod:`fenix.db.replies`; the
engine that owns the session is then woken with a cast). Other writes
and wake-ups still go to the engine over RPC (:mod:`fenix.engine.rpcapi`).

:class:`DatabaseReader` has the read methods of
:class:`~fenix.engine.rpcapi.EngineAPI` (same arguments, same answers):
tests give the application an in-memory engine as its reader instead.
A database that cannot be reached is
:class:`~fenix.common.exception.DatabaseUnavailable` (503 with
Retry-After), logged once per outage.
"""
import functools

from oslo_log import log as logging

from fenix.common import transient
from fenix.db import reads
from fenix.db import replies as reply_db

LOG = logging.getLogger(__name__)

_OUTAGE = transient.OutageLog('The Fenix database (API reads)', LOG)

# Not reads of the engine's API: what the API checks itself before a
# reply goes to the engine (a reply certainly refused is answered here).
# Replies the API judges and records itself (in the database; then it
# wakes the engine that owns the session).
REPLY_RECORDS = ('record_project_reply', 'record_instance_reply')
# Reads no engine answers over RPC: only the API reads them (an engine
# of an earlier version answered every other read).
API_ONLY = REPLY_RECORDS + ('get_session_detail_page',)


def _guarded(fn):
    @functools.wraps(fn)
    def call(*args, **kwargs):
        return _OUTAGE.call_db(fn, *args, **kwargs)
    return call


class DatabaseReader(object):
    """The API's reads, from the database (``context`` is who asks: the
    controllers authorize before they read)."""

    @_guarded
    def list_sessions(self, context, limit=None, marker=None, state=None,
                      workflow=None):
        return reads.session_list(limit=limit, marker=marker, state=state,
                                  workflow=workflow)

    @_guarded
    def get_session(self, context, session_id):
        return reads.session_summary(session_id)

    @_guarded
    def get_session_detail(self, context, session_id):
        """The detail as JSON text (the document of the engine, encoded;
        stored JSON spliced in as it is: see
        :func:`fenix.db.reads.session_detail_json`)."""
        return reads.session_detail_json(session_id)

    @_guarded
    def get_session_detail_page(self, context, session_id, limit,
                                marker=None, next_link=None):
        """The detail with one page of its instances, as JSON text (see
        :func:`fenix.db.reads.session_detail_page_json`)."""
        return reads.session_detail_page_json(
            session_id, limit, marker=marker, next_link=next_link)

    @_guarded
    def get_project(self, context, session_id, project_id, event_id=None):
        return reads.project(session_id, project_id, event_id=event_id)

    @_guarded
    def get_project_instance(self, context, session_id, project_id,
                             instance_id, event_id=None):
        return reads.project_instance(session_id, project_id, instance_id,
                                      event_id=event_id)

    @_guarded
    def record_project_reply(self, context, session_id, project_id, reply,
                             event_id=None):
        """Judge and record a project's reply in the database
        (:func:`fenix.db.replies.settle_project_reply`): no RPC round
        trip, and recorded while no engine runs. Returns ``(answer,
        wake)``: the answer, and ``{'engine': owner}`` when the engine
        that owns the session (None: any) is to be woken (None: nothing
        changed). A refused reply raises its 409 (nothing changed); a
        database that cannot be reached, DatabaseUnavailable (503)."""
        return reply_db.settle_project_reply(session_id, project_id, reply,
                                             event_id)

    @_guarded
    def record_instance_reply(self, context, session_id, project_id,
                              instance_id, reply, event_id=None):
        """As :meth:`record_project_reply`, for one instance's event."""
        return reply_db.settle_instance_reply(session_id, project_id,
                                              instance_id, reply, event_id)

    @_guarded
    def list_action_runs(self, context, session_id):
        return reads.action_runs(session_id)

    @_guarded
    def list_instance_constraints(self, context, project_id=None):
        return reads.instance_constraints_list(project_id=project_id)

    @_guarded
    def get_instance_constraint(self, context, instance_id):
        return reads.instance_constraint_get(instance_id)

    @_guarded
    def list_instance_group_constraints(self, context, project_id=None):
        return reads.instance_group_constraints_list(project_id=project_id)

    @_guarded
    def get_instance_group_constraint(self, context, group_id):
        return reads.instance_group_constraint_get(group_id)
