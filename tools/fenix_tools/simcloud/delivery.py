# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Webhook delivery, the aodh-notifier's job.

Each fired alarm gives one job per action URL. Jobs of one alarm are run
in order, one at a time; different alarms are served by a small pool of
worker threads, so a webhook that hangs (until the timeout) holds only its
own alarm's queue. ``http(s)://`` and ``trust+http(s)://`` actions are
POSTed (JSON body, ``Content-Type: application/json``,
``X-Openstack-Request-Id``, no auth header, no retry); ``log://`` and
``test://`` are only recorded.
"""
import collections
import json
import logging
import threading
import time
from urllib import error as urlerror
from urllib import request as urlrequest

from fenix_tools.simcloud import util

LOG = logging.getLogger(__name__)

# Loopback webhooks must never go through an environment proxy.
_OPENER = urlrequest.build_opener(urlrequest.ProxyHandler({}))


class Deliverer:
    def __init__(self, events, workers=8, timeout=5.0):
        self.events = events
        self.workers = workers
        self.timeout = timeout
        self.records = []
        self._queues = {}
        self._ready = collections.deque()
        self._active = set()
        self._cond = threading.Condition()
        self._threads = []
        self._stopping = False
        self._inflight = 0

    def start(self):
        with self._cond:
            if self._threads:
                return
            self._stopping = False
            for index in range(self.workers):
                thread = threading.Thread(target=self._run, daemon=True,
                                          name='simcloud-webhook-%d' % index)
                thread.start()
                self._threads.append(thread)

    def stop(self):
        with self._cond:
            self._stopping = True
            threads, self._threads = self._threads, []
            self._cond.notify_all()
        for thread in threads:
            thread.join(timeout=self.timeout + 1)

    def submit(self, key, url, body, meta):
        """Queue a POST of ``body`` to ``url`` behind ``key``'s jobs.

        ``meta`` is copied into the delivery record.
        """
        job = {'url': url, 'body': body, 'meta': dict(meta),
               'queued': time.monotonic()}
        with self._cond:
            self._queues.setdefault(key, collections.deque()).append(job)
            self._inflight += 1
            if key not in self._active:
                self._active.add(key)
                self._ready.append(key)
                self._cond.notify()

    def pending(self):
        with self._cond:
            return self._inflight

    def wait_idle(self, timeout):
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._inflight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def deliveries(self, since=0, **match):
        """Delivery records with ``seq > since`` matching ``match``.

        ``match`` gives field values, e.g. ``alarm_id=...``, ``url=...``.
        """
        with self._cond:
            records = self.records[since:]
            return [dict(r) for r in records
                    if all(r.get(k) == v for k, v in match.items())]

    def _run(self):
        while True:
            with self._cond:
                while not self._ready and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                key = self._ready.popleft()
                job = self._queues[key].popleft()
            try:
                self._deliver(job)
            except Exception:  # never lose a worker
                LOG.exception('webhook delivery failed')
            with self._cond:
                self._inflight -= 1
                if self._queues[key]:
                    self._ready.append(key)
                else:
                    del self._queues[key]
                    self._active.discard(key)
                self._cond.notify_all()

    def _deliver(self, job):
        url = job['url']
        meta = job['meta']
        request_id = util.request_id()
        status = None
        err = None
        started = time.monotonic()
        scheme = url.split('://', 1)[0]
        if scheme in ('http', 'https', 'trust+http', 'trust+https'):
            target = url[len('trust+'):] if scheme.startswith('trust+') \
                else url
            data = json.dumps(job['body']).encode('utf-8')
            req = urlrequest.Request(target, data=data, method='POST',
                                     headers={
                                         'Content-Type': 'application/json',
                                         'X-Openstack-Request-Id':
                                             request_id,
                                         'User-Agent': 'simcloud-aodh-'
                                                       'notifier'})
            try:
                with _OPENER.open(req, timeout=self.timeout) as resp:
                    status = resp.status
                    resp.read()
            except urlerror.HTTPError as exc:
                status = exc.code
                err = 'HTTP %s' % exc.code
            except (urlerror.URLError, OSError, ValueError) as exc:
                err = str(getattr(exc, 'reason', exc))
        ok = err is None
        done = time.monotonic()
        with self._cond:
            record = dict(meta, seq=len(self.records) + 1, url=url,
                          body=job['body'], status=status, ok=ok, error=err,
                          request_id=request_id, queued_t=job['queued'],
                          sent_t=started, done_t=done)
            self.records.append(record)
        self.events.record('alarm.delivery', alarm=meta.get('alarm_id'),
                           alarm_name=meta.get('alarm_name'),
                           project=meta.get('project_id'), url=url,
                           event_type=meta.get('event_type'),
                           message_id=meta.get('message_id'),
                           status=status, ok=ok, error=err,
                           delivery=record['seq'],
                           elapsed=round(done - started, 6))
