# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``/v1/action_plugin_run``: results of out-of-process action plug-ins.

An agent running a plug-in outside the engine reports how its run ended:
``PUT /v1/action_plugin_run/{session_id}/{plugin}/{hostname}`` for a run on
one host, ``PUT /v1/action_plugin_run/{session_id}/{plugin}`` for a
session-wide (``pre``/``post``) run. The prefix keeps these paths apart
from the project routes under ``/v1/maintenance``.

The body names the attempt the agent was given (``attempt``, from the
plug-in): a report of another attempt than the current one is refused
with 409 and changes nothing, as is a report on a run that is no longer
RUNNING. Without ``attempt`` (agents written before attempts existed) the
report applies to the current attempt of the one RUNNING run.
"""
from fenix.api.controllers import base
from fenix.api import validation as v
from fenix.common.policies import action_plugin_run as pol
from fenix.common import states

REPORT_SCHEMA = {
    'type': 'object',
    'properties': {
        'state': v.enum(states.RUN_REPORT_STATES),
        'message': v.string(65535, min_length=0),
        'attempt': v.integer(minimum=1),
    },
    'required': ['state'],
    'additionalProperties': False,
}


def report(session_id, plugin, hostname):
    base.authorize(pol.REPORT)
    base.check_path_id('plugin', plugin)
    values = dict(base.body(REPORT_SCHEMA))
    attempt = values.pop('attempt', None)
    return base.engine().report_action_run(base.context(), session_id,
                                           plugin, hostname, values,
                                           attempt=attempt)


class ActionPluginRunRoot(base.Resource):
    """``/v1/action_plugin_run``: only a prefix (404 by itself)."""

    param = 'session_id'

    def child(self, segment):
        return SessionRuns(segment)


class SessionRuns(base.Resource):
    """``/v1/action_plugin_run/{session_id}``"""

    param = 'plugin'

    def __init__(self, session_id):
        self.session_id = session_id

    def child(self, segment):
        return PluginRun(self.session_id, segment)

    def get(self):
        base.query()
        base.authorize(pol.LIST)
        runs = base.reader().list_action_runs(base.context(),
                                              self.session_id)
        return base.collection('action_plugin_runs', runs)


class PluginRun(base.Resource):
    """``/v1/action_plugin_run/{session_id}/{plugin}``: session-wide."""

    param = 'hostname'

    def __init__(self, session_id, plugin):
        self.session_id = session_id
        self.plugin = plugin

    def child(self, segment):
        return HostRun(self.session_id, self.plugin, segment)

    def put(self):
        return report(self.session_id, self.plugin, '')


class HostRun(base.Resource):
    """``/v1/action_plugin_run/{session_id}/{plugin}/{hostname}``"""

    def __init__(self, session_id, plugin, hostname):
        self.session_id = session_id
        self.plugin = plugin
        self.hostname = hostname

    def put(self):
        base.check_path_id('hostname', self.hostname)
        return report(self.session_id, self.plugin, self.hostname)
