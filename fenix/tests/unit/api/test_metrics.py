# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""GET /metrics: the engine's figures in the Prometheus text format,
behind the policy or an allow-list of source addresses."""
from prometheus_client.parser import text_string_to_metric_families

from fenix.api import app as api_app
from fenix.api import metrics
from fenix.common import exception
from fenix.tests.unit.api import base


def from_address(test, address, headers=None, status=None):
    """GET /metrics from ``address``."""
    resp = test.app.get('/metrics', headers=dict(headers or {}),
                        extra_environ={'REMOTE_ADDR': address},
                        expect_errors=True)
    if status is not None:
        test.assertEqual(status, resp.status_int, resp.text)
    return resp


def samples(text):
    """{(sample name, sorted label items): value}."""
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


class TestMetrics(base.APITestCase):

    def scrape(self, headers=base.ADMIN, status=200, **kwargs):
        return self.request('GET', '/metrics', headers=headers,
                            status=status, **kwargs)

    def test_figures_rendered(self):
        resp = self.scrape()
        self.assertTrue(resp.content_type.startswith('text/plain'),
                        resp.content_type)
        found = samples(resp.text)
        self.assertEqual(1, found[('fenix_sessions',
                                   (('state', 'MAINTENANCE'),))])
        self.assertEqual(2, found[('fenix_sessions',
                                   (('state', 'MAINTENANCE_DONE'),))])
        self.assertEqual(3, found[('fenix_hosts',
                                   (('state', 'MAINTAINED'),))])
        self.assertEqual(4, found[('fenix_migrations_started_total', ())])
        self.assertEqual(3, found[('fenix_migrations_done_total', ())])
        self.assertEqual(1, found[('fenix_migrations_failed_total', ())])
        self.assertEqual(2, found[('fenix_migration_duration_seconds_bucket',
                                   (('le', '10.0'),))])
        self.assertEqual(3, found[('fenix_migration_duration_seconds_count',
                                   ())])
        self.assertEqual(42.5, found[('fenix_migration_duration_seconds_sum',
                                      ())])
        self.assertEqual(2, found[('fenix_reply_latency_seconds_count',
                                   (('project_id', 'p1'),))])
        self.assertEqual(1, found[('fenix_reply_latency_seconds_bucket',
                                   (('le', '5.0'), ('project_id', 'p1')))])
        planned = (('event_type', 'maintenance.planned'),)
        self.assertEqual(5, found[('fenix_notifications_sent_total',
                                   planned)])
        self.assertEqual(2, found[('fenix_notifications_failed_total',
                                   planned)])
        self.assertEqual(1, found[('fenix_notifications_queued', planned)])
        self.assertEqual(3.5, found[('fenix_engine_heartbeat_age_seconds',
                                     (('engine', 'engine-a'),))])
        self.assertEqual('get_metrics', self.engine.calls[-1][0])

    def test_admin_only_by_default(self):
        for name in ('system_reader', 'owner_member', 'service', 'no_role'):
            resp = self.scrape(headers=base.PERSONAS[name], status=403)
            self.assertIn('fenix:metrics:get', resp.json['error']['message'])
        self.assertNotIn('get_metrics', [c[0] for c in self.engine.calls])

    def test_engine_unreachable_is_503(self):
        self.engine.fail_with = exception.EngineUnavailable(reason='down')
        resp = self.scrape(status=503)
        self.assertIn('Retry-After', resp.headers)

    def test_other_methods_refused(self):
        resp = self.request('POST', '/metrics', body={}, headers=base.ADMIN,
                            status=405)
        self.assertEqual('GET, HEAD', resp.headers['Allow'])

    def test_render_of_no_rows(self):
        text = metrics.render({
            'sessions': {}, 'hosts': {},
            'migrations': {'started': 0, 'done': 0, 'failed': 0,
                           'duration': {'buckets': [['+Inf', 0]],
                                        'count': 0, 'sum': 0.0}},
            'reply_latency': {}, 'notifications': {}, 'engines': {}})
        found = samples(text.decode())
        self.assertEqual(0, found[('fenix_migrations_started_total', ())])


class TestMetricsAllowList(base.APITestCase):

    def configure(self):
        self.config(group='api', metrics_allowed_source_ranges=[
            '192.0.2.0/24', '2001:db8::/64'])

    def test_listed_address_needs_no_token_nor_role(self):
        for address in ('192.0.2.7', '2001:db8::5'):
            resp = from_address(self, address, base.NO_ROLE, 200)
            self.assertIn('fenix_sessions', resp.text)

    def test_other_address_goes_through_the_policy(self):
        from_address(self, '198.51.100.1', base.NO_ROLE, 403)
        from_address(self, '198.51.100.1', base.ADMIN, 200)

    def test_bad_range_refused_at_start(self):
        self.config(group='api', metrics_allowed_source_ranges=['nonsense'])
        e = self.assertRaises(ValueError, api_app.setup_app,
                              engine_api=self.engine,
                              auth_strategy='noauth')
        self.assertIn('nonsense', str(e))


class TestMetricsKeystone(base.KeystoneAPITestCase):
    """With keystone authentication, /metrics needs a token allowed by the
    policy, unless it comes from an allowed address."""

    def configure(self):
        super().configure()
        self.config(group='api',
                    metrics_allowed_source_ranges=['127.0.0.0/8'])

    def scrape(self, status, token=None, address='198.51.100.1'):
        headers = {'X-Auth-Token': token} if token else {}
        return from_address(self, address, headers, status)

    def test_token_or_allowed_address(self):
        self.assertError(self.scrape(401), 401)
        # Forged identity headers are no token.
        self.assertError(from_address(
            self, '198.51.100.1', {'X-Roles': 'admin',
                                   'X-Identity-Status': 'Confirmed'}), 401)
        self.assertError(self.scrape(403, 'member-token'), 403,
                         'fenix:metrics:get')
        self.assertEqual([], self.engine.calls)
        self.assertIn('fenix_hosts', self.scrape(200, 'admin-token').text)
        self.assertIn('fenix_hosts',
                      self.scrape(200, address='127.0.0.1').text)
