# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``/v1/maintenance/{session_id}/{project_id}[/{instance_id}]``: the
project (VNFM) API.

Existing managers send keys of their own in replies (``session_id``,
``instance_ids``, ...): they are accepted and dropped before the reply
reaches the engine.

Each event's ``reply_url`` names the event: ``?event_id=<id>``. The query
parameter is passed to the engine, which refuses (409) a reply, or a
read, that names an event no longer current (see
:mod:`fenix.common.replies`). A reply naming an event that was answered
already (a retry) or a session that has ended is refused by the API
itself from the database, with the engine's judgement and answer, and
never reaches the engine (see :func:`refuse_if_settled`). Without
``event_id`` a reply is judged by what it says, as upstream managers
build the URL themselves.
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


def refuse_if_settled(method, *args):
    """Raise the 409 the engine would answer to a reply it certainly
    refuses (one naming an event that was answered, or a session that has
    ended: a manager's retry), as the reader judges it from the database
    with the engine's own judgement (:func:`fenix.common.replies.settled`)
    -- no RPC round trip and no row lock for it. Any other reply goes to
    the engine."""
    refused = getattr(base.reader(), method)(base.context(), *args)
    if refused is not None:
        raise refused


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
        refuse_if_settled('refused_project_reply', self.session_id,
                          self.project_id, reply, named)
        return base.engine().project_reply(base.context(), self.session_id,
                                           self.project_id, reply,
                                           event_id=named)


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
        refuse_if_settled('refused_instance_reply', self.session_id,
                          self.project_id, self.instance_id, reply, named)
        return base.engine().project_instance_reply(
            base.context(), self.session_id, self.project_id,
            self.instance_id, reply, event_id=named)
