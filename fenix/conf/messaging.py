# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""oslo.messaging's own options, registered up front.

oslo.messaging registers ``[DEFAULT] transport_url`` and friends only when a
transport is made, and ``[oslo_messaging_notifications]`` only when a
Notifier is; Fenix reads and overrides some of them before that (the
notifier's driver choice, the all-in-one, tests). The very option objects
oslo.messaging registers later are used (``list_opts()`` hands out copies,
which would clash with them). They are documented by the
``oslo.messaging`` namespace of the sample config, not by Fenix's.
"""
from oslo_messaging.notify import notifier
from oslo_messaging import transport


def register_opts(conf):
    conf.register_opts(transport._transport_opts)
    conf.register_opts(notifier._notifier_opts,
                       group='oslo_messaging_notifications')
