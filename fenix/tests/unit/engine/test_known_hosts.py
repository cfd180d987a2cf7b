# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A create that names a host Nova does not know is a 400 naming it."""
import threading

from fenix.common import context
from fenix.common import exception
from fenix.db import api as db_api
from fenix.engine import known_hosts
from fenix.engine import manager
from fenix.tests import base
from fenix.tests import db_fixture
from fenix.tests.unit.engine import test_manager


class FakeCloud(object):
    """Nova's services: ``hosts`` {host: binary}; ``error`` raised by a
    listing; ``hold`` an Event a listing waits for."""

    def __init__(self, hosts):
        self.hosts = dict(hosts)
        self.listings = 0
        self.error = None
        self.hold = None

    def compute_services(self, binary=None):
        self.listings += 1
        if self.hold is not None:
            self.hold.wait(60)
        if self.error is not None:
            raise self.error
        return [{'host': h, 'binary': b} for h, b in self.hosts.items()
                if binary is None or b == binary]


class Clock(object):
    now = 1000.0

    def __call__(self):
        return self.now


NOVA = {'compute-0': 'nova-compute', 'compute-1': 'nova-compute',
        'controller-0': 'nova-conductor', 'sched-0': 'nova-scheduler',
        'api-0': 'nova-api'}


class TestKnownHosts(base.TestCase):

    def setUp(self):
        super().setUp()
        self.cloud = FakeCloud(NOVA)
        self.clock = Clock()
        self.known = known_hosts.KnownHosts(lambda: self.cloud, self.clock)

    def test_unknown_names_in_order_once(self):
        self.assertEqual(
            ['nope', 'api-0'],
            self.known.unknown(['compute-0', 'nope', 'controller-0',
                                'nope', 'sched-0', 'api-0']))
        self.assertEqual([], self.known.unknown([]))

    def test_list_kept_while_fresh(self):
        self.assertEqual([], self.known.unknown(['compute-0']))
        self.assertEqual([], self.known.unknown(['compute-1']))
        self.assertEqual(1, self.cloud.listings)
        self.clock.now += 61
        self.assertEqual([], self.known.unknown(['compute-0']))
        self.assertEqual(2, self.cloud.listings)

    def test_a_name_not_in_the_list_is_looked_up_again(self):
        self.assertEqual([], self.known.unknown(['compute-0']))
        self.cloud.hosts['compute-9'] = 'nova-compute'
        self.assertEqual([], self.known.unknown(['compute-9']))
        self.assertEqual(2, self.cloud.listings)

    def test_nova_unreachable_refuses_nothing(self):
        self.cloud.error = exception.CloudError(reason='no Nova')
        self.assertEqual([], self.known.unknown(['nope']))

    def test_nova_too_slow_refuses_nothing(self):
        self.config(group='engine', known_hosts_timeout=1)
        self.cloud.hold = threading.Event()
        self.addCleanup(self.cloud.hold.set)
        self.assertEqual([], self.known.unknown(['nope']))


class TestCreateChecksHosts(base.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(db_fixture.Database(self.tmpdir))
        self.ctx = context.RequestContext(user_id='admin',
                                          project_id='admin',
                                          roles=['admin'])
        self.cloud = FakeCloud(NOVA)
        self.manager = manager.EngineManager(
            test_manager.FakeNotifier(), host='e1',
            known_hosts=known_hosts.KnownHosts(lambda: self.cloud))
        self.addCleanup(self.manager.stop_all, 10)

    def test_unknown_host_is_400_naming_it(self):
        for workflow in ('default', 'nfv'):
            e = self.assertRaises(
                exception.UnknownHosts, self.manager.create_session,
                self.ctx, {'workflow': workflow,
                           'hosts': ['compute-0', 'compute-7', 'c8']})
            self.assertEqual(400, e.code)
            self.assertIn('compute-7, c8', str(e))
            self.assertNotIn('compute-0', str(e))
        self.assertEqual([], db_api.session_list())

    def test_workflow_without_nova_hosts_is_not_checked(self):
        # wait_reply's hosts are names only: no Nova is asked.
        self.manager.create_session(self.ctx, {
            'workflow': 'wait_reply', 'hosts': ['anything'],
            'metadata': {'projects': []}})
        self.assertEqual(0, self.cloud.listings)
