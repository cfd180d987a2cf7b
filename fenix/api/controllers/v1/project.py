# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``/v1/maintenance/{session_id}/{project_id}[/{instance_id}]``: the
project (VNFM) API.

Existing managers send keys of their own in replies (``session_id``,
``instance_ids``, ...): they are accepted and dropped before the reply
reaches the engine.
"""
from fenix.api.controllers import base
from fenix.api import validation as v
from fenix.common.policies import project as pol
from fenix.common import states

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


class Project(base.Resource):

    def __init__(self, session_id, project_id):
        self.session_id = session_id
        self.project_id = project_id

    def child(self, segment):
        return ProjectInstance(self.session_id, self.project_id, segment)

    def target(self):
        return {'project_id': self.project_id}

    def get(self):
        base.authorize(pol.GET, self.target())
        return base.engine().get_project(base.context(), self.session_id,
                                         self.project_id)

    def put(self):
        base.authorize(pol.REPLY, self.target())
        values = base.body(REPLY_SCHEMA)
        reply = _reply(values, ('state', 'instance_actions'))
        return base.engine().project_reply(base.context(), self.session_id,
                                           self.project_id, reply)


class ProjectInstance(base.Resource):

    def __init__(self, session_id, project_id, instance_id):
        self.session_id = session_id
        self.project_id = project_id
        self.instance_id = instance_id

    def target(self):
        return {'project_id': self.project_id}

    def get(self):
        base.authorize(pol.INSTANCE_GET, self.target())
        return base.engine().get_project_instance(
            base.context(), self.session_id, self.project_id,
            self.instance_id)

    def put(self):
        base.authorize(pol.INSTANCE_REPLY, self.target())
        values = base.body(INSTANCE_REPLY_SCHEMA)
        reply = _reply(values, ('state', 'instance_action'))
        return base.engine().project_instance_reply(
            base.context(), self.session_id, self.project_id,
            self.instance_id, reply)
