# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A session that really upgrades every nova-compute (issue 13, item 4).

The seed-004 scenario (the sample VNFM as vnfm1, its constraints, events
through Ceilometer and AODH, the ``default`` workflow) with a ``host``
action plug-in: the ``ansible`` plug-in plays
``tools/integration/playbooks/upgrade-nova-compute.yml`` over the local
connection on each compute Fenix emptied and disabled. The play stops
that compute's nova-compute (the PID the stack recorded), gives its
resource provider the trait of the new version through a provider config
file, starts it again and waits until Nova reports it up and Placement
shows the trait; it records what it saw and when in a marker per host.

What the test holds Fenix and the play to:

* every compute was upgraded exactly once (one marker entry, one plug-in
  run, attempt 1, another nova-compute PID), and each reports the trait;
* each was empty and disabled when the play read it from Nova;
* after the first upgrade began, every server landed (migrated to, or was
  built on) only on a compute whose upgrade was over (the seed's promise:
  instances move to an already-upgraded host), by Nova's own records;
* a dry run of the same session first plays it in check mode on every
  compute (``plugin_checks`` of the plan all ok) and changes nothing;
* the session ends MAINTENANCE_DONE with no application violation, and
  what ``test_seed004`` holds a seed-004 session of the ``default``
  workflow to (servers really migrated, the seed-004 events delivered
  through AODH): this is the tier's ``default`` seed-004 run (one session
  less keeps the tier within its time).

