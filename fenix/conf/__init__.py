# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Fenix configuration: one module per option group."""
from oslo_config import cfg
from oslo_db import options as db_options

from fenix.conf import action_plugins
from fenix.conf import api
from fenix.conf import coordination
from fenix.conf import download
from fenix.conf import engine
from fenix.conf import fault_injection
from fenix.conf import messaging
from fenix.conf import notifications
from fenix.conf import outbox
from fenix.conf import service_user
from fenix.conf import workflow

CONF = cfg.CONF

DEFAULT_SQLITE = 'sqlite:///fenix.sqlite'
# [database] max_pool_size: connections kept open per process (oslo.db's
# default is 5). A fenix-api process serves [api] min_threads (8) requests
# at once; with fewer pooled connections the others each opened a
# connection and closed it at the end of the request (with PyMySQL about
# 28 ms of CPU per connection, most of it building its TLS context: 17 %
# of an API worker's CPU under load).
DEFAULT_MAX_POOL_SIZE = 10

action_plugins.register_opts(CONF)
api.register_opts(CONF)
coordination.register_opts(CONF)
download.register_opts(CONF)
engine.register_opts(CONF)
fault_injection.register_opts(CONF)
messaging.register_opts(CONF)
notifications.register_opts(CONF)
outbox.register_opts(CONF)
service_user.register_opts(CONF)
workflow.register_opts(CONF)


def set_database_defaults(conf):
    """Fenix's defaults of oslo.db's ``[database]`` options."""
    db_options.set_defaults(conf, connection=DEFAULT_SQLITE,
                            max_pool_size=DEFAULT_MAX_POOL_SIZE)


def set_lib_defaults():
    """The sample generator's hook (entry point
    ``oslo.config.opts.defaults``): the sample shows Fenix's defaults of
    the libraries' options, not the libraries' own."""
    cfg.set_defaults(db_options.database_opts, connection=DEFAULT_SQLITE,
                     max_pool_size=DEFAULT_MAX_POOL_SIZE)


set_database_defaults(CONF)
