# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Unit tests of the Cloud facade's own logic.

The clients are replaced by mocks at the novaclient/aodhclient level: these
tests cover decisions (judging a move, retries, microversion choices, alarm
matching, error translation). Behaviour against real clients talking HTTP is
covered by fenix/tests/functional/test_cloud_simcloud.py.
"""
import datetime
import itertools
from unittest import mock

import fixtures
from novaclient import api_versions
from novaclient import exceptions as nova_exc

from fenix.common import cloud
from fenix.common import exception
from fenix.common import states as st
from fenix.tests import base

SRC = 'compute1'
DST = 'compute2'


def server(status='ACTIVE', vm_state='active', task_state=None, host=SRC,
           **extra):
    raw = {'id': 'vm1', 'name': 'vm1', 'status': status,
           'OS-EXT-STS:vm_state': vm_state,
           'OS-EXT-STS:task_state': task_state,
           'OS-EXT-SRV-ATTR:host': host, 'tenant_id': 'p1',
           'flavor': {'vcpus': 2, 'ram': 512, 'disk': 1,
                      'original_name': 'm1.small'},
           'addresses': {}}
    raw.update(extra)
    return raw


def live_migration_failed(nova, **why):
    """The server's one instance action: a live migration whose
    conductor event ended in error (``why``: its details or traceback)."""
    nova.instance_action.list.return_value = [
        {'action': 'live-migration', 'request_id': 'req-1',
         'start_time': '2026-01-01T00:00:00'}]
    nova.instance_action.get.return_value = {
        'action': 'live-migration', 'events': [
            dict(why, event='conductor_live_migrate_instance',
                 result='Error')]}


def migration(mid, status, kind='migration'):
    return {'id': mid, 'status': status, 'migration_type': kind,
            'instance_uuid': 'vm1', 'source_compute': SRC}


class TestJudgeMove(base.TestCase):

    def judge(self, kind, srv, migs=(), **kw):
        return cloud.judge_move(kind, SRC, srv, list(migs), **kw)[0]

    def test_kinds(self):
        self.assertEqual(cloud.COLD, cloud.normalize_kind(st.MIGRATE))
        self.assertEqual(cloud.LIVE, cloud.normalize_kind(st.LIVE_MIGRATE))
        self.assertRaises(exception.CloudError, cloud.normalize_kind,
                          st.OWN_ACTION)

    def test_cold_waits_then_confirms_then_done(self):
        busy = server(task_state='resize_migrating')
        self.assertEqual('wait', self.judge(st.MIGRATE, busy,
                                            [migration(1, 'migrating')]))
        verify = server(status='VERIFY_RESIZE', vm_state='resized',
                        host=DST)
        self.assertEqual('confirm', self.judge(st.MIGRATE, verify))
        self.assertEqual('wait', self.judge(st.MIGRATE, verify,
                                            confirmed=True))
        verdict, message = cloud.judge_move(st.MIGRATE, SRC,
                                            server(host=DST), [])
        self.assertEqual('done', verdict)
        self.assertIn(DST, message)

    def test_cold_shutoff_server_counts_as_moved(self):
        moved = server(status='SHUTOFF', vm_state='stopped', host=DST)
        self.assertEqual('done', self.judge(st.MIGRATE, moved))

    def test_live_done_only_when_settled_elsewhere(self):
        self.assertEqual('wait', self.judge(
            st.LIVE_MIGRATE, server(task_state='migrating', host=DST)))
        self.assertEqual('done', self.judge(st.LIVE_MIGRATE,
                                            server(host=DST)))
        # Not started yet: no task, no record, never seen busy.
        self.assertEqual('wait', self.judge(st.LIVE_MIGRATE, server()))

    def test_failed_migration_record(self):
        verdict, message = cloud.judge_move(
            st.LIVE_MIGRATE, SRC, server(),
            [migration(3, 'running', 'live-migration'),
             migration(4, 'error', 'live-migration')])
        self.assertEqual('failed', verdict)
        self.assertIn("migration 4 ended in status 'error'", message)

    def test_failed_record_waits_for_task_to_clear(self):
        self.assertEqual('wait', self.judge(
            st.MIGRATE, server(task_state='resize_prep'),
            [migration(4, 'error')]))

    def test_server_error_and_gone(self):
        self.assertEqual('failed', self.judge(
            st.MIGRATE, server(status='ERROR', vm_state='error')))
        self.assertEqual('failed', self.judge(st.MIGRATE, None))

    def test_back_on_source_after_being_busy(self):
        verdict, message = cloud.judge_move(st.LIVE_MIGRATE, SRC, server(),
                                            [], seen_busy=True)
        self.assertEqual('failed', verdict)
        self.assertIn('without having moved', message)

    def test_back_on_source_while_migration_under_way_waits(self):
        # Real Nova: nova-compute restarted during a cold migration clears
        # the server's resize_prep task (init_host) but leaves the record
        # 'pre-migrating'; the queued resize_instance RPC may still come.
        verdict, message = cloud.judge_move(
            st.MIGRATE, SRC, server(), [migration(5, 'pre-migrating')],
            seen_busy=True)
        self.assertEqual('wait', verdict)
        self.assertIn("migration 5 is still 'pre-migrating'", message)
        # ... until the record ends: that RPC failing puts it in 'error'.
        self.assertEqual('failed', self.judge(
            st.MIGRATE, server(), [migration(5, 'error')], seen_busy=True))
        self.assertEqual('failed', self.judge(
            st.MIGRATE, server(status='ERROR', vm_state='error'),
            [migration(5, 'pre-migrating')], seen_busy=True))


class TestTargetRefused(base.TestCase):

    def test_nova_words_for_a_target_that_cannot_take_it(self):
        for text in (
                'cold migration of server vm1: No valid host was found. No '
                'valid host found for cold migrate (HTTP 400)',
                "migration 9 ended in status 'error': No valid host was "
                "found. There are not enough hosts available.",
                'NoValidHost: No valid host was found.',
                'live migration of server vm1: Compute service of %s is '
                'unavailable at this time. (HTTP 400)' % DST,
                'Compute host %s could not be found. (HTTP 400)' % DST):
            self.assertTrue(cloud.target_refused(text, DST), text)

    def test_other_failures_are_not_the_target(self):
        for text in (
                'cold migration of server vm1: Service Unavailable '
                '(HTTP 503)',
                'Live migration of server vm1 from %s timed out after 600 '
                's' % SRC,
                # The source is down (409), not the target.
                'Service is unavailable at this time. (HTTP 409)',
                'Compute service of %s is unavailable at this time.' % SRC,
                'No valid host was found. (HTTP 500)',
                'Migration pre-check error: boom'):
            self.assertFalse(cloud.target_refused(text, DST), text)
        # Without a named target Nova chose: nothing to place again.
        self.assertFalse(cloud.target_refused('No valid host was found.',
                                              None))


class FakeVersion(object):
    min_version = '2.1'

    def __init__(self, version):
        self.version = version


class CloudTestCase(base.TestCase):
    """A Cloud whose novaclients are mocks, one per microversion."""

    server_max = '2.96'

    def setUp(self):
        super().setUp()
        self.config(group='workflow', migration_timeout=30,
                    nova_poll_interval=0.01, migration_retries=2)
        self.novas = {}
        patcher = mock.patch.object(cloud.clients, 'nova_client',
                                    side_effect=self._nova_client)
        self.nova_client = patcher.start()
        self.addCleanup(patcher.stop)
        self.cloud = cloud.Cloud(session=mock.sentinel.session)
        # Polls must not wait in unit tests: every pause returns at once.
        self.pauses = []
        self.cloud._pause = lambda s: self.pauses.append(s) or False

    def _nova_client(self, version, session, conf):
        if not isinstance(version, api_versions.APIVersion):
            version = api_versions.APIVersion(version)
        key = version.get_string()
        if key not in self.novas:
            nova = mock.Mock(name='nova-%s' % key)
            nova.api_version = version
            nova.versions.get_current.return_value = FakeVersion(
                self.server_max)
            nova.instance_action.list.return_value = []
            self.novas[key] = nova
        return self.novas[key]

    @property
    def nova(self):
        return self._nova_client(self.cloud.nova_version, None, None)


class TestMicroversions(CloudTestCase):

    def test_latest_is_negotiated_and_remembered(self):
        self.assertEqual('2.96', self.cloud.nova_version.get_string())
        self.cloud.nova_version
        self.assertEqual(1, self.novas['2.1'].versions.get_current.call_count)

    def test_explicit_version_must_be_offered(self):
        self.config(group='service_user', nova_api_version='2.60')
        self.assertEqual('2.60', self.cloud.nova_version.get_string())
        self.config(group='service_user', nova_api_version='2.97')
        other = cloud.Cloud(session=mock.sentinel.session)
        self.server_max = '2.90'
        self.novas.clear()
        err = self.assertRaises(exception.CloudError,
                                lambda: other.nova_version)
        self.assertIn('2.97', str(err))

    def test_hypervisors_pinned_to_2_87(self):
        pinned = self._nova_client('2.87', None, None)
        pinned.client.get.return_value = (None, {'hypervisors': [{
            'id': 'h1', 'hypervisor_hostname': 'node1',
            'service': {'host': 'compute1'}, 'state': 'up',
            'status': 'enabled', 'vcpus': 8, 'vcpus_used': 2,
            'memory_mb': 8192, 'memory_mb_used': 1024, 'local_gb': 100,
            'local_gb_used': 10, 'running_vms': 1}]})
        hyps = self.cloud.hypervisors()
        self.assertEqual('compute1', hyps[0]['hostname'])
        self.assertEqual(2, hyps[0]['vcpus_used'])
        self.assertEqual('hypervisor', hyps[0]['usage_source'])
        pinned.client.get.assert_called_once_with('/os-hypervisors/detail')
        self.assertFalse(self.nova.client.get.called)

    def test_hypervisors_without_usage_fields_use_flavors(self):
        self.server_max = '2.60'
        self.nova.client.get.side_effect = [
            (None, {'hypervisors': [{
                'id': 'h1', 'hypervisor_hostname': 'compute1',
                'state': 'up', 'status': 'enabled'}]}),
            (None, {'servers': [server(), server(id='vm2')]})]
        hyp = self.cloud.hypervisors()[0]
        self.assertEqual((4, 1024, 2, 2, None, 'servers'),
                         (hyp['vcpus_used'], hyp['memory_mb_used'],
                          hyp['local_gb_used'], hyp['running_vms'],
                          hyp['vcpus'], hyp['usage_source']))

    def test_service_calls_by_id_or_by_host(self):
        svc = {'id': 'uuid-1', 'host': SRC, 'binary': 'nova-compute',
               'status': 'enabled', 'state': 'up'}
        self.nova.client.get.return_value = (None, {'services': [svc]})
        self.cloud.disable_compute(SRC, 'maintenance')
        self.nova.client.get.assert_called_with(
            '/os-services?binary=nova-compute&host=%s' % SRC)
        self.nova.services.disable_log_reason.assert_called_once_with(
            'uuid-1', 'maintenance')
        self.config(group='service_user', nova_api_version='2.52')
        old = cloud.Cloud(session=mock.sentinel.session)
        old._nova().client.get.return_value = (
            None, {'services': [dict(svc, id=7)]})
        old.enable_compute(SRC)
        old._nova().services.enable.assert_called_once_with(
            SRC, 'nova-compute')

    def test_listed_service_ids_spare_a_read(self):
        # A host's nova-compute as a listing showed it: disabling and
        # enabling it need no read of the services first.
        svc = {'id': 'uuid-1', 'host': SRC, 'binary': 'nova-compute',
               'status': 'enabled', 'state': 'up', 'forced_down': False}
        self.nova.client.get.return_value = (None, {'services': [svc]})
        self.cloud.compute_services()
        self.nova.client.get.reset_mock()
        self.nova.services.disable_log_reason.return_value = dict(
            svc, status='disabled', disabled_reason='maintenance')
        self.nova.services.enable.return_value = svc
        self.cloud.disable_compute(SRC, 'maintenance')
        self.cloud.enable_compute(SRC)
        self.assertFalse(self.nova.client.get.called)
        self.nova.services.disable_log_reason.assert_called_once_with(
            'uuid-1', 'maintenance')
        self.nova.services.enable.assert_called_once_with('uuid-1')

    def test_service_registered_again_is_read_again(self):
        # The listed id is gone (the service registered again): Nova
        # answers 404; the service is read and changed by its new id.
        old = {'id': 'uuid-1', 'host': SRC, 'binary': 'nova-compute',
               'status': 'enabled', 'state': 'up', 'forced_down': False}
        new = dict(old, id='uuid-2')
        self.nova.client.get.side_effect = [
            (None, {'services': [old]}), (None, {'services': [new]})]
        self.cloud.compute_services()
        self.nova.services.disable_log_reason.side_effect = [
            nova_exc.NotFound(404),
            dict(new, status='disabled', disabled_reason='maintenance')]
        changed = self.cloud.disable_compute(SRC, 'maintenance')
        self.assertEqual(('uuid-2', 'disabled'),
                         (changed['id'], changed['status']))
        self.assertEqual(
            [mock.call('uuid-1', 'maintenance'),
             mock.call('uuid-2', 'maintenance')],
            self.nova.services.disable_log_reason.call_args_list)
        self.nova.client.get.assert_called_with(
            '/os-services?binary=nova-compute&host=%s' % SRC)

    def test_service_change_answer_is_the_service_at_2_53(self):
        # Nova answers the change with the whole service (2.53+): no
        # second read; below, the answer is partial and it is read again.
        svc = {'id': 'uuid-1', 'host': SRC, 'binary': 'nova-compute',
               'status': 'enabled', 'state': 'up', 'forced_down': False}
        self.nova.client.get.return_value = (None, {'services': [svc]})
        self.nova.services.disable_log_reason.return_value = dict(
            svc, status='disabled', disabled_reason='maintenance')
        changed = self.cloud.disable_compute(SRC, 'maintenance')
        self.assertEqual(('disabled', 'maintenance'),
                         (changed['status'], changed['disabled_reason']))
        self.assertEqual(1, self.nova.client.get.call_count)
        self.config(group='service_user', nova_api_version='2.52')
        old = cloud.Cloud(session=mock.sentinel.session)
        old._nova().client.get.return_value = (
            None, {'services': [dict(svc, id=7)]})
        old._nova().services.enable.return_value = {
            'host': SRC, 'binary': 'nova-compute', 'status': 'enabled'}
        self.assertEqual(7, old.enable_compute(SRC)['id'])
        self.assertEqual(2, old._nova().client.get.call_count)

    def test_cold_migrate_to_host_needs_2_56(self):
        self.config(group='service_user', nova_api_version='2.55')
        err = self.assertRaises(exception.CloudError,
                                cloud.Cloud(session=mock.sentinel.session)
                                .migrate, 'vm1', host=DST)
        self.assertIn('vm1', str(err))
        self.assertIn('2.56', str(err))

    def test_live_migrate_block_migration_auto(self):
        self.nova.migrations.list.return_value = []
        self.cloud.live_migrate('vm1', DST)
        self.nova.servers.live_migrate.assert_called_once_with(
            'vm1', DST, 'auto')


class TestErrors(CloudTestCase):

    def test_nova_error_names_host_and_reason(self):
        self.nova.client.get.return_value = (None, {'services': [
            {'id': 'u', 'host': SRC, 'binary': 'nova-compute'}]})
        self.nova.services.disable_log_reason.side_effect = (
            nova_exc.Conflict(409, 'Service is locked'))
        err = self.assertRaises(exception.CloudError,
                                self.cloud.disable_compute, SRC, 'x')
        self.assertIn(SRC, str(err))
        self.assertIn('Service is locked', str(err))

    def test_unknown_host(self):
        self.nova.client.get.return_value = (None, {'services': []})
        err = self.assertRaises(exception.CloudError,
                                self.cloud.enable_compute, 'nohost')
        self.assertIn('nohost', str(err))

    def test_gone_server_is_none(self):
        self.nova.servers.get.side_effect = nova_exc.NotFound(404)
        self.assertIsNone(self.cloud.server('vm1'))

    def test_server_dict(self):
        self.nova.servers.get.return_value = server(addresses={
            'net': [{'addr': '10.0.0.3', 'OS-EXT-IPS:type': 'fixed'},
                    {'addr': '172.24.4.9',
                     'OS-EXT-IPS:type': 'floating'}]})
        srv = self.cloud.server('vm1')
        self.assertTrue(srv['floating_ip'])
        self.assertEqual({'vcpus': 2, 'ram': 512, 'disk': 1,
                          'ephemeral': 0, 'swap': 0, 'name': 'm1.small'},
                         srv['flavor'])
        self.assertEqual(('p1', SRC), (srv['project_id'], srv['host']))


class TestWaitAndMove(CloudTestCase):

    def script(self, servers, migrations):
        """Each poll reads the next server state and migration list."""
        self.nova.servers.get.side_effect = servers
        self.nova.migrations.list.side_effect = migrations

    def test_cold_move_confirms_once(self):
        verify = server(status='VERIFY_RESIZE', vm_state='resized',
                        host=DST)
        self.script([verify, verify, server(host=DST)],
                    [[migration(1, 'finished')],
                     [migration(1, 'confirming')],
                     [migration(1, 'confirmed')]])
        result = self.cloud.wait_for_move('vm1', SRC, st.MIGRATE)
        self.assertEqual({'ok': True, 'host': DST}, {
            k: result[k] for k in ('ok', 'host')})
        self.nova.servers.confirm_resize.assert_called_once_with('vm1')

    def test_failure_carries_nova_reason(self):
        live_migration_failed(self.nova,
                              details='No valid host was found.')
        self.script([server()],
                    [[migration(9, 'error', 'live-migration')]])
        self.cloud._moves['vm1'] = {'kind': cloud.LIVE, 'known': set(),
                                    'request_id': None}
        result = self.cloud.wait_for_move('vm1', SRC, st.LIVE_MIGRATE)
        self.assertFalse(result['ok'])
        self.assertIsNone(result['host'])
        for text in ('vm1', SRC, "'error'", 'No valid host was found.'):
            self.assertIn(text, result['message'])

    def test_old_failed_record_is_ignored_without_marker(self):
        self.script([server(task_state='migrating'), server(host=DST)],
                    [[migration(2, 'failed', 'live-migration')],
                     [migration(2, 'failed', 'live-migration'),
                      migration(3, 'completed', 'live-migration')]])
        result = self.cloud.wait_for_move('vm1', SRC, st.LIVE_MIGRATE)
        self.assertTrue(result['ok'], result['message'])
        self.assertEqual([0.01], self.pauses)

    def test_long_moves_are_read_less_often(self):
        self.config(group='workflow', nova_poll_max_interval=5)
        waits = []
        for age in (0.0, 0.05, 30.0, 100.0):
            with mock.patch.object(cloud.time, 'monotonic',
                                   return_value=1000.0 + age):
                waits.append(self.cloud._poll_interval(1000.0, 0.01))
        # nova_poll_interval first, then a tenth of the age, at most 5 s.
        self.assertEqual([0.01, 0.01, 3.0, 5.0], waits)

    def test_busy_server_polls_skip_migration_records(self):
        # While Nova has a task under way, only the server is read; once
        # it rests on another host it is done: the records decide nothing
        # then and are not read again (only the first read, without a
        # marker, learns the records that already ended).
        busy = server(task_state='migrating')
        self.script([busy, busy, busy, server(host=DST)],
                    [[], [migration(4, 'completed', 'live-migration')]])
        result = self.cloud.wait_for_move('vm1', SRC, st.LIVE_MIGRATE)
        self.assertTrue(result['ok'], result['message'])
        self.assertEqual(4, self.nova.servers.get.call_count)
        self.assertEqual(1, self.nova.migrations.list.call_count)

    def test_settled_on_source_reads_the_records(self):
        # Back on the source: the records decide (here: still running,
        # so it waits; then failed).
        busy = server(task_state='migrating')
        self.script([busy, server(), server()],
                    [[migration(6, 'running', 'live-migration')],
                     [migration(6, 'failed', 'live-migration')]])
        self.cloud._moves['vm1'] = {'kind': cloud.LIVE, 'known': set(),
                                    'request_id': None}
        result = self.cloud.wait_for_move('vm1', SRC, st.LIVE_MIGRATE)
        self.assertFalse(result['ok'])
        self.assertIn("'failed'", result['message'])
        self.assertEqual(2, self.nova.migrations.list.call_count)

    def test_move_with_known_source_reads_no_server_first(self):
        # The caller's model knows the source: the request goes out
        # without a server read before it (the wait reads the server).
        self.script([server(host=DST)], [[], []])
        result = self.cloud.move('vm1', st.LIVE_MIGRATE, host=DST,
                                 source=SRC)
        self.assertTrue(result['ok'], result['message'])
        self.assertEqual(1, self.nova.servers.get.call_count)
        self.nova.servers.live_migrate.assert_called_once_with(
            'vm1', DST, 'auto')

    def _nova_clock(self, date='Thu, 01 Jan 2026 12:00:10 GMT'):
        """Nova's clock learned from the Date of a listing's answer, as
        if ours read 12:00:00 then."""
        answer = mock.Mock(headers={'Date': date})
        self.nova.client.get.return_value = (answer, {'services': []})
        with mock.patch.object(cloud.datetime, 'datetime',
                               wraps=cloud.datetime.datetime) as dt:
            dt.utcnow.return_value = cloud.datetime.datetime(2026, 1, 1,
                                                             12, 0, 0)
            self.cloud.compute_services()
        self.assertEqual(10.0, self.cloud._clock_offset)

    def test_move_with_nova_clock_reads_no_records_before_it(self):
        # Nova's clock is known: the move's records are those created
        # from just before the request by that clock; none is read
        # before the request, nor while the server is busy or once it
        # rests elsewhere.
        self._nova_clock()
        busy = server(task_state='migrating')
        self.script([busy, server(host=DST)], [])
        result = self.cloud.move('vm1', st.LIVE_MIGRATE, host=DST,
                                 source=SRC)
        self.assertTrue(result['ok'], result['message'])
        self.assertFalse(self.nova.migrations.list.called)

    def test_nova_clock_tells_this_moves_records(self):
        # Refused at once (back on the source, never seen busy): the
        # record created after the request says it failed; an older
        # failed record of the server is not this move's.
        self._nova_clock()
        since = self.cloud._nova_now()
        old = dict(migration(7, 'error', 'live-migration'),
                   created_at=str(since - cloud.datetime.timedelta(
                       seconds=60)))
        fresh = dict(migration(8, 'error', 'live-migration'),
                     created_at=str(since))
        self.script([server()], [[old, fresh]])
        self.cloud.live_migrate('vm1', DST)
        self.assertFalse(self.nova.migrations.list.called)
        result = self.cloud.wait_for_move('vm1', SRC, st.LIVE_MIGRATE)
        self.assertFalse(result['ok'])
        self.assertIn('migration 8', result['message'])

    def test_nova_clock_old_record_alone_does_not_fail(self):
        # Only an older failed record and a server at rest on the source
        # never seen busy: nothing says this move ended; it waits.
        self._nova_clock()
        since = self.cloud._nova_now()
        old = dict(migration(7, 'error', 'live-migration'),
                   created_at=str(since - cloud.datetime.timedelta(
                       seconds=60)))
        self.script([server()] * 5, [[old]] * 5)
        self.cloud.live_migrate('vm1', DST)
        result = self.cloud.wait_for_move('vm1', SRC, st.LIVE_MIGRATE,
                                          timeout=0)
        self.assertFalse(result['ok'])
        self.assertIn('timed out', result['message'])

    def test_failed_record_after_busy_polls_still_fails(self):
        busy = server(task_state='migrating')
        # The move is known (its marker): the records are read only once
        # the server settles.
        self.script([busy, busy, server()],
                    [[migration(5, 'error', 'live-migration')]])
        self.cloud._moves['vm1'] = {'kind': cloud.LIVE, 'known': set(),
                                    'request_id': None}
        result = self.cloud.wait_for_move('vm1', SRC, st.LIVE_MIGRATE)
        self.assertFalse(result['ok'])
        self.assertIn("'error'", result['message'])

    def test_timeout(self):
        self.script([server(task_state='migrating')], [[]])
        result = self.cloud.wait_for_move('vm1', SRC, st.LIVE_MIGRATE,
                                          timeout=0)
        self.assertFalse(result['ok'])
        self.assertIn('timed out', result['message'])
        self.assertIn('task_state migrating', result['message'])

    def test_read_errors_are_bounded(self):
        self.nova.servers.get.side_effect = nova_exc.ClientException(
            503, 'unavailable')
        result = self.cloud.wait_for_move('vm1', SRC, st.MIGRATE)
        self.assertFalse(result['ok'])
        self.assertIn('unavailable', result['message'])
        self.assertEqual(cloud.MAX_READ_ERRORS - 1, len(self.pauses))

    def test_move_retries_then_succeeds(self):
        # Attempt 1: refused by the API; attempt 2: migrates.
        self.nova.servers.live_migrate.side_effect = [
            nova_exc.Conflict(409, 'busy'), None]
        self.script([server(), server(),  # attempt 1: read, after refusal
                     server(), server(host=DST)],  # attempt 2: read, poll
                    [[], [], [migration(5, 'completed',
                                        'live-migration')]])
        result = self.cloud.move('vm1', st.LIVE_MIGRATE)
        self.assertTrue(result['ok'], result['message'])
        self.assertEqual(2, result['attempts'])
        self.assertEqual(DST, result['host'])

    def test_move_retry_waits_for_a_server_in_another_task(self):
        # Attempt 1 is refused: the server waits for the confirmation of
        # a resize someone else started. The retry waits until it settled
        # (two reads) instead of spending its attempts at once.
        self.nova.servers.live_migrate.side_effect = [
            nova_exc.Conflict(409, "Cannot 'migrate' instance while it is "
                                   "in vm_state resized"), None]
        resized = server(status='VERIFY_RESIZE', vm_state='resized')
        self.script([server(), resized,     # attempt 1: read, after refusal
                     resized, server(),     # settling
                     server(), server(host=DST)],  # attempt 2: read, poll
                    [[], [], [migration(5, 'completed',
                                        'live-migration')]])
        result = self.cloud.move('vm1', st.LIVE_MIGRATE)
        self.assertTrue(result['ok'], result['message'])
        self.assertEqual(2, result['attempts'])
        self.assertEqual(6, self.nova.servers.get.call_count)

    def test_move_gives_up_on_a_server_that_does_not_settle(self):
        # Each look at the clock is 100 s later: the wait for the server
        # ends at migration_timeout (600 s), and no attempt follows.
        self.useFixture(fixtures.MockPatch(
            'fenix.common.cloud.time.monotonic',
            side_effect=itertools.count(0, 100)))
        self.nova.servers.live_migrate.side_effect = nova_exc.Conflict(
            409, 'task_state migrating')
        self.nova.servers.get.return_value = server(task_state='migrating')
        self.nova.migrations.list.return_value = []
        result = self.cloud.move('vm1', st.LIVE_MIGRATE)
        self.assertFalse(result['ok'])
        self.assertEqual(1, result['attempts'])
        self.assertEqual(1, self.nova.servers.live_migrate.call_count)

    def test_move_with_known_source_reads_the_server_on_a_retry(self):
        # Attempt 1 (no read before it) refused; attempt 2 reads it first.
        self.nova.servers.live_migrate.side_effect = [
            nova_exc.Conflict(409, 'busy'), None]
        self.script([server(),                      # after the refusal
                     server(), server(host=DST)],   # attempt 2: read, poll
                    [[], []])
        result = self.cloud.move('vm1', st.LIVE_MIGRATE, host=DST,
                                 source=SRC)
        self.assertTrue(result['ok'], result['message'])
        self.assertEqual(2, result['attempts'])
        self.assertEqual(3, self.nova.servers.get.call_count)

    def test_move_gives_up_after_retries(self):
        self.config(group='workflow', migration_retries=1)
        self.nova.servers.migrate.side_effect = nova_exc.BadRequest(
            400, 'No valid host')
        self.nova.servers.get.return_value = server()
        self.nova.migrations.list.return_value = []
        result = self.cloud.move('vm1', st.MIGRATE)
        self.assertFalse(result['ok'])
        self.assertEqual(2, result['attempts'])
        self.assertIn('after 2 attempts', result['message'])
        self.assertIn('No valid host', result['message'])

    def test_cold_move_refused_by_its_target_is_asked_once(self):
        # Nova's 400 to a cold migration towards a disabled or full host:
        # the same request would be refused again; the caller re-places.
        self.nova.servers.migrate.side_effect = nova_exc.BadRequest(
            400, 'No valid host was found. No valid host found for cold '
                 'migrate')
        self.nova.servers.get.return_value = server()
        self.nova.migrations.list.return_value = []
        result = self.cloud.move('vm1', st.MIGRATE, host=DST, source=SRC)
        self.assertFalse(result['ok'])
        self.assertTrue(result['target_refused'])
        self.assertEqual(1, result['attempts'])
        self.assertEqual(1, self.nova.servers.migrate.call_count)
        self.assertIn('No valid host', result['message'])

    def test_peer_on_the_target_refuses_it_before_nova_is_asked(self):
        # Another session moved the peer of its (Fenix) anti-affinity
        # group to the target since the caller's model read it: Nova,
        # which does not know that group, is not asked.
        peers = {'vm2': server(id='vm2', host=SRC),
                 'vm3': server(id='vm3', host=DST)}
        self.nova.servers.get.side_effect = lambda sid: peers[sid]
        result = self.cloud.move('vm1', st.MIGRATE, host=DST, source=SRC,
                                 apart_from=('vm2', 'vm3'))
        self.assertFalse(result['ok'])
        self.assertTrue(result['target_refused'])
        self.assertEqual('vm3', result['peer_on_target'])
        self.assertEqual(0, result['attempts'])
        self.assertIn('vm3 of its anti-affinity group is on %s' % DST,
                      result['message'])
        self.nova.servers.migrate.assert_not_called()

    def test_peers_elsewhere_let_the_move_go(self):
        peers = {'vm2': server(id='vm2', host='elsewhere'),
                 'vm1': server(host=DST)}
        self.nova.servers.get.side_effect = lambda sid: peers[sid]
        self.nova.migrations.list.side_effect = [
            [], [migration(1, 'confirmed')]]
        result = self.cloud.move('vm1', st.MIGRATE, host=DST, source=SRC,
                                 apart_from=('vm2',))
        self.assertTrue(result['ok'], result)
        self.assertEqual(1, self.nova.servers.migrate.call_count)

    def test_async_live_move_refused_by_its_target_is_asked_once(self):
        # Live migration at >= 2.25 is accepted (202); the conductor's
        # scheduler refuses the disabled target: the migration record
        # ends in error, the server rests on its source, the instance
        # action says why.
        live_migration_failed(
            self.nova,
            traceback='Traceback...\nnova.exception.NoValidHost: '
                      "No valid host was found. (filters: "
                      "{'ComputeFilter': 1})")
        self.nova.servers.get.return_value = server()
        # None before the request, then the move's record, in error.
        self.nova.migrations.list.side_effect = itertools.chain(
            [[]], itertools.repeat([migration(9, 'error',
                                              'live-migration')]))
        result = self.cloud.move('vm1', st.LIVE_MIGRATE, host=DST,
                                 source=SRC)
        self.assertFalse(result['ok'])
        self.assertTrue(result['target_refused'])
        self.assertEqual(1, self.nova.servers.live_migrate.call_count)

    def test_move_to_a_down_target_is_asked_once(self):
        self.nova.servers.live_migrate.side_effect = nova_exc.BadRequest(
            400, 'Compute service of %s is unavailable at this time.' % DST)
        self.nova.servers.get.return_value = server()
        self.nova.migrations.list.return_value = []
        result = self.cloud.move('vm1', st.LIVE_MIGRATE, host=DST,
                                 source=SRC)
        self.assertTrue(result['target_refused'])
        self.assertEqual(1, self.nova.servers.live_migrate.call_count)

    def test_transient_error_is_retried_on_the_same_target(self):
        # A 5xx (Nova or a proxy blinked) says nothing of the target.
        self.nova.servers.migrate.side_effect = [
            nova_exc.ClientException(503, 'Service Unavailable'), None]
        verify = server(status='VERIFY_RESIZE', vm_state='resized',
                        host=DST)
        self.script([server(),                     # after the 503
                     server(), verify, server(host=DST)],
                    [[], [], [migration(1, 'finished')],
                     [migration(1, 'confirmed')]])
        result = self.cloud.move('vm1', st.MIGRATE, host=DST, source=SRC)
        self.assertTrue(result['ok'], result['message'])
        self.assertEqual(2, result['attempts'])
        self.assertFalse(result.get('target_refused'))
        self.assertEqual([mock.call('vm1', host=DST)] * 2,
                         self.nova.servers.migrate.call_args_list)

    def test_move_does_not_retry_a_server_in_error(self):
        self.script([server(), server(status='ERROR', vm_state='error'),
                     server(status='ERROR', vm_state='error')],
                    [[], [migration(1, 'error')]])
        result = self.cloud.move('vm1', st.MIGRATE)
        self.assertFalse(result['ok'])
        self.assertEqual(1, result['attempts'])
        self.assertIn('ERROR', result['message'])

    def test_move_says_server_went_to_error_after_its_record(self):
        # Nova marks the migration 'error' a moment before the server: the
        # verdict comes from the record; the message must still say ERROR.
        self.script([server(), server(task_state='resize_prep'),
                     server(),
                     server(status='ERROR', vm_state='error',
                            fault={'message': 'Conflict updating instance'})],
                    # Before the move, then once the server settled (not
                    # while it is busy).
                    [[], [migration(1, 'error')]])
        result = self.cloud.move('vm1', st.MIGRATE)
        self.assertFalse(result['ok'])
        self.assertEqual(1, result['attempts'])
        self.assertIn("migration 1 ended in status 'error'",
                      result['message'])
        self.assertIn('the server is now in ERROR (Conflict updating '
                      'instance)', result['message'])
        self.nova.servers.migrate.assert_called_once_with('vm1', host=None)

    def test_moves_are_watched_with_one_listing(self):
        # The first read is the server's own; it gives Nova's clock, and
        # from then on one listing of the servers changed since shows
        # every move in flight (no more reads of this server).
        self.config(group='workflow', nova_poll_interval=0.01)
        stamp = '2026-12-05T10:00:07Z'
        first = server(task_state='migrating', updated=stamp)
        self.nova.servers.get.side_effect = [first]
        self.nova.migrations.list.side_effect = [
            [], [migration(7, 'completed', 'live-migration')]]
        self.nova.client.get.return_value = (None, {'servers': [
            server(host=DST, updated='2026-12-05T10:00:08Z')]})
        self.cloud._moves['vm1'] = {'kind': cloud.LIVE, 'known': set(),
                                    'request_id': None}
        result = self.cloud.wait_for_move('vm1', SRC, st.LIVE_MIGRATE)
        self.assertTrue(result['ok'], result['message'])
        self.assertEqual(DST, result['host'])
        self.assertEqual(1, self.nova.servers.get.call_count)
        url = self.nova.client.get.call_args_list[0][0][0]
        self.assertTrue(url.startswith('/servers/detail?'), url)
        # Two seconds before the newest change Nova showed.
        self.assertIn('changes-since=2026-12-05T10%3A00%3A05Z', url)
        self.assertIn('all_tenants=True', url)

    def test_listings_reach_back_for_late_commits_once_a_second(self):
        # Each listing asks for what changed since the newest second Nova
        # showed; at most once every WIDE_LISTING_EVERY seconds one
        # reaches CHANGES_SINCE_MARGIN further back (a change committed
        # late with an older stamp), the first one included.
        watch = cloud._ServerWatch(self.cloud)
        since = datetime.datetime(2026, 12, 5, 10, 0, 7)
        wide = since - datetime.timedelta(seconds=cloud.CHANGES_SINCE_MARGIN)
        every = cloud.WIDE_LISTING_EVERY
        self.assertEqual(wide, watch._marker(since, 100.0))
        self.assertEqual(since, watch._marker(since, 100.05))
        self.assertEqual(since, watch._marker(since, 100.0 + every * 0.9))
        self.assertEqual(wide, watch._marker(since, 100.0 + every))
        self.assertEqual(since, watch._marker(since, 100.0 + every * 1.5))
        self.assertEqual(wide, watch._marker(since, 100.0 + every * 2.5))

    def test_wait_host_empty(self):
        self.nova.client.get.side_effect = [
            (None, {'servers': [server()]}), (None, {'servers': []})]
        self.assertTrue(self.cloud.wait_host_empty(SRC, timeout=30))
        self.assertEqual(
            '/servers/detail?all_tenants=True&host=compute1',
            self.nova.client.get.call_args[0][0])
        self.assertEqual([0.01], self.pauses)
        self.nova.client.get.side_effect = [(None, {'servers': [server()]})]
        self.assertFalse(self.cloud.wait_host_empty(SRC, timeout=0))

    def test_lists_follow_next_links(self):
        link = ('http://nova/v2.1/servers/detail?all_tenants=True&limit=1'
                '&marker=vm1')
        self.nova.client.get.side_effect = [
            (None, {'servers': [server()],
                    'servers_links': [{'rel': 'next', 'href': link}]}),
            (None, {'servers': [server(id='vm2', host=DST)]})]
        self.assertEqual(['vm1', 'vm2'],
                         [s['id'] for s in self.cloud.servers()])
        self.assertEqual(
            '/servers/detail?all_tenants=True&limit=1&marker=vm1',
            self.nova.client.get.call_args[0][0])


class TestManagers(CloudTestCase):

    def setUp(self):
        super().setUp()
        self.aodh = mock.Mock()
        for name, value in (('has_service', True),
                            ('aodh_client', self.aodh)):
            patcher = mock.patch.object(cloud.clients, name,
                                        return_value=value)
            patcher.start()
            self.addCleanup(patcher.stop)

    @staticmethod
    def alarm(aid, project, event_type, enabled=True, type_='event'):
        return {'alarm_id': aid, 'project_id': project, 'type': type_,
                'enabled': enabled,
                'event_rule': {'event_type': event_type, 'query': []}}

    def test_matching_alarms(self):
        patcher = mock.patch.object(cloud, 'ALARM_PAGE_SIZE', 5)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.aodh.alarm.list.side_effect = [
            [self.alarm('a1', 'p1', 'maintenance.scheduled'),
             self.alarm('a2', 'p2', 'maintenance.*'),
             self.alarm('a3', 'p3', 'compute.instance.*'),
             self.alarm('a4', 'p4', 'maintenance.planned', enabled=False),
             self.alarm('a5', 'p5', 'maintenance.planned',
                        type_='threshold')],
            [self.alarm('a6', 'p6', '*')]]
        self.assertEqual({'p1', 'p2', 'p6'},
                         self.cloud.projects_with_manager())
        first = self.aodh.alarm.list.call_args_list[0]
        self.assertEqual({'all_projects': 'true', 'type': 'event'},
                         first.kwargs['filters'])
        self.assertEqual(5, first.kwargs['limit'])
        self.assertEqual(2, self.aodh.alarm.list.call_count)
        self.assertEqual('a5', self.aodh.alarm.list.call_args.kwargs[
            'marker'])
        self.aodh.alarm.list.side_effect = [
            [self.alarm('a1', 'p1', 'maintenance.scheduled')]]
        self.assertEqual(set(), self.cloud.projects_with_manager(
            ['maintenance.planned']))

    def test_no_aodh_means_no_managers(self):
        cloud.clients.has_service.return_value = False
        with self.assertLogs(cloud.LOG, 'WARNING'):
            self.assertEqual(set(), self.cloud.projects_with_manager())
        self.assertFalse(self.aodh.alarm.list.called)


class TestNovaClient(base.TestCase):

    def test_no_completion_cache(self):
        # A service keeps no bash-completion cache: novaclient would open a
        # file per call under one lock shared by every thread.
        from keystoneauth1 import session as ks_session
        from novaclient import base as nova_base

        from fenix.common import clients
        client = clients.nova_client('2.60', session=ks_session.Session())
        with mock.patch.object(nova_base.os, 'makedirs') as makedirs:
            for manager in (client.servers, client.migrations,
                            client.services):
                with manager.completion_cache('uuid', object, 'w'):
                    pass
        makedirs.assert_not_called()
