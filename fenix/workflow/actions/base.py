# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Base class of action plug-ins.

An action plug-in runs once per host (types ``host``, ``compute``,
``controller``) or once per session (``pre`` before the first host,
``post`` after the last). ``run()`` either finishes the work and returns
a result, or starts work elsewhere (an agent on the host) and returns
:data:`ASYNC`; the agent then reports DONE or FAILED through
``PUT /v1/action_plugin_run/{session_id}/{plugin}/{hostname}``.
"""
import abc


class Result(object):
    def __init__(self, ok, message=''):
        self.ok = ok
        self.message = message


# Returned by run() when the outcome is reported later through the API.
ASYNC = 'ASYNC'


class ActionPlugin(object, metaclass=abc.ABCMeta):
    """One action plug-in run.

    :param session: the session dict.
    :param plugin: the action plug-in dict (plugin, type, meta).
    :param host: the host dict, or None for pre/post plug-ins.
    :param download_dir: the session's download directory (software the
        session fetched), or None.
    """

    #: How long the engine waits for an ASYNC run's report, in seconds.
    timeout = 3600

    def __init__(self, session, plugin, host=None, download_dir=None):
        self.session = session
        self.plugin = plugin
        self.host = host
        self.download_dir = download_dir
        self.metadata = plugin.get('meta') or {}

    @abc.abstractmethod
    def run(self):
        """Do the work; return a Result, or ASYNC."""
