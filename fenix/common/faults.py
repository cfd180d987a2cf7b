# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Crashes on purpose, for tests only (``[fault_injection]``).

Some faults cannot be caused from outside at the right moment: "the engine
dies right after it committed the final state, before it announced it" is
a window of microseconds. A fault point named in the configuration makes
the process kill itself exactly there, as a crash (SIGKILL: no cleanup, no
flush of anything), so that a test can restart it and check that nothing
was lost. Nothing here runs unless an option of ``[fault_injection]`` is
set; never set one in production.
"""
import os
import signal

from oslo_config import cfg
from oslo_log import log as logging

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


def _kill(reason):
    LOG.critical('Fault injection: killing this process (%s)', reason)
    os.kill(os.getpid(), signal.SIGKILL)


def after_commit(messages):
    """A transaction that recorded ``messages`` (outbox message dicts) was
    just committed; none of them is sent yet. Dies here when one matches
    ``[fault_injection] kill_after_commit``."""
    points = CONF.fault_injection.kill_after_commit
    if not points:
        return
    for message in messages:
        event_type = message['event_type']
        state = (message.get('payload') or {}).get('state')
        if event_type in points or '%s:%s' % (event_type, state) in points:
            _kill('committed %s %s' % (event_type, state or ''))