The per-host and total times are written to
``$FENIX_INTEGRATION_DIR/upgrade-figures.json`` (run-tests.sh prints
them).
"""
import datetime
import json
import os
import tempfile
import uuid

from fenix.tests.integration import base
from fenix.tests.integration import test_seed004 as seed

PLAYBOOKS = os.path.join(base.REPO, 'tools', 'integration', 'playbooks')
PLAYBOOK = 'upgrade-nova-compute.yml'
# Nova keeps its timestamps to the second: a move it records at 10:00:05
# may have been asked for at 10:00:05.9.
NOVA_RESOLUTION = datetime.timedelta(seconds=1)
FIGURES = os.path.join(base.DIR, 'upgrade-figures.json')


def overrides():
    values = seed.workflow_overrides()
    values['action_plugins'] = {'playbook_directories': PLAYBOOKS}
    return values


class TestComputeUpgrade(seed.Seed004TestCase):

    fenix_overrides = overrides()

    def upgrade_action(self, markers, timeout=240):
        return {'plugin': 'ansible', 'type': 'host',
                'metadata': {
                    'playbook': PLAYBOOK, 'connection': 'local',
                    'timeout': timeout,
                    'extra_vars': {
                        'stack_dir': self.cloud.data.get('dir', base.DIR),
                        'stack_sh': self.cloud.data.get('stack',
                                                        base.STACK),
                        'upgrade_marker_dir': markers,
                        'upgrade_up_timeout': 120}}}

    def markers(self, directory):
        out = {}
        for host in self.cloud.data['computes']:
            path = os.path.join(directory, '%s.json' % host)
            if os.path.exists(path):
                with open(path) as f:
                    out[host] = json.load(f)
            else:
                out[host] = []
        return out

    def traits(self, host):
        sess = self.cloud.session('admin')
        url = self.cloud.data['catalog']['placement']
        headers = {'OpenStack-API-Version': 'placement 1.6'}
        rps = sess.get('%s/resource_providers?name=%s' % (url, host),
                       headers=headers).json()['resource_providers']
        return sess.get('%s/resource_providers/%s/traits' % (
            url, rps[0]['uuid']), headers=headers).json()['traits']

    def landings(self, since):
        """(when, server, host) of every server that Nova placed on a
        host at or after ``since``: its migrations (the destination) and
        its build (the first source, else where it is)."""
        migrations = self.cloud.migrations()
        first_source = {}
        out = []
        for m in sorted(migrations, key=lambda m: m.created_at):
            first_source.setdefault(m.instance_uuid, m.source_compute)
            when = base.parse_time(m.created_at)
            if when >= since - NOVA_RESOLUTION and m.dest_compute:
                out.append((when, m.instance_uuid, m.dest_compute,
                            'migration %s (%s)' % (m.id, m.status)))
        nova = self.cloud.nova()
        for s in nova.servers.list(search_opts={'all_tenants': True}):
            when = base.parse_time(s.created)
            if when >= since - NOVA_RESOLUTION:
                host = first_source.get(s.id) or getattr(
                    s, 'OS-EXT-SRV-ATTR:host')
                out.append((when, s.id, host, 'build'))
        return out

    def compute_pids(self):
        """{host: the nova-compute PID the stack recorded}."""
        with open(os.path.join(self.cloud.data.get('dir', base.DIR), 'run',
                               'pids')) as f:
            rows = [line.split() for line in f if line.strip()]
        return {name[len('nova-'):]: pid for pid, name in rows
                if name.startswith('nova-compute')}

    def dry_run(self, version, trait, markers_dir, pids):
        """A dry run of the same session plays the upgrade in check mode
        on every compute and changes nothing."""
        admin = self.admin()
        body = seed.admin_cmd.create_body(
            hosts=[], workflow=self.workflow, in_seconds=5,
            metadata={'openstack_version': version},
            actions=[self.upgrade_action(markers_dir)])
        body['dry_run'] = True
        sid = admin.create_session(body)['session_id']
        result = seed.progress.follow(admin, sid, interval=1.0, timeout=300)
        detail = result.detail or {}
        checks = (detail.get('plan') or {}).get('dry_run', {}).get(
            'plugin_checks')
        self.addDetail('dry-run-checks',
                       base.testtools.content.json_content(checks))
        self.assertEqual(seed.DONE, seed.progress.state_of(detail))
        self.assertEqual(
            sorted((h, True, True) for h in self.cloud.data['computes']),
            sorted((c['host'], c['checked'], c['ok']) for c in checks))
        runs = detail.get('action_plugin_runs') or ()
        self.assertEqual([True] * len(runs),
                         [r['result']['check'] for r in runs])
        self.assertTrue(runs)
        # Nothing changed: no marker, the same processes, no trait, every
        # compute enabled.
        self.assertEqual([], os.listdir(markers_dir))
        self.assertEqual(pids, self.compute_pids())
        for host in self.cloud.data['computes']:
            self.assertNotIn(trait, self.traits(host))
        self.assertEqual([], [s.host for s in self.cloud.nova().services.list(
            binary='nova-compute') if s.status != 'enabled'])

    def test_every_compute_upgraded_once_while_empty(self):
        computes = sorted(self.cloud.data['computes'])
        markers_dir = tempfile.mkdtemp(prefix='markers-', dir=self.workdir)
        version = 'it-%s' % uuid.uuid4().hex[:8]
        trait = 'CUSTOM_OPENSTACK_' + version.upper().replace('-', '_')
        for host in computes:
            self.assertNotIn(trait, self.traits(host))
        vnfm = self.start_vnfm()
        self.assertEqual(6, len(vnfm.servers()))
        pids = self.compute_pids()
        self.dry_run(version, trait, markers_dir, pids)
        sid, summary = self.run_session(
            vnfm, metadata={'openstack_version': version},
            actions=[self.upgrade_action(markers_dir)])
        markers = self.markers(markers_dir)
        self.addDetail('upgrade-markers',
                       base.testtools.content.json_content(markers))
        detail = self.admin().get_session_detail(sid)
        runs = [r for r in detail.get('action_plugin_runs') or ()
                if r['plugin'] == 'ansible']
        self.addDetail('plugin-runs', base.testtools.content.json_content(
            [{k: r.get(k) for k in ('hostname', 'type', 'state', 'attempt',
                                    'message')} for r in runs]))
        # The seed-004 session of the default workflow (this class is
        # also the tier's plain seed-004 run: test_seed004): Nova's own
        # record shows the servers really migrated, and the project events
        # of the seed-004 path reached the VNFM through AODH.
        status = self.check_outcome(vnfm, summary)
        self.assertTrue(self.nova_migrated(vnfm), 'Nova shows no migration')
        self.assert_seed004_events(status, sid)

        # Exactly once each: one marker entry, one run of one attempt,
        # another nova-compute process; Nova and Placement see it.
        self.assertEqual({h: 1 for h in computes},
                         {h: len(m) for h, m in markers.items()})
        self.assertEqual(
            sorted((h, 'DONE', 1) for h in computes),
            sorted((r['hostname'], r['state'], r['attempt'])
                   for r in runs))
        for run in runs:
            self.assertGreater(run['result']['changed'], 0, run)
        entries = {h: m[0] for h, m in markers.items()}
        for host, entry in entries.items():
            self.assertEqual((version, trait, sid),
                             (entry['version'], entry['trait'],
                              entry['session_id']), entry)
            self.assertNotEqual(entry['old_pid'], entry['new_pid'], entry)
            self.assertIn(trait, entry['traits'])
            self.assertIn(trait, self.traits(host))
            self.assertEqual('up', self.cloud.compute_service(host).state)
            # Empty and disabled when the play looked (it refuses
            # otherwise, and the run would have failed).
            self.assertEqual(('disabled', []),
                             (entry['status_before'],
                              entry['servers_before']), entry)

        # The computes were upgraded one after the other, and from the
        # first upgrade on, servers landed only on upgraded computes.
        times = {h: {k: base.parse_time(e[k]) for k in
                     ('began_at', 'stopped_at', 'started_at', 'up_at')}
                 for h, e in entries.items()}
        order = sorted(computes, key=lambda h: times[h]['began_at'])
        for before, after in zip(order, order[1:]):
            self.assertLess(times[before]['up_at'],
                            times[after]['began_at'])
        first = times[order[0]]['began_at']
        landings = self.landings(first)
        self.addDetail('landings', base.testtools.content.json_content(
            [(str(w), s, h, what) for w, s, h, what in landings]))
        wrong = [(str(when), server, host, what)
                 for when, server, host, what in landings
                 if host not in times or
                 when + NOVA_RESOLUTION <= times[host]['up_at']]
        self.assertEqual([], wrong)
        # Servers were moved after the first upgrade (else the check
        # above proved nothing).
        self.assertTrue(landings)

        figures = {
            'session_id': sid, 'version': version,
            'order': order,
            'per_host_seconds': {
                h: round((t['up_at'] - t['began_at']).total_seconds(), 1)
                for h, t in times.items()},
            'per_host_restart_seconds': {
                h: round((t['up_at'] - t['stopped_at']).total_seconds(), 1)
                for h, t in times.items()},
            'plugin_run_seconds': {
                r['hostname']: r['result'].get('seconds') for r in runs},
            'upgrades_total_seconds': round(sum(
                (t['up_at'] - t['began_at']).total_seconds()
                for t in times.values()), 1),
            'first_to_last_seconds': round(
                (times[order[-1]]['up_at'] - first).total_seconds(), 1),
            'session_seconds': summary.get('session_duration'),
            'landings_after_first_upgrade': len(landings),
        }
        self.addDetail('upgrade-figures',
                       base.testtools.content.json_content(figures))
        with open(FIGURES, 'w') as f:
            json.dump(figures, f, indent=1, sort_keys=True)
