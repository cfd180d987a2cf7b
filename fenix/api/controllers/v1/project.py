# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``/v1/maintenance/{session_id}/{project_id}[/{instance_id}]``: the
project (VNFM) API.

Existing managers send keys of their own in replies (``session_id``,
``instance_ids``, ...): they are accepted and dropped before the reply
reaches the engine.

Each event's ``reply_url`` names the event: ``?event_id=<id>``. A reply,
or a read, that names an event no longer current is refused (409; see
:mod:`fenix.common.replies`). Without ``event_id`` a reply is judged by
what it says, as upstream managers build the URL themselves.

A reply is judged and recorded by the API process itself, in one narrow
transaction of the database (:mod:`fenix.db.replies`): a refused one
(stale, repeated, late, of an ended session) is a 409 decided there and
changes nothing; a recorded one is then announced to the engine that
owns the session with a cast (nothing waits for it). A reply is recorded
while no engine runs; only a database that cannot be reached is a 503.
"""
import uuid

from oslo_utils import uuidutils

from fenix.api.controllers import base
from fenix.api import validation as v
from fenix.common import exception
from fenix.common.policies import project as pol
from fenix.common import states

# The query parameter naming the event a request is about.
EVENT_ID = 'event_id'

REPLY_SCHEMA = {
    'type': 'object',
    'properties': {
        'state': v.enum(states.REPLY_STATES),
        'instance_actions': {
            'type': ['object', 'null'],
            'propertyNames': v.string(255),
            'additionalProperties': v.enum(states.INSTANCE_ACTIONS),
        },
    },
    'required': ['state'],
}

INSTANCE_REPLY_SCHEMA = {
    'type': 'object',
    'properties': {
        'state': v.enum(states.REPLY_STATES),
        'instance_action': {'enum': list(states.INSTANCE_ACTIONS) + [None]},
    },
    'required': ['state'],
}


def _reply(values, fields):
    """Only the fields the engine takes; null means absent."""
    return {k: values[k] for k in fields if values.get(k) is not None}


def event_id():
    """The ``event_id`` query parameter (None when absent); anything but
    a UUID is a 400 naming it."""
    value = base.query(EVENT_ID).get(EVENT_ID)
    if value is None:
        return None
    if not uuidutils.is_uuid_like(value):
        raise exception.Invalid(
            reason="query parameter '%s': '%s' is not the id of an event "
                   "(a UUID)" % (EVENT_ID, value if len(value) <= 60
                                 else value[:57] + '...'))
    # The form Fenix writes (lower case, dashes), whatever the caller did.
    return str(uuid.UUID(value))


class Project(base.Resource):
    """``/v1/maintenance/{session_id}/{project_id}``"""

    param = 'instance_id'

    def __init__(self, session_id, project_id):
        self.session_id = session_id
        self.project_id = project_id

    def child(self, segment):
        return ProjectInstance(self.session_id, self.project_id, segment)

    def target(self):
        return {'project_id': self.project_id}

    def get(self):
        base.authorize(pol.GET, self.target())
        return base.reader().get_project(base.context(), self.session_id,
                                         self.project_id,
                                         event_id=event_id())

    def put(self):
        base.authorize(pol.REPLY, self.target())
        named = event_id()
        values = base.body(REPLY_SCHEMA)
        reply = _reply(values, ('state', 'instance_actions'))
        answer, wake = base.reader().record_project_reply(
            base.context(), self.session_id, self.project_id, reply,
            event_id=named)
        if wake is not None:
            base.engine().wake_session(base.context(), self.session_id,
                                       wake['engine'], topic=states.WAKE_REPLY)
        return answer


class ProjectInstance(base.Resource):
    """``/v1/maintenance/{session_id}/{project_id}/{instance_id}``"""

    def __init__(self, session_id, project_id, instance_id):
        self.session_id = session_id
        self.project_id = project_id
        self.instance_id = instance_id

    def target(self):
        return {'project_id': self.project_id}

    def get(self):
        base.authorize(pol.INSTANCE_GET, self.target())
        return base.reader().get_project_instance(
            base.context(), self.session_id, self.project_id,
            self.instance_id, event_id=event_id())

    def put(self):
        base.authorize(pol.INSTANCE_REPLY, self.target())
        named = event_id()
        values = base.body(INSTANCE_REPLY_SCHEMA)
        reply = _reply(values, ('state', 'instance_action'))
        answer, wake = base.reader().record_instance_reply(
            base.context(), self.session_id, self.project_id,
            self.instance_id, reply, event_id=named)
        if wake is not None:
            base.engine().wake_session(base.context(), self.session_id,
                                       wake['engine'], topic=states.WAKE_REPLY,
                                       subject=self.instance_id)
        return answer
