# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``chaos_probe``: an action plug-in whose every start is seen outside
Fenix.

It runs inside the engine (the crash campaign puts this directory and an
entry point for it on the engine's path; it is not installed with Fenix).
``run()`` hands the job to an agent: one POST of ``{session_id, plugin,
type, host, attempt, pid}`` to ``metadata['agent_url']``, then ASYNC; the
agent reports DONE through ``/v1/action_plugin_run`` a moment later, as an
agent on a real host would. The work lives outside the engine, so a run
that an engine starts again after a crash is a second start of the same
work: the campaign counts them. It declares ``hands_over``: the engine
records the hand-over before the POST, and after a restart POSTs the same
attempt again (the agent takes an attempt it has as a re-delivery).
"""
import os

import requests

from fenix.workflow.actions import base

# Seconds the POST to the agent may take.
POST_TIMEOUT = 10


class ProbeAction(base.ActionPlugin):

    #: Seconds the engine waits for the agent's report.
    timeout = 120

    #: The work is the agent's; the same attempt POSTed again is a
    #: re-delivery (the campaign's agent reports each attempt once).
    hands_over = True

    def _attempt(self):
        """The attempt number, wherever this engine version gives it
        (None when it does not)."""
        for source in (getattr(self, 'attempt', None),
                       self.plugin.get('attempt'),
                       (self.host or {}).get('attempt')):
            if source is not None:
                return source
        return None

    def run(self):
        url = self.metadata.get('agent_url')
        if not url:
            return base.Result(False, 'chaos_probe needs metadata '
                                      'agent_url')
        body = {'session_id': self.session.get('session_id'),
                'plugin': self.plugin.get('plugin'),
                'type': self.plugin.get('type'),
                'host': (self.host or {}).get('hostname') or '',
                'attempt': self._attempt(),
                'pid': os.getpid()}
        try:
            resp = requests.post(url, json=body, timeout=POST_TIMEOUT)
        except requests.RequestException as e:
            return base.Result(False, 'agent unreachable: %s' % e)
        if resp.status_code >= 300:
            return base.Result(False, 'agent answered %s'
                               % resp.status_code)
        return base.ASYNC
