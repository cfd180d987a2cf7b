# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""One background thread that runs delayed callbacks (migrations finishing,
servers booting) at their due time, whether or not anybody polls."""
import heapq
import itertools
import logging
import threading
import time

LOG = logging.getLogger(__name__)


class Handle:
    """A scheduled callback; ``cancel()`` stops it if not yet run."""

    __slots__ = ('due', 'func', 'cancelled', 'done')

    def __init__(self, due, func):
        self.due = due
        self.func = func
        self.cancelled = False
        self.done = False

    def cancel(self):
        self.cancelled = True


class Timers:
    def __init__(self):
        self._heap = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._thread = None
        self._stopping = False
        self._running = 0

    def start(self):
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run,
                                            name='simcloud-timers',
                                            daemon=True)
            self._thread.start()

    def stop(self):
        with self._cond:
            thread, self._thread = self._thread, None
            self._stopping = True
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout=10)

    def call_later(self, delay, func):
        handle = Handle(time.monotonic() + max(0.0, delay), func)
        with self._cond:
            heapq.heappush(self._heap, (handle.due, next(self._counter),
                                        handle))
            self._cond.notify_all()
        return handle

    def run_now(self, handle):
        """Make a scheduled callback due now (it still runs on the timer
        thread); False if it was cancelled or has run."""
        with self._cond:
            if handle.cancelled or handle.done:
                return False
            handle.due = time.monotonic()
            self._heap = [(h.due, n, h) for _, n, h in self._heap]
            heapq.heapify(self._heap)
            self._cond.notify_all()
            return True

    def wait_idle(self, timeout):
        """Wait until nothing is scheduled or running; True if so."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._running or any(not h.cancelled
                                       for _, _, h in self._heap):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def pending(self):
        """Number of callbacks scheduled or running."""
        with self._cond:
            return self._running + sum(
                1 for _, _, h in self._heap if not h.cancelled)

    def _run(self):
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                    if self._heap:
                        wait = self._heap[0][0] - time.monotonic()
                        if wait <= 0:
                            _, _, handle = heapq.heappop(self._heap)
                            self._running += 1
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
            try:
                if not handle.cancelled:
                    handle.func()
            except Exception:
                LOG.exception('timer callback failed')
            finally:
                handle.done = True
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()
