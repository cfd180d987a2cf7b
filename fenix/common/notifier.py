# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The three notifications Fenix sends (SPEC 4), recorded before sent.

Payload versions (bump on any change, keep the history):

  1.0 - project event (maintenance.planned / maintenance.scheduled),
        maintenance.host and maintenance.session as in SPEC 4.
  1.1 - project event: ``event_id``, the id of the event (its
        ``reply_url`` names it too); every key of 1.0 is unchanged.

Record, then send: :class:`Notifier` sends nothing itself. Each of its
methods builds the payload and adds the message(s) to the ``outbox`` table
in the transaction of the change that causes them::

    with notifier.transaction():
        db_api.session_update(...)        # the change
        db_api.event_add(...)             # its history entry
        notifier.session_event(...)       # its announcement

Either all three are committed or none is. Once the transaction is
committed the recording thread sends the messages itself through
:mod:`fenix.common.publisher`, and the engine's dispatcher
(:mod:`fenix.engine.outbox`) sends whatever that did not (a failure, a
session with older messages still to send); a crash between the commit
and the send leaves the message in the table, and the restarted engine
sends it. Every message has its own ``message_id``
(carried by the oslo.messaging message): a consumer may see a message
twice after a crash, never lose one.
"""
import contextlib
import threading
import uuid

from oslo_config import cfg
from oslo_log import log as logging

from fenix.common import faults
from fenix.common import timeutils

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

PAYLOAD_VERSION = '1.1'
PUBLISHER_ID = 'fenix'
SERVICE = 'fenix'
HOST_EVENT_TYPE = 'maintenance.host'
SESSION_EVENT_TYPE = 'maintenance.session'
PRIORITY_INFO = 'info'

# Message ids of the project event with a given event id: the same for
# the same (event, type), so that recording one event twice queues it
# once.
_MESSAGE_ID_NAMESPACE = uuid.UUID('0f1b3a5e-6d2c-4b8e-9a7f-5c4d3e2b1a09')


def project_event_payload(session_id, project_id, state, instance_ids,
                          reply_url, allowed_actions=(), actions_at=None,
                          reply_at=None, metadata=None, event_id=None):
    payload = {
        'service': SERVICE,
        'project_id': project_id,
        'session_id': session_id,
        'state': state,
        'instance_ids': instance_ids,
        'allowed_actions': list(allowed_actions),
        'actions_at': timeutils.format_time(actions_at),
        'reply_at': timeutils.format_time(reply_at),
        'reply_url': reply_url,
        'metadata': metadata or {},
    }
    payload['event_id'] = event_id
    return payload


def host_event_payload(session_id, host, state, project_id=None):
    return {'service': SERVICE, 'host': host, 'state': state,
            'session_id': session_id, 'project_id': project_id}


def session_event_payload(session_id, state, percent_done, project_id=None):
    return {'service': SERVICE, 'session_id': session_id, 'state': state,
            'percent_done': percent_done, 'project_id': project_id}


def message_id_of(event_id, event_type):
    """The message id of the ``event_type`` message of one project event."""
    return str(uuid.uuid5(_MESSAGE_ID_NAMESPACE,
                          '%s/%s' % (event_id, event_type)))


def message(session_id, event_type, payload, message_id=None):
    """An outbox message (see ``fenix.db.api.outbox_add``)."""
    return {'message_id': message_id or str(uuid.uuid4()),
            'session_id': session_id, 'event_type': event_type,
            'priority': PRIORITY_INFO, 'payload': payload,
            'created_at': timeutils.utcnow()}


class RecordingError(RuntimeError):
    """A notification recorded where its commit cannot be seen (a bug)."""


class Notifier(object):
    """Records Fenix's notifications in the outbox; one per engine.

    ``store``: the database API it records through, given by its owner
    (:mod:`fenix.db.api`: its ``transaction``, ``in_transaction``,
    ``outbox_add`` and ``outbox_unsent``; this module, below the database
    layer, does not import it). ``dispatcher``: what sends them
    (:class:`fenix.engine.outbox.Dispatcher`): the recording thread
    through it right after the commit, its own thread what is left.
    """

    def __init__(self, store, dispatcher=None):
        self.store = store
        self.dispatcher = dispatcher
        # Per thread: depth of transaction() blocks, messages recorded in
        # the outermost one.
        self._local = threading.local()

    # --- transactions ------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self):
        """One database transaction (``fenix.db.api.transaction``) whose
        recorded messages are sent once it is committed.

        Blocks nest (an inner one joins the outer). It must not be opened
        inside a bare ``db_api.transaction()``: the messages would be sent
        before they are committed.
        """
        local = self._local
        outermost = not getattr(local, 'depth', 0)
        if outermost:
            if self.store.in_transaction():
                raise RecordingError(
                    'Notifier.transaction() inside a database transaction '
                    'of its own: open the notifier\'s first')
            local.depth = 0
            local.queued = []
            local.claimed = []
        local.depth += 1
        committed = False
        try:
            with self.store.transaction():
                yield
            committed = True
        finally:
            local.depth -= 1
            if outermost:
                queued, local.queued = local.queued, []
                claimed, local.claimed = local.claimed, []
                if not committed and claimed:
                    self.dispatcher.unclaim(claimed)
        if outermost and queued:
            faults.after_commit(queued)
            if self.dispatcher is not None:
                self.dispatcher.send(claimed,
                                     left=len(claimed) < len(queued))

    def record(self, messages, check_known=False):
        """Add ``messages`` to the outbox, in the open :meth:`transaction`
        (else in one of their own).

        ``check_known``: their ids may have been recorded before (derived
        from an event id); those are not queued twice. Random ids are new:
        nothing to look up.
        """
        messages = list(messages)
        if not messages:
            return
        local = self._local
        if not getattr(local, 'depth', 0):
            with self.transaction():
                self.record(messages, check_known)
            return
        ids = self.store.outbox_add(messages, check_known=check_known,
                                    fetch=False)
        rows = [dict(m, id=ids[m['message_id']]) for m in messages
                if m['message_id'] in ids]
        local.queued.extend(rows)
        if self.dispatcher is not None:
            # Claimed before the commit: the dispatcher never reads a row
            # that this thread is about to send.
            local.claimed.extend(self.dispatcher.claim(rows))

    # --- the dispatcher ----------------------------------------------------
    def flush_session(self, session_id, timeout):
        """Send what the outbox still holds for one session (before it is
        deleted with the session). True when nothing is left unsent."""
        if self.dispatcher is None:
            return not self.store.outbox_unsent(session_id=session_id, limit=1)
        return self.dispatcher.flush_session(session_id, timeout)

    # --- the notifications -------------------------------------------------
    def project_event(self, session_id, project_id, state, instance_ids,
                      reply_url, allowed_actions=(), actions_at=None,
                      reply_at=None, metadata=None, event_id=None,
                      fresh=False):
        """Record the project event, once per configured event type
        (``[workflow] project_event_types``). ``event_id``: the id of this
        event (payload key ``event_id``; a reply names it to be taken as
        the answer to this very event); its messages' ids are derived
        from it, and those already recorded are not queued again.
        ``fresh``: ``event_id`` was just made for this event (in the open
        transaction), so none of its messages can be recorded yet: they
        are not looked up. Returns the payload."""
        messages = self.project_event_messages(
            session_id, project_id, state, instance_ids, reply_url,
            allowed_actions=allowed_actions, actions_at=actions_at,
            reply_at=reply_at, metadata=metadata, event_id=event_id)
        self.record(messages,
                    check_known=event_id is not None and not fresh)
        return messages[0]['payload'] if messages else \
            project_event_payload(
                session_id, project_id, state, instance_ids, reply_url,
                allowed_actions=allowed_actions, actions_at=actions_at,
                reply_at=reply_at, metadata=metadata, event_id=event_id)

    @staticmethod
    def project_event_messages(session_id, project_id, state, instance_ids,
                               reply_url, allowed_actions=(),
                               actions_at=None, reply_at=None,
                               metadata=None, event_id=None):
        """The outbox messages of one project event (one per
        ``[workflow] project_event_types``; ids derived from ``event_id``
        when given), to :meth:`record` (many events' at once)."""
        payload = project_event_payload(
            session_id, project_id, state, instance_ids, reply_url,
            allowed_actions=allowed_actions, actions_at=actions_at,
            reply_at=reply_at, metadata=metadata, event_id=event_id)
        return [message(session_id, event_type, payload,
                        event_id and message_id_of(event_id, event_type))
                for event_type in CONF.workflow.project_event_types]

    def host_event(self, session_id, host, state, project_id=None):
        """Record maintenance.host; returns the payload."""
        payload = host_event_payload(session_id, host, state, project_id)
        self.record([message(session_id, HOST_EVENT_TYPE, payload)])
        return payload

    def session_event(self, session_id, state, percent_done,
                      project_id=None):
        """Record maintenance.session; returns the payload."""
        payload = session_event_payload(session_id, state, percent_done,
                                        project_id)
        self.record([message(session_id, SESSION_EVENT_TYPE, payload)])
        return payload
