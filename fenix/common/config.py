# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Command-line and config-file parsing shared by every command."""
import logging as std_logging
import threading
import time

from oslo_log import log as logging
import oslo_messaging as messaging

from fenix.conf import CONF

_LOGGING_REGISTERED = False

# SQLAlchemy's pool logs a traceback at ERROR for every pooled connection
# whose reset fails because the database went away; the connection is
# dropped anyway, and Fenix logs the outage itself once
# (fenix.common.transient).
QUIET_LOGGERS = ['sqlalchemy.pool=CRITICAL']

# The messaging driver logs an ERROR line for every reconnection attempt
# and every failed publish while the broker is away (dozens a minute per
# process). Their warnings and errors are let through at most once per
# THROTTLE_INTERVAL seconds per logger; the next one says how many were
# left out. Fenix logs the outage itself once (fenix.common.transient).
THROTTLED_LOGGERS = ('oslo.messaging._drivers.impl_rabbit',
                     'oslo.messaging._drivers.amqpdriver')
THROTTLE_INTERVAL = 60


class Throttle(std_logging.Filter):
    """Lets a WARNING-or-above record through at most once per
    ``interval`` seconds; lower levels always pass."""

    def __init__(self, interval=THROTTLE_INTERVAL, clock=time.monotonic):
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._last = None
        self._left_out = 0

    def filter(self, record):
        if record.levelno < std_logging.WARNING:
            return True
        now = self.clock()
        with self._lock:
            if self._last is not None and now - self._last < self.interval:
                self._left_out += 1
                return False
            self._last = now
            left_out, self._left_out = self._left_out, 0
        if left_out:
            # (Appended after formatting: the note holds no '%'.)
            record.msg = '%s [%d similar line(s) of the last %d s not ' \
                         'logged]' % (record.msg, left_out, self.interval)
        return True


def _throttle_driver_logs():
    for name in THROTTLED_LOGGERS:
        logger = std_logging.getLogger(name)
        if not any(isinstance(f, Throttle) for f in logger.filters):
            logger.addFilter(Throttle())


def parse_args(argv, default_config_files=None):
    """Parse ``argv`` (without the program name) and set up logging."""
    global _LOGGING_REGISTERED
    if not _LOGGING_REGISTERED:
        logging.register_options(CONF)
        logging.set_defaults(default_log_levels=(
            logging.get_default_log_levels() + QUIET_LOGGERS))
        _LOGGING_REGISTERED = True
    messaging.set_transport_defaults(control_exchange='fenix')
    CONF(argv, project='fenix', version='0.1.0',
         default_config_files=default_config_files)
    logging.setup(CONF, 'fenix')
    _throttle_driver_logs()
