# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Client side of the engine RPC API.

The API service uses this class, and only this class, to reach the engine.
Every method returns plain JSON data (dicts, lists, strings).
"""
import queue
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging as messaging

from fenix.common import exception
from fenix.common import rpc
from fenix.common import transient

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

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
#   1.2 - create_session takes the client's idempotency_key.
#   1.3 - get_metrics (the figures of /metrics).
#   1.4 - wake_session takes the topic and subject of the wake-up (an API
#         that recorded a reply itself wakes the owner of the session).
#   1.5 - create_session takes ``forwarded``: an engine running [engine]
#         max_sessions sends the create on to a live engine with room
#         (a call to that engine), marked so that it is not forwarded
#         again (see forward_create_session).
RPC_API_VERSION = '1.5'

# The version of create_session with ``forwarded``.
FORWARD_VERSION = '1.5'

# Failures that mean "the engine cannot be reached" (HTTP 503).
_UNREACHABLE = (messaging.MessagingTimeout, messaging.MessageDeliveryFailure,
                messaging.MessagingServerError,
                messaging.exceptions.MessagingException)

# Seconds before the API gives up that the engine must have started a
# request; one it gets later is dropped (see rpc.guarded).
DEADLINE_MARGIN = 1.0

# Wake-ups waiting to be sent (see EngineAPI.wake_session) at most.
WAKE_QUEUE = 10000

# The engine (and the broker and database behind it), as the API sees it:
# one log line when it becomes unreachable, one when it is back.
_OUTAGE = transient.OutageLog('The Fenix engine', LOG)


def _transport_error(exc):
    """True for a connection error of the messaging driver (socket,
    kombu, py-amqp) that oslo.messaging let through."""
    if isinstance(exc, (OSError, ConnectionError, EOFError)):
        return True
    module = type(exc).__module__ or ''
    return module.split('.')[0] in ('kombu', 'amqp')


def _mapped(error, engine=None):
    """What a failed call of the engine raises, as Fenix's errors: the
    engine's own (404, 409, ...) as they are, a database it cannot reach
    as DatabaseUnavailable, any other error of the engine as a
    FenixException (never a 200), and a bus that does not carry the call
    or an engine that does not answer as EngineUnavailable (503; its
    reason names ``engine``, the engine called, if given). Anything else:
    ``error`` itself."""
    where = ' (engine %s)' % engine if engine else ''
    if isinstance(error, exception.FenixException):
        return error
    if isinstance(error, messaging.RemoteError):
        if error.exc_type in transient.DB_ERROR_NAMES:
            # An engine that does not map them itself.
            return exception.DatabaseUnavailable()
        # An unexpected engine error; never let it look like a 200.
        return exception.FenixException(
            'Engine error %s: %s' % (error.exc_type, error.value))
    if isinstance(error, _UNREACHABLE):
        return exception.EngineUnavailable(
            reason=(str(error) or type(error).__name__) + where)
    if _transport_error(error):
        # The driver's own connection errors (the broker went away under
        # a bounded publish): the engine cannot be reached.
        return exception.EngineUnavailable(reason='%s: %s%s' % (
            type(error).__name__, error, where))
    return error


def forward_create_session(context, engine, values, idempotency_key=None):
    """Send a create on to the engine ``engine`` (RPC 1.5, a call to that
    engine alone), marked ``forwarded``: it creates the session itself or
    answers why not (409 when it is full by then: a forwarded create is
    not forwarded again); the same ``idempotency_key`` goes along, so a
    retried create finds the session it made.

    Returns the engine's answer, or None when the call cannot be sent in a
    version that engine is sure to know (``[engine] rpc_version_cap``
    below 1.5, or its dispatcher refused 1.5: an engine of an earlier
    release); then nothing was created. The call waits until the
    request's deadline (the API's ``rpc_timeout``; without one, that many
    seconds): an engine that does not answer in time is EngineUnavailable
    (503), since it may have created the session (a retry with the same
    Idempotency-Key is then safe)."""
    cap = CONF.engine.rpc_version_cap or RPC_API_VERSION
    client = rpc.get_client(
        messaging.Target(topic=CONF.engine.topic, server=engine,
                         version=FORWARD_VERSION),
        version_cap=cap, retry=CONF.api.rpc_publish_retries)
    if not client.can_send_version(FORWARD_VERSION):
        return None
    deadline = getattr(context, rpc.DEADLINE_KEY, None)
    if deadline is None:
        timeout = CONF.api.rpc_timeout
    else:
        timeout = deadline - time.time()
        if timeout <= 0:
            raise exception.RequestExpired(method='create_session')
    cctxt = client.prepare(version=FORWARD_VERSION, timeout=timeout)
    try:
        return cctxt.call(context, 'create_session', values=values,
                          idempotency_key=idempotency_key, forwarded=True)
    except Exception as e:
        if isinstance(e, messaging.UnsupportedVersion) or (
                isinstance(e, messaging.RemoteError) and
                e.exc_type == 'UnsupportedVersion'):
            # Its dispatcher refused 1.5 before running anything (over
            # a broker, a RemoteError; in process, the error itself).
            LOG.warning('Engine %s does not take RPC %s (an earlier '
                        'release?); set [engine] rpc_version_cap until '
                        'every engine is upgraded', engine, FORWARD_VERSION)
            return None
        mapped = _mapped(e, engine)
        if mapped is e:
            raise
        raise mapped


class EngineAPI(object):
    """Client side of the engine RPC API.

    Every call answers within ``[api] rpc_timeout`` seconds: the message
    is published with a bounded number of tries (``[api]
    rpc_publish_retries``), and whatever hangs beyond the time-out (a
    broker that does not answer) is abandoned with EngineUnavailable.
    The message carries a deadline: an engine that gets it later does not
    carry it out.
    """

    def __init__(self, timeout=None):
        target = messaging.Target(topic=CONF.engine.topic,
                                  version=RPC_API_VERSION)
        self.timeout = timeout or CONF.api.rpc_timeout
        self.client = rpc.get_client(
            target, version_cap=RPC_API_VERSION, timeout=self.timeout,
            retry=CONF.api.rpc_publish_retries)
        # The clients of the wake-up casts, by engine, and what sends
        # them (see wake_session).
        self._wake_clients = {}
        self._wakes = queue.Queue(WAKE_QUEUE)
        self._wake_lock = threading.Lock()
        self._wake_thread = None

    def _call(self, context, method, version='1.0', **kwargs):
        try:
            result = self._send(context, method, version, kwargs)
        except exception.EngineUnavailable as e:
            _OUTAGE.down(e.message if hasattr(e, 'message') else str(e))
            raise
        _OUTAGE.up()
        return result

    def _send(self, context, method, version, kwargs):
        cctxt = self.client.prepare(version=version)
        if rpc.local_mode():
            return self._invoke(cctxt, context, method, kwargs)
        started = time.time()
        context = rpc.with_deadline(
            context, started + max(0.0, self.timeout - DEADLINE_MARGIN))
        outcome = {}
        done = threading.Event()

        def run():
            try:
                outcome['result'] = self._invoke(cctxt, context, method,
                                                 kwargs)
            except BaseException as e:  # noqa - handed to the caller
                outcome['error'] = e
            finally:
                done.set()

        threading.Thread(target=run, name='rpc-%s' % method,
                         daemon=True).start()
        if not done.wait(self.timeout):
            raise exception.EngineUnavailable(
                reason='no answer within %s seconds (rpc_timeout)'
                % self.timeout)
        if 'error' in outcome:
            raise outcome['error']
        return outcome['result']

    def _invoke(self, cctxt, context, method, kwargs):
        try:
            return cctxt.call(context, method, **kwargs)
        except Exception as e:
            mapped = _mapped(e)
            if mapped is e:
                raise
            raise mapped

    def ping(self, context):
        return self._call(context, 'ping')

    def get_metrics(self, context):
        return self._call(context, 'get_metrics', version='1.3')

    # --- sessions ---------------------------------------------------------
    def create_session(self, context, values, idempotency_key=None):
        if idempotency_key is None:
            # Understood by an engine of any version.
            return self._call(context, 'create_session', values=values)
        return self._call(context, 'create_session', version='1.2',
                          values=values, idempotency_key=idempotency_key)

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

    def wake_session(self, context, session_id, engine, topic=None,
                     subject=None):
        """Tell the engine ``engine`` (the session's owner; None: any
        engine) to look at the session again (a cast, 1.4), without
        waiting: the cast is sent by a thread of this process (a broker
        that cannot be reached never holds a request). A wake-up that
        cannot be sent is logged and dropped: what it is about was
        recorded, and the engine finds it at its next look at the
        session's rows (a wake-up, a deadline, or when it resumes the
        session)."""
        args = (context, session_id, engine, topic, subject)
        if rpc.local_mode():
            # In-process: the engine's runner is woken at once.
            self._cast_wake(*args)
            return
        with self._wake_lock:
            if self._wake_thread is None or not self._wake_thread.is_alive():
                # Also in a worker forked after a thread was started.
                self._wake_thread = threading.Thread(
                    target=self._send_wakes, name='rpc-wake', daemon=True)
                self._wake_thread.start()
        try:
            self._wakes.put_nowait(args)
        except queue.Full:
            LOG.warning('Wake-up of engine %s about session %s dropped '
                        '(%d waiting to be sent); it finds the change at '
                        'its next look', engine or '(any)', session_id,
                        WAKE_QUEUE)

    def _send_wakes(self):
        while True:
            self._cast_wake(*self._wakes.get())

    def _cast_wake(self, context, session_id, engine, topic, subject):
        try:
            client = self._wake_clients.get(engine)
            if client is None:
                if rpc.local_mode():
                    client = self.client
                else:
                    client = rpc.get_client(
                        messaging.Target(topic=CONF.engine.topic,
                                         server=engine,
                                         version=RPC_API_VERSION),
                        version_cap=RPC_API_VERSION,
                        retry=CONF.api.rpc_publish_retries)
                self._wake_clients[engine] = client
            client.prepare(version='1.4').cast(
                rpc.with_deadline(context, None), 'wake_session',
                session_id=session_id, topic=topic, subject=subject)
        except Exception as e:  # noqa - the reply is recorded anyway
            LOG.warning('Could not wake engine %s about session %s (%s: '
                        '%s); it finds the change at its next look',
                        engine or '(any)', session_id, type(e).__name__, e)

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
