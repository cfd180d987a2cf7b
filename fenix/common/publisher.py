# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Puts one recorded notification on the wire, and says if it failed.

The engine's dispatcher (:mod:`fenix.engine.outbox`) marks a message sent
only when this module says it was. oslo.messaging's ``Notifier`` cannot
tell: it logs and swallows every driver error, and its ``messaging`` /
``messagingv2`` drivers swallow the transport's as well. So the
:class:`Publisher` loads the configured notification drivers itself (the
same stevedore entry points, ``oslo.messaging.notify.drivers``) and calls
them directly, with a bounded ``retry``, and sends the ``messaging`` ones
with :class:`StrictMessagingDriver`, which lets the transport's error
through. The message it hands a driver is the one ``Notifier`` would
build, except that its ``message_id`` is the outbox's (the same on every
try, so that consumers can drop a repeat) and its ``timestamp`` the time
it was recorded.

With ``[notification_aodh] enabled`` each message also goes straight to
AODH's listener as the event Ceilometer's notification agent would make of
it (:func:`fenix.common.aodh_events.ceilometer_event`), for clouds without
Ceilometer.
"""
import collections
import uuid

from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging as messaging
from oslo_messaging.notify import messaging as messaging_drivers
from stevedore import driver as stevedore_driver

from fenix.common import aodh_events as aev
from fenix.common import notifier
from fenix.common import rpc
from fenix.common import timeutils

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

DRIVER_NAMESPACE = 'oslo.messaging.notify.drivers'
# The oslo.messaging drivers that would swallow a failed send, and the
# message format version each sends.
MESSAGING_DRIVERS = {'messaging': 1.0, 'messagingv2': 2.0}
AODH_SINK = 'aodh'
AODH_PRIORITY = 'SAMPLE'
# The traits of each notification (Fenix's Ceilometer event definitions);
# every other event type is a project event.
TRAITS = {notifier.HOST_EVENT_TYPE: aev.HOST_EVENT_TRAITS,
          notifier.SESSION_EVENT_TYPE: aev.SESSION_EVENT_TRAITS}
_AODH_MESSAGE_NAMESPACE = uuid.UUID('6a0e2f44-93c1-4f0a-8a53-2b7d1c9e4f10')


def default_driver():
    """The notification driver when none is configured: the sensible one
    for the mode (None when drivers are configured)."""
    if CONF.oslo_messaging_notifications.driver:
        return None
    if CONF.notification_http.url:
        return 'fenix-http'
    if rpc.local_mode():
        # No broker in the all-in-one: log rather than block on one.
        return 'log'
    return 'messagingv2'


class PublishError(Exception):
    """A message did not get through every way it must take.

    ``failed``: {way: error}; ``done``: the ways it did get through (not
    to be taken again when the message is tried again).
    """

    def __init__(self, failed, done):
        super().__init__('; '.join('%s: %s' % (name, error or
                                               type(error).__name__)
                                   for name, error in failed.items()))
        self.failed = failed
        self.done = frozenset(done)


class StrictMessagingDriver(messaging_drivers.MessagingDriver):
    """oslo.messaging's ``messaging``/``messagingv2`` driver, except that a
    failed send raises (the original logs it and returns).

    Uses the transport's ``_send_notification``, which is what the
    original driver calls: oslo.messaging has no public way to send a
    notification and learn that it failed.
    """

    def notify(self, ctxt, message, priority, retry):
        priority = priority.lower()
        for topic in self.topics:
            target = messaging.Target(topic='%s.%s' % (topic, priority))
            self.transport._send_notification(target, ctxt, message,
                                              version=self.version,
                                              retry=retry)


def _load_driver(name, conf, topics, transport):
    if name in MESSAGING_DRIVERS:
        return StrictMessagingDriver(conf, topics, transport,
                                     version=MESSAGING_DRIVERS[name])
    return stevedore_driver.DriverManager(
        DRIVER_NAMESPACE, name, invoke_on_load=True, invoke_args=[conf],
        invoke_kwds={'topics': topics, 'transport': transport}).driver


class Publisher(object):
    """Sends recorded messages through every configured way.

    The ways: each notification driver of ``[oslo_messaging_notifications]
    driver`` (else :func:`default_driver`), and AODH's listener with
    ``[notification_aodh] enabled``. Drivers are loaded once: the
    ``fenix-http`` driver keeps its connections, a bus driver its
    transport.
    """

    def __init__(self, conf=None):
        conf = conf or CONF
        self.conf = conf
        self._ways = collections.OrderedDict()
        transport = rpc.get_notification_transport(conf)
        topics = list(conf.oslo_messaging_notifications.topics)
        names = list(conf.oslo_messaging_notifications.driver) or \
            [default_driver()]
        for name in names:
            self._ways[name] = _load_driver(name, conf, topics, transport)
        self._aodh_transport = None
        aodh = conf.notification_aodh
        if aodh.enabled:
            if aodh.transport_url:
                transport = self._aodh_transport = \
                    messaging.get_notification_transport(
                        conf, url=aodh.transport_url)
            self._aodh = StrictMessagingDriver(conf, [aodh.topic],
                                               transport, version=2.0)
            self._ways[AODH_SINK] = None
            LOG.info('Notifications also go to AODH as events (topic %s)',
                     aodh.topic)

    @property
    def ways(self):
        """Names of the ways a message takes, in order."""
        return list(self._ways)

    @property
    def batching(self):
        """Rows may be sent together (:meth:`send_many`): ``[notification_
        http] batch`` and fenix-http is the only way."""
        return (bool(self.conf.notification_http.batch) and
                list(self._ways) == ['fenix-http'] and
                hasattr(self._ways['fenix-http'], 'notify_many'))

    @staticmethod
    def _message(row):
        recorded = row.get('created_at') or timeutils.utcnow()
        return {'message_id': row['message_id'],
                'publisher_id': notifier.PUBLISHER_ID,
                'event_type': row['event_type'],
                'priority': (row.get('priority') or
                             notifier.PRIORITY_INFO).upper(),
                'payload': row['payload'],
                'timestamp': str(recorded)}, recorded

    def send_many(self, rows):
        """Send several rows in one request (see :attr:`batching`; else
        one by one). All go through, or :class:`PublishError` (none is
        taken as sent)."""
        if len(rows) == 1 or not self.batching:
            for row in rows:
                self.send(row)
            return
        name = 'fenix-http'
        try:
            self._ways[name].notify_many(
                {}, [self._message(row)[0] for row in rows],
                self.conf.outbox.send_retry)
        except Exception as e:  # noqa - any driver error: try again
            raise PublishError({name: e}, ())
        LOG.debug('Notifications sent: %s',
                  ', '.join(row['event_type'] for row in rows))

    def send(self, row, skip=()):
        """Send one outbox row (``message_id``, ``event_type``,
        ``priority``, ``payload``, ``created_at``) every way but those in
        ``skip``. Raises :class:`PublishError` naming the ways that failed
        (the others are done)."""
        retry = self.conf.outbox.send_retry
        msg, recorded = self._message(row)
        done, failed = set(skip), collections.OrderedDict()
        for name, driver in self._ways.items():
            if name in done:
                continue
            try:
                if name == AODH_SINK:
                    self._send_to_aodh(msg, recorded, retry)
                else:
                    driver.notify({}, msg, msg['priority'], retry)
            except Exception as e:  # noqa - any driver error: try again
                failed[name] = e
            else:
                done.add(name)
        if failed:
            raise PublishError(failed, done)
        LOG.debug('Notification %s sent: %s', msg['event_type'],
                  msg['payload'])

    def _send_to_aodh(self, msg, recorded, retry):
        event_type = msg['event_type']
        try:
            event = aev.ceilometer_event(
                event_type, msg['payload'],
                TRAITS.get(event_type, aev.PROJECT_EVENT_TRAITS),
                message_id=msg['message_id'],
                generated=recorded,
                secret=self.conf.notification_aodh.telemetry_secret)
        except (TypeError, ValueError) as e:
            # Ceilometer would drop it too; say so, do not try again.
            LOG.error('Notification %s cannot become an AODH event (%s): '
                      '%s', event_type, e, msg['payload'])
            return
        LOG.debug('Event to AODH: %s', event)
        self._aodh.notify({}, {
            'message_id': str(uuid.uuid5(_AODH_MESSAGE_NAMESPACE,
                                         msg['message_id'])),
            'publisher_id': msg['publisher_id'],
            'event_type': aev.AODH_EVENT_TYPE,
            'priority': AODH_PRIORITY,
            'payload': [event],
            'timestamp': msg['timestamp']}, AODH_PRIORITY, retry)

    def cleanup(self):
        if self._aodh_transport is not None:
            self._aodh_transport.cleanup()
            self._aodh_transport = None
