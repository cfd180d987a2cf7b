# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Command entry points. Each stays thin; the work is in the services."""
import signal
import threading


def wait_for_signal(signals=(signal.SIGTERM, signal.SIGINT)):
    """Block the main thread until one of ``signals`` arrives."""
    stop = threading.Event()

    def _handler(signum, frame):
        stop.set()

    for sig in signals:
        signal.signal(sig, _handler)
    while not stop.wait(3600):
        pass
