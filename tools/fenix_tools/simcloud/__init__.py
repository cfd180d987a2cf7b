# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A simulated OpenStack cloud (Keystone, Nova, AODH and the Ceilometer
notification path) speaking the real HTTP APIs on one loopback port.

Fenix never imports this package; tests, the demo and benchmarks start it
either in-process (:class:`SimCloud`) or as the ``fenix-simcloud``
command. See ``doc/source/simcloud.rst``.
"""
from fenix_tools.simcloud.server import SimCloud  # noqa: F401
from fenix_tools.simcloud.topology import generate  # noqa: F401
from fenix_tools.simcloud.topology import load  # noqa: F401
from fenix_tools.simcloud.topology import TopologyError  # noqa: F401
from fenix_tools.simcloud.topology import two_tenants  # noqa: F401
