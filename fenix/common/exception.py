# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Fenix exceptions.

Each exception carries the HTTP status the API answers with. They cross RPC
(oslo.messaging re-raises them on the caller side when this module is in
``allowed_remote_exmods``), so the API can map an engine error to the right
status without knowing where it came from.
"""


class FenixException(Exception):
    """Base class; ``msg_fmt`` is formatted with the keyword arguments."""

    msg_fmt = 'An unknown error occurred.'
    code = 500

    def __init__(self, message=None, **kwargs):
        self.kwargs = kwargs
        if not message:
            try:
                message = self.msg_fmt % kwargs
            except (KeyError, TypeError):
                message = self.msg_fmt
        self.message = str(message)
        super().__init__(self.message)

    def __str__(self):
        return self.message


class Invalid(FenixException):
    msg_fmt = 'Invalid request: %(reason)s'
    code = 400


class InvalidState(Invalid):
    msg_fmt = "'%(state)s' is not a valid state here."


class InvalidTransition(FenixException):
    msg_fmt = 'A session cannot move from %(src)s to %(dst)s.'
    code = 409


class InvalidStepTransition(InvalidTransition):
    """A row of a session (host, move, plug-in run) was asked to take an
    edge its declared machine does not have."""
    msg_fmt = 'A %(machine)s cannot move from %(src)s to %(dst)s.'


class UnknownPlugin(Invalid):
    msg_fmt = "Unknown %(kind)s plug-in '%(name)s'."


class UnknownHosts(Invalid):
    msg_fmt = ('Invalid request: hosts: %(hosts)s unknown to Nova (it runs '
               'neither nova-compute nor a controller service there).')


class NotAuthorized(FenixException):
    msg_fmt = 'Not authorized.'
    code = 401


class Forbidden(FenixException):
    msg_fmt = 'Policy does not allow %(action)s.'
    code = 403


class NotFound(FenixException):
    msg_fmt = 'Resource could not be found.'
    code = 404


class SessionNotFound(NotFound):
    msg_fmt = "Maintenance session %(session_id)s not found."


class ProjectNotFound(NotFound):
    msg_fmt = ("Project %(project_id)s has no instances in maintenance "
               "session %(session_id)s.")


class InstanceNotFound(NotFound):
    msg_fmt = ("Instance %(instance_id)s of project %(project_id)s is not "
               "in maintenance session %(session_id)s.")


class InstanceConstraintNotFound(NotFound):
    msg_fmt = "No constraints registered for instance %(instance_id)s."


class InstanceGroupNotFound(NotFound):
    msg_fmt = "No constraints registered for instance group %(group_id)s."


class ActionPluginRunNotFound(NotFound):
    msg_fmt = ("Action plug-in %(plugin)s has no run on host %(host)s in "
               "session %(session_id)s.")


class StepNotFound(NotFound):
    msg_fmt = 'Step %(step_id)s of a plan not found.'


class Conflict(FenixException):
    msg_fmt = 'Conflict: %(reason)s'
    code = 409


class SessionStateConflict(Conflict):
    msg_fmt = ("Session is in state %(state)s and cannot be %(action)s; "
               "allowed in: %(allowed)s.")


class SessionFenced(Conflict):
    """A session's stale owner (an engine that lost it to a takeover while
    it stalled) tried to write or act: refused (see fenix.common.fencing).
    """
    msg_fmt = ("Session %(session_id)s is no longer run by engine "
               "%(engine)s at generation %(generation)s; its write is "
               "refused.")


class ReplyConflict(Conflict):
    msg_fmt = ("Reply %(reply)s does not answer the current event "
               "%(event)s of project %(project_id)s.")


class ActionRunStateConflict(Conflict):
    msg_fmt = ("Run of action plug-in %(plugin)s on %(host)s (attempt "
               "%(current)s) is %(state)s, not RUNNING.")


class ActionRunAttemptConflict(Conflict):
    msg_fmt = ("Attempt %(attempt)s of action plug-in %(plugin)s on "
               "%(host)s is not the current one: the current attempt is "
               "%(current)s (%(state)s).")


class GroupOfAnotherProject(Conflict):
    msg_fmt = ("Instance %(instance_id)s of project %(project_id)s cannot "
               "join instance group %(group_id)s: the group belongs to "
               "another project. An instance constraint may only name a "
               "group of its own project.")


class GroupHasOtherMembers(Conflict):
    msg_fmt = ("Instance group %(group_id)s cannot move to project "
               "%(project_id)s: instances of another project are its "
               "members (%(members)s).")


class StepStateConflict(Conflict):
    msg_fmt = 'Step %(step_id)s is %(state)s, not %(expected)s.'


class TooManySessions(Conflict):
    msg_fmt = ('The engine already runs %(count)s sessions, the configured '
               'limit ([engine] max_sessions).')


class TooManySessionsTotal(TooManySessions):
    msg_fmt = ('The engines already run %(count)s sessions together, the '
               'configured limit ([engine] max_sessions_total).')


class EngineUnavailable(FenixException):
    msg_fmt = 'The Fenix engine cannot be reached: %(reason)s'
    code = 503


class DatabaseUnavailable(EngineUnavailable):
    msg_fmt = ('The Fenix database cannot be reached right now; nothing '
               'was changed. Try again later.')


class RequestExpired(EngineUnavailable):
    """The engine got the request after the API had given up on it (and
    answered 503): it is not carried out."""
    msg_fmt = ('The request %(method)s reached the engine after its '
               'deadline; it was not carried out.')


class IdempotencyKeyInUse(Conflict):
    """Two creates with the same key at the same time: the other won."""
    msg_fmt = 'A session was created with this Idempotency-Key meanwhile.'


class IdempotencyConflict(Conflict):
    msg_fmt = ('Idempotency-Key %(key)s was used before with another '
               'request body; use a new key for a new request.')


class WorkflowError(FenixException):
    """A workflow step failed; the session goes to MAINTENANCE_FAILED."""
    msg_fmt = '%(reason)s'


class DownloadError(WorkflowError):
    msg_fmt = 'Download of %(url)s failed: %(reason)s'


class DownloadRefused(DownloadError):
    """The operator's download policy ([download]) refuses the URL;
    ``policy`` names the rule (scheme, host, file, redirect, size,
    deadline, plug-in code)."""
    msg_fmt = ('Download of %(url)s refused by the download policy '
               '(%(policy)s): %(reason)s')


class DownloadStopped(DownloadError):
    """The session was stopped (deleted, engine shutdown) while it
    downloaded."""
    msg_fmt = 'Download of %(url)s stopped: %(reason)s'


class CloudError(WorkflowError):
    msg_fmt = 'OpenStack call failed: %(reason)s'
