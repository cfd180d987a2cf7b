# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Command entry points. Each stays thin; the work is in the services."""
import signal
import threading
import warnings

# oslo.messaging imports oslo.service, which imports eventlet and
# oslo_utils.eventletutils; both warn on import that they are deprecated.
# Fenix's services run on threads and use neither: the warning is nothing
# an operator can act on, so no command prints it. (Set here, before any
# command module imports oslo.messaging.)
# eventlet also imports dnspython, whose DNSSEC module names DSA keys,
# which cryptography 51 deprecates: nothing Fenix uses either.
QUIET_WARNINGS = (r'\s*Eventlet is deprecated',
                  r'eventletutils module is deprecated',
                  r'DSA is deprecated')


def quiet_warnings():
    """Hide :data:`QUIET_WARNINGS` (also for tools that run Fenix's
    services in their own process, such as the crash campaign)."""
    for message in QUIET_WARNINGS:
        warnings.filterwarnings('ignore', message=message)


quiet_warnings()


def wait_for_signal(signals=(signal.SIGTERM, signal.SIGINT)):
    """Block the main thread until one of ``signals`` arrives."""
    stop = threading.Event()

    def _handler(signum, frame):
        stop.set()

    for sig in signals:
        signal.signal(sig, _handler)
    while not stop.wait(3600):
        pass
