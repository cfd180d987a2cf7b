# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""An oslo.messaging notification driver that POSTs over HTTP.

Registered as ``fenix-http``. The all-in-one has no message bus, so this is
how its notifications reach an alarm service (the simulated cloud's
``/sim/notifications``, or any receiver of your own). Each notification is
one POST of ``{"event_type", "payload", "publisher_id", "timestamp",
"priority", "message_id"}`` to ``[notification_http] url``.

A notification that no POST got through raises :class:`HTTPNotifyError`
(after ``retry`` more tries), so that Fenix's outbox tries it again later
(oslo.messaging's own ``Notifier`` logs such errors and goes on).
"""
from oslo_log import log as logging
from oslo_messaging.notify import notifier
import requests

from fenix.common import httpsession

LOG = logging.getLogger(__name__)


# Connections kept open to the receiver (one per thread sending at once).
POOL_SIZE = 16
# POSTs of one notification when oslo.messaging says "retry forever" (-1).
ATTEMPTS_FOREVER = 3


class HTTPNotifyError(Exception):
    """No POST of a notification got through."""


class HTTPNotifyDriver(notifier.Driver):

    def __init__(self, conf, topics, transport):
        super().__init__(conf, topics, transport)
        # One session for every notification: its connections are reused
        # (a new TCP connection per event cost more than the event).
        # The environment (proxies, CA bundle, netrc) is read once.
        self.http = httpsession.EnvCachedSession()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1,
                                                pool_maxsize=POOL_SIZE)
        self.http.mount('http://', adapter)
        self.http.mount('https://', adapter)

    @staticmethod
    def _body(message, priority):
        return {'event_type': message.get('event_type'),
                'payload': message.get('payload'),
                'publisher_id': message.get('publisher_id'),
                'timestamp': message.get('timestamp'),
                'message_id': message.get('message_id'),
                'priority': priority.lower()}

    def notify(self, ctxt, message, priority, retry):
        self._post(self._body(message, priority), retry,
                   '%s (%s)' % (message.get('event_type'),
                                message.get('message_id')))

    def notify_many(self, ctxt, messages, retry):
        """POST several notifications (each with its own ``priority``)
        as one JSON array, in their order ([notification_http] batch):
        all of them go through, or :class:`HTTPNotifyError`."""
        bodies = [self._body(m, m.get('priority') or 'info')
                  for m in messages]
        self._post(bodies, retry, ', '.join(
            '%s (%s)' % (b['event_type'], b['message_id']) for b in bodies))

    def _post(self, body, retry, what):
        url = self.conf.notification_http.url
        if not url:
            LOG.warning('fenix-http driver without [notification_http] url;'
                        ' dropping %s', what)
            return
        attempts = (1 + max(0, retry or 0) if retry != -1
                    else ATTEMPTS_FOREVER)
        error = None
        for attempt in range(attempts):
            try:
                resp = self.http.post(
                    url, json=body,
                    timeout=self.conf.notification_http.timeout)
                if resp.status_code < 300:
                    return
                error = 'answered %s' % resp.status_code
            except requests.RequestException as e:
                error = str(e)
            LOG.warning('Notification %s to %s failed: %s', what, url,
                        error)
        raise HTTPNotifyError('notification %s to %s failed: %s'
                              % (what, url, error))
