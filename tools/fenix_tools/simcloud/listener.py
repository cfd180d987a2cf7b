# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The message-bus intake: an oslo.messaging notification listener on
topic ``notifications`` (like ceilometer-agent-notification), feeding the
same path as ``POST /sim/notifications``."""
import logging

LOG = logging.getLogger(__name__)

PRIORITIES = ('audit', 'critical', 'debug', 'error', 'info', 'sample',
              'warn')


class _Endpoint:
    def __init__(self, sim):
        self.sim = sim

    def _handle(self, priority, ctxt, publisher_id, event_type, payload,
                metadata):
        metadata = metadata or {}
        try:
            self.sim.receive_notification({
                'event_type': event_type, 'payload': payload,
                'publisher_id': publisher_id,
                'timestamp': metadata.get('timestamp'),
                'message_id': metadata.get('message_id'),
                'priority': priority.upper(), 'ctxt': ctxt or {}},
                intake='messaging')
        except Exception:  # ack anyway, like ceilometer
            LOG.exception('could not process notification %s', event_type)


def _make(priority):
    def method(self, ctxt, publisher_id, event_type, payload, metadata):
        self._handle(priority, ctxt, publisher_id, event_type, payload,
                     metadata)
    method.__name__ = priority
    return method


for _priority in PRIORITIES:
    setattr(_Endpoint, _priority, _make(_priority))


class NotificationListener:
    """Listen on ``topics`` (of ``exchange``, default the transport's
    ``control_exchange``) of a transport given by URL or object."""

    def __init__(self, sim, transport_url=None, transport=None,
                 topics=('notifications',), pool=None, exchange=None):
        self.sim = sim
        # None: the transport's control_exchange.
        self.exchange = exchange
        self.transport_url = transport_url
        self.transport = transport
        self.topics = topics
        self.pool = pool
        self._listener = None
        self._own_transport = False

    def start(self):
        from oslo_config import cfg
        import oslo_messaging

        if self.transport is None:
            conf = cfg.ConfigOpts()
            conf([], project='simcloud', default_config_files=[])
            self.transport = oslo_messaging.get_notification_transport(
                conf, url=self.transport_url)
            self._own_transport = True
        targets = [oslo_messaging.Target(topic=t, exchange=self.exchange)
                   for t in self.topics]
        self._listener = oslo_messaging.get_notification_listener(
            self.transport, targets, [_Endpoint(self.sim)],
            executor='threading', pool=self.pool)
        self._listener.start()

    def stop(self):
        if self._listener is not None:
            self._listener.stop()
            self._listener.wait()
            self._listener = None
        if self._own_transport and self.transport is not None:
            self.transport.cleanup()
            self.transport = None
