# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Base class of action plug-ins.

An action plug-in runs once per host (types ``host``, ``compute``,
``controller``) or once per session (``pre`` before the first host,
``post`` after the last). ``run()`` either finishes the work and returns
a result, or starts work elsewhere (an agent on the host) and returns
:data:`ASYNC`; the agent then reports DONE or FAILED through
``PUT /v1/action_plugin_run/{session_id}/{plugin}/{hostname}``, naming
the attempt it was given (:attr:`ActionPlugin.attempt`).

Every start of a run is a new attempt, recorded (RUNNING, attempt + 1)
before ``run()`` is called. After an engine restart a run found RUNNING
is never started behind the operator's back: an ASYNC one is waited for
again (its agent's report may still come), an in-process one is started
again only when its class says that is safe (:attr:`ActionPlugin.
idempotent`), otherwise it fails and waits for the admin.

A plug-in that hands its work to an agent says so
(:attr:`ActionPlugin.hands_over`): the hand-over is then recorded with
the attempt's start, before ``run()`` calls the agent, so that an engine
killed in the middle of the hand-over (the agent has the job, the engine
had not heard back) resumes the attempt instead of failing it. The
restarted engine hands the same attempt over again (the agent may never
have got it) and waits for that attempt's report: an agent must take an
attempt it already has as a re-delivery, not as a second job.
"""
import abc


class Result(object):
    """How a run ended: ``ok``, a one-line ``message`` and ``details``, a
    small JSON-able dict stored on the run (``result`` in ``/detail``)."""

    def __init__(self, ok, message='', details=None):
        self.ok = ok
        self.message = message
        self.details = details


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

    #: How long the engine waits for an ASYNC run's report, in seconds
    #: (counted from the start of the attempt, also across a restart).
    timeout = 3600

    #: True when running the plug-in again on the same host is harmless
    #: (it checks what is already done, or its work may simply be done
    #: twice). Only then does an engine that restarted while ``run()`` was
    #: in progress start it again (as a new attempt); otherwise that run
    #: fails with a message asking the admin to check the host and to
    #: continue the session.
    idempotent = False

    #: True when ``run()`` hands the work to an agent and returns ASYNC,
    #: and giving the agent the same attempt again is harmless (it takes
    #: each attempt once: a repeated one is a re-delivery). The engine
    #: then records the hand-over before ``run()`` is called, and after
    #: a restart calls ``run()`` again with the same :attr:`attempt`
    #: rather than failing the run as interrupted. May be set per object
    #: (in ``__init__``) when it depends on the plug-in's metadata.
    hands_over = False

    #: True when ``run()`` honours check mode (changes nothing, says what
    #: it would do: ansible's ``--check``, a script's ``FENIX_CHECK=1``).
    #: Only such plug-ins run in a dry run, in check mode; the others are
    #: not run there.
    supports_check = False

    #: The attempt this object runs: a number, new for each start of the
    #: plug-in on this host (over all its types; 1 for the first); set by
    #: the engine before ``run()``. An agent names it in its report: a
    #: report of another attempt is refused (409).
    attempt = None

    #: The URL an agent PUTs its report to (set by the engine with
    #: :attr:`attempt`).
    report_url = None

    def __init__(self, session, plugin, host=None, download_dir=None):
        self.session = session
        self.plugin = plugin
        self.host = host
        self.download_dir = download_dir
        self.metadata = plugin.get('meta') or {}

    def report_body(self, state, message=''):
        """The body an agent PUTs to :attr:`report_url` for this attempt
        (``state``: DONE or FAILED)."""
        return {'state': state, 'message': message,
                'attempt': self.attempt}

    @abc.abstractmethod
    def run(self):
        """Do the work; return a Result, or ASYNC."""

    def abort(self):
        """The session is being deleted while ``run()`` runs (called from
        another thread): stop the work at once if it can be stopped.
        ``run()`` then returns a failed Result. Nothing by default."""
