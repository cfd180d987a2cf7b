# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A Nova fake virt driver whose node identity survives a restart.

Installed by tools/integration/stack.sh into ``nova/virt/`` of the
integration venv (Nova only imports drivers from ``nova.virt``); selected
with ``compute_driver = stable_fake.StableFakeDriver``.

``nova.virt.fake`` derives the compute node UUID from a per-process random
sentinel, so a restarted fake compute refuses to start ("No local node
identity found, but this is not our first startup on this host"). Here the
UUID is ``uuid5(NS, nodename)`` and stack.sh pre-writes the same value to
``<state_path>/compute_id``.

Capacity is ``[fake_capacity] vcpus / memory_mb / local_gb`` of the config
(defaults 4 vCPU, 4096 MB, 40 GB) so that tests decide how many servers fit
on a host.
"""
import uuid

from oslo_config import cfg

from nova.virt import fake

NS = uuid.UUID('6f1d4a52-6a3e-4a5c-9a55-0e0d4ac0ffee')

CONF = cfg.CONF
CONF.register_opts([cfg.IntOpt('vcpus', default=4),
                    cfg.IntOpt('memory_mb', default=4096),
                    cfg.IntOpt('local_gb', default=40)],
                   group='fake_capacity')


def node_uuid(nodename):
    return str(uuid.uuid5(NS, nodename))


class StableFakeDriver(fake.FakeDriver):

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        self.vcpus = CONF.fake_capacity.vcpus
        self.memory_mb = CONF.fake_capacity.memory_mb
        self.local_gb = CONF.fake_capacity.local_gb
        self.resources = fake.Resources(vcpus=self.vcpus,
                                        memory_mb=self.memory_mb,
                                        local_gb=self.local_gb)

    def get_available_resource(self, nodename):
        res = super().get_available_resource(nodename)
        res['uuid'] = node_uuid(nodename)
        return res

    def get_nodenames_by_uuid(self, refresh=False):
        return {node_uuid(n): n for n in self.get_available_nodes()}
