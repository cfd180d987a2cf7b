# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Client side of the engine RPC API.

The API service uses this class, and only this class, to reach the engine.
Every method returns plain JSON data (dicts, lists, strings).
"""
from oslo_config import cfg
import oslo_messaging as messaging

from fenix.common import exception
from fenix.common import rpc

CONF = cfg.CONF

# The version of the RPC API. The engine manager imports this constant so
# both sides always agree.
#
#   1.0 - Initial version: sessions (create, list, get, detail, update,
#         delete), project and project-instance queries and replies,
#         instance and instance-group constraints, action plug-in run
#         reports, ping.
#   1.1 - Event identity and session control: project_reply and
#         project_instance_reply take the event_id the reply answers
#         (get_project and get_project_instance the event_id the request
#         names);
#         report_action_run takes the attempt it reports on;
#         pause_session, resume_session, skip_host and retry_step.
RPC_API_VERSION = '1.1'

# Failures that mean "the engine cannot be reached" (HTTP 503).
_UNREACHABLE = (messaging.MessagingTimeout, messaging.MessageDeliveryFailure,
                messaging.MessagingServerError,
                messaging.exceptions.MessagingException)


class EngineAPI(object):
    """Client side of the engine RPC API."""

    def __init__(self, timeout=None):
        target = messaging.Target(topic=CONF.engine.topic,
                                  version=RPC_API_VERSION)
        self.client = rpc.get_client(
            target, version_cap=RPC_API_VERSION,
            timeout=timeout or CONF.api.rpc_timeout)

    def _call(self, context, method, version='1.0', **kwargs):
        cctxt = self.client.prepare(version=version)
        try:
            return cctxt.call(context, method, **kwargs)
        except exception.FenixException:
            raise
        except messaging.RemoteError as e:
            # An unexpected engine error; never let it look like a 200.
            raise exception.FenixException(
                'Engine error %s: %s' % (e.exc_type, e.value))
        except _UNREACHABLE as e:
            raise exception.EngineUnavailable(reason=str(e) or
                                              type(e).__name__)

    def ping(self, context):
        return self._call(context, 'ping')

    # --- sessions ---------------------------------------------------------
    def create_session(self, context, values):
        return self._call(context, 'create_session', values=values)

    def list_sessions(self, context):
        return self._call(context, 'list_sessions')

    def get_session(self, context, session_id):
        return self._call(context, 'get_session', session_id=session_id)

    def get_session_detail(self, context, session_id):
        return self._call(context, 'get_session_detail',
                          session_id=session_id)

    def update_session(self, context, session_id, values):
        return self._call(context, 'update_session', session_id=session_id,
                          values=values)

    def delete_session(self, context, session_id):
        return self._call(context, 'delete_session', session_id=session_id)

    # --- admin control of a running session (1.1) -------------------------
    def pause_session(self, context, session_id, reason=None):
        return self._call(context, 'pause_session', version='1.1',
                          session_id=session_id, reason=reason)

    def resume_session(self, context, session_id):
        return self._call(context, 'resume_session', version='1.1',
                          session_id=session_id)

    def skip_host(self, context, session_id, hostname, reason=None):
        return self._call(context, 'skip_host', version='1.1',
                          session_id=session_id, hostname=hostname,
                          reason=reason)

    def retry_step(self, context, session_id):
        return self._call(context, 'retry_step', version='1.1',
                          session_id=session_id)

    # --- projects (VNFM) --------------------------------------------------
    # ``event_id``: the event the request names (the ``?event_id=`` of the
    # URL an event gave); only then is the call sent as 1.1, so that a
    # request without one still reaches an engine of 1.0.
    def _call_event(self, context, method, event_id, **kwargs):
        if event_id is None:
            return self._call(context, method, **kwargs)
        return self._call(context, method, version='1.1', event_id=event_id,
                          **kwargs)

    def get_project(self, context, session_id, project_id, event_id=None):
        return self._call_event(context, 'get_project', event_id,
                                session_id=session_id, project_id=project_id)

    def project_reply(self, context, session_id, project_id, reply,
                      event_id=None):
        return self._call_event(context, 'project_reply', event_id,
                                session_id=session_id, project_id=project_id,
                                reply=reply)

    def get_project_instance(self, context, session_id, project_id,
                             instance_id, event_id=None):
        return self._call_event(context, 'get_project_instance', event_id,
                                session_id=session_id, project_id=project_id,
                                instance_id=instance_id)

    def project_instance_reply(self, context, session_id, project_id,
                               instance_id, reply, event_id=None):
        return self._call_event(context, 'project_instance_reply', event_id,
                                session_id=session_id, project_id=project_id,
                                instance_id=instance_id, reply=reply)

    # --- constraints ------------------------------------------------------
    def list_instance_constraints(self, context, project_id=None):
        return self._call(context, 'list_instance_constraints',
                          project_id=project_id)

    def get_instance_constraint(self, context, instance_id):
        return self._call(context, 'get_instance_constraint',
                          instance_id=instance_id)

    def put_instance_constraint(self, context, instance_id, values):
        return self._call(context, 'put_instance_constraint',
                          instance_id=instance_id, values=values)

    def delete_instance_constraint(self, context, instance_id):
        return self._call(context, 'delete_instance_constraint',
                          instance_id=instance_id)

    def list_instance_group_constraints(self, context, project_id=None):
        return self._call(context, 'list_instance_group_constraints',
                          project_id=project_id)

    def get_instance_group_constraint(self, context, group_id):
        return self._call(context, 'get_instance_group_constraint',
                          group_id=group_id)

    def put_instance_group_constraint(self, context, group_id, values):
        return self._call(context, 'put_instance_group_constraint',
                          group_id=group_id, values=values)

    def delete_instance_group_constraint(self, context, group_id):
        return self._call(context, 'delete_instance_group_constraint',
                          group_id=group_id)

    # --- action plug-in runs ----------------------------------------------
    def list_action_runs(self, context, session_id):
        return self._call(context, 'list_action_runs', session_id=session_id)

    def report_action_run(self, context, session_id, plugin, hostname,
                          report, attempt=None):
        if attempt is None:
            # Understood by an engine of any version.
            return self._call(context, 'report_action_run',
                              session_id=session_id, plugin=plugin,
                              hostname=hostname, report=report)
        return self._call(context, 'report_action_run', version='1.1',
                          session_id=session_id, plugin=plugin,
                          hostname=hostname, report=report, attempt=attempt)
