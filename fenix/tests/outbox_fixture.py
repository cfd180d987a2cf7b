# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The outbox, sent synchronously, for tests.

Fenix records every notification in the ``outbox`` table, sends it after
the commit and has an engine's dispatcher thread send what is left and
mark what was sent (fenix/engine/outbox.py). Tests want
to see a notification as soon as it was committed, and its row marked,
without waiting for a thread: :class:`InlineNotifier` is a real
:class:`fenix.common.notifier.Notifier` whose dispatcher has no thread (a
committing thread sends its messages, as in production; what is left is
sent at once by the thread that asks), through a
:class:`RecordingPublisher` that keeps what it was given (and may hand it
to a callback, e.g. a fake VNFM)::

    notifier = outbox_fixture.InlineNotifier()
    manager = EngineManager(notifier, host='e1')
    ...
    notifier.payloads('maintenance.session')
"""
import threading

from fenix.common import notifier as fenix_notifier
from fenix.common import publisher as fenix_publisher
from fenix.db import api as db_api
from fenix.engine import outbox


class RecordingPublisher(object):
    """Stands in for :class:`fenix.common.publisher.Publisher`.

    ``sent``: every row sent, in order. ``fail``: while set (an exception
    or a callable(row) returning one or None), sends fail with it.
    ``on_send``: called with every row sent. ``threads``: the name of
    the thread that sent each.
    """

    WAY = 'recorder'

    def __init__(self, on_send=None):
        self.sent = []
        self.threads = []
        self.fail = None
        self.on_send = on_send
        self._lock = threading.Lock()

    def send(self, row, skip=()):
        if self.WAY in skip:
            return
        error = self.fail(row) if callable(self.fail) else self.fail
        if error is not None:
            raise fenix_publisher.PublishError({self.WAY: error}, skip)
        with self._lock:
            self.sent.append(row)
            self.threads.append(threading.current_thread().name)
        if self.on_send is not None:
            self.on_send(row)


class InlineDispatcher(outbox.Dispatcher):
    """A dispatcher without a thread: what its thread would do is done at
    once, in the thread that asks (a kick makes a pass, rows sent by a
    committing thread are marked at once)."""

    def __init__(self, publisher, engine=None):
        super().__init__(publisher, engine=engine)
        self._local = threading.local()
        # No table left by a previous run to read first.
        self.ready.set()

    def kick(self):
        local = self._local
        if getattr(local, 'flushing', False):
            # Recorded while a message of this thread was being delivered
            # (a fake VNFM that answers at once): sent when that is done.
            local.again = True
            return
        local.flushing = True
        try:
            local.again = True
            while local.again:
                local.again = False
                self.flush()
        finally:
            local.flushing = False

    def _marks_waiting(self):
        if getattr(self._local, 'flushing', False):
            return  # the pass of this thread marks them
        with self._pass_lock:
            self._mark_sent()


class InlineNotifier(fenix_notifier.Notifier):
    """A real Notifier whose messages are sent in the committing thread.

    ``engine``: only the rows of that engine's sessions are sent (None:
    all; tests' sessions often have no engine).
    """

    def __init__(self, engine=None):
        self.publisher = RecordingPublisher(on_send=self.deliver)
        super().__init__(db_api, InlineDispatcher(self.publisher,
                                                  engine=engine))

    def deliver(self, row):
        """Called with every message sent (override)."""

    @property
    def messages(self):
        return list(self.publisher.sent)

    def payloads(self, event_type=None):
        return [m['payload'] for m in self.publisher.sent
                if event_type in (None, m['event_type'])]
