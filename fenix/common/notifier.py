# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The three notifications Fenix sends (SPEC 4).

Payload versions (bump on any change, keep the history):

  1.0 - project event (maintenance.planned / maintenance.scheduled),
        maintenance.host and maintenance.session as in SPEC 4.
  1.1 - project event: ``event_id``, the id of the event (its
        ``reply_url`` names it too); every key of 1.0 is unchanged.

With ``[notification_aodh] enabled`` each notification is also published
straight to AODH's listener as the event Ceilometer's notification agent
would make of it (:func:`fenix.common.aodh_events.ceilometer_event`),
for clouds without Ceilometer.
"""
from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging as messaging

from fenix.common import aodh_events as aev
from fenix.common import rpc
from fenix.common import timeutils

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

PAYLOAD_VERSION = '1.1'
PUBLISHER_ID = aev.PUBLISHER_ID
SERVICE = 'fenix'
HOST_EVENT_TYPE = 'maintenance.host'
SESSION_EVENT_TYPE = 'maintenance.session'


def _driver():
    """None when drivers are configured (oslo.messaging reads them), else
    the sensible one for the mode."""
    if CONF.oslo_messaging_notifications.driver:
        return None
    if CONF.notification_http.url:
        return 'fenix-http'
    if rpc.local_mode():
        # No broker in the all-in-one: log rather than block on one.
        return 'log'
    return 'messagingv2'


class Notifier(object):
    """Sends Fenix's notifications; one instance per engine."""

    def __init__(self):
        transport = rpc.get_notification_transport()
        self._notifier = messaging.Notifier(
            transport, publisher_id=PUBLISHER_ID, driver=_driver())
        self._aodh = None
        self._aodh_transport = None
        aodh = CONF.notification_aodh
        if aodh.enabled:
            if aodh.transport_url:
                transport = self._aodh_transport = \
                    messaging.get_notification_transport(
                        CONF, url=aodh.transport_url)
            self._aodh = messaging.Notifier(
                transport, publisher_id=PUBLISHER_ID, driver='messagingv2',
                topics=[aodh.topic])
            LOG.info('Notifications also go to AODH as events (topic %s)',
                     aodh.topic)

    def _send(self, event_type, payload, traits=()):
        LOG.debug('Notification %s: %s', event_type, payload)
        self._notifier.info({}, event_type, payload)
        if self._aodh is not None:
            self._send_event(event_type, payload, traits)

    def _send_event(self, event_type, payload, traits):
        try:
            event = aev.ceilometer_event(
                event_type, payload, traits,
                secret=CONF.notification_aodh.telemetry_secret)
        except (TypeError, ValueError) as e:
            # Ceilometer would drop it too; say so rather than fail.
            LOG.error('Notification %s cannot become an AODH event (%s): '
                      '%s', event_type, e, payload)
            return
        LOG.debug('Event to AODH: %s', event)
        # oslo.messaging logs (and swallows) a failed send, as for info().
        self._aodh.sample({}, aev.AODH_EVENT_TYPE, [event])

    def project_event(self, session_id, project_id, state, instance_ids,
                      reply_url, allowed_actions=(), actions_at=None,
                      reply_at=None, metadata=None, event_id=None):
        """``event_id``: the id of this event (payload key ``event_id``);
        a reply names it to be taken as the answer to this very event."""
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
            'event_id': event_id,
        }
        for event_type in CONF.workflow.project_event_types:
            self._send(event_type, payload, aev.PROJECT_EVENT_TRAITS)
        return payload

    def host_event(self, session_id, host, state, project_id=None):
        payload = {'service': SERVICE, 'host': host, 'state': state,
                   'session_id': session_id, 'project_id': project_id}
        self._send(HOST_EVENT_TYPE, payload, aev.HOST_EVENT_TRAITS)
        return payload

    def session_event(self, session_id, state, percent_done,
                      project_id=None):
        payload = {'service': SERVICE, 'session_id': session_id,
                   'state': state, 'percent_done': percent_done,
                   'project_id': project_id}
        self._send(SESSION_EVENT_TYPE, payload, aev.SESSION_EVENT_TRAITS)
        return payload
