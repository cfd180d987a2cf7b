# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Command-line and config-file parsing shared by every command."""
from oslo_log import log as logging
import oslo_messaging as messaging

from fenix.conf import CONF

_LOGGING_REGISTERED = False


def parse_args(argv, default_config_files=None):
    """Parse ``argv`` (without the program name) and set up logging."""
    global _LOGGING_REGISTERED
    if not _LOGGING_REGISTERED:
        logging.register_options(CONF)
        _LOGGING_REGISTERED = True
    messaging.set_transport_defaults(control_exchange='fenix')
    CONF(argv, project='fenix', version='0.1.0',
         default_config_files=default_config_files)
    logging.setup(CONF, 'fenix')
