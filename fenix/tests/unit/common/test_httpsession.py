# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The requests session that reads the environment once per origin."""
from unittest import mock

import fixtures
import requests
from requests import utils as requests_utils

from fenix.common import httpsession
from fenix.tests import base


class TestEnvCachedSession(base.TestCase):

    def setUp(self):
        super().setUp()
        for name in ('http_proxy', 'HTTP_PROXY', 'no_proxy', 'NO_PROXY',
                     'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'):
            self.useFixture(fixtures.EnvironmentVariable(name))
        self.useFixture(fixtures.EnvironmentVariable(
            'http_proxy', 'http://proxy:3128'))
        self.useFixture(fixtures.EnvironmentVariable('no_proxy', 'direct'))
        self.useFixture(fixtures.EnvironmentVariable(
            'REQUESTS_CA_BUNDLE', '/etc/ca.pem'))

    def settings(self, session, url):
        return session.merge_environment_settings(url, {}, None, None, None)

    def test_same_answers_as_requests(self):
        cached = httpsession.EnvCachedSession()
        plain = requests.Session()
        for url in ('http://nova:8774/v2.1/servers', 'http://direct/x'):
            self.assertEqual(self.settings(plain, url),
                             self.settings(cached, url))
        self.assertEqual('http://proxy:3128', self.settings(
            cached, 'http://nova/a')['proxies']['http'])
        self.assertEqual({}, self.settings(cached, 'http://direct/')
                         ['proxies'])
        self.assertEqual('/etc/ca.pem',
                         self.settings(cached, 'http://nova/a')['verify'])

    def test_prepared_as_requests_prepares(self):
        cached = httpsession.EnvCachedSession()
        plain = requests.Session()
        plain.trust_env = cached.trust_env = False
        cases = [
            dict(method='post', url='http://nova:8774/v2.1/servers/a/action',
                 headers={'X-Auth-Token': 't'}, data='{"migrate": null}'),
            dict(method='GET', url=' http://h:1/a b?x=1&y=%20'),
            dict(method='POST', url='http://h/n', json=[{'a': 'é'}]),
            dict(method='GET', url='http://h/x', params={'a': 'b c'}),
            dict(method='GET', url='http://h/x', cookies={'k': 'v'}),
        ]
        for case in cases + cases:
            mine = cached.prepare_request(requests.Request(**case))
            theirs = plain.prepare_request(requests.Request(**case))
            self.assertEqual(
                (theirs.method, theirs.url, dict(theirs.headers),
                 theirs.body, theirs.hooks),
                (mine.method, mine.url, dict(mine.headers), mine.body,
                 mine.hooks))

    def test_url_prepared_once(self):
        cached = httpsession.EnvCachedSession()
        with mock.patch.object(requests.PreparedRequest, 'prepare_url',
                               autospec=True,
                               side_effect=requests.PreparedRequest.
                               prepare_url) as prepare:
            for _ in range(3):
                cached.prepare_request(requests.Request('GET', 'http://a/b'))
        self.assertEqual(1, prepare.call_count)

    def test_environment_read_once_per_origin(self):
        cached = httpsession.EnvCachedSession()
        with mock.patch.object(requests_utils, 'get_environ_proxies',
                               wraps=requests_utils.get_environ_proxies) \
                as read:
            for path in ('a', 'b', 'c'):
                self.settings(cached, 'http://nova:8774/' + path)
            self.settings(cached, 'http://other:80/a')
        self.assertEqual(2, read.call_count)

    def test_netrc_read_once_per_origin(self):
        cached = httpsession.EnvCachedSession()
        with mock.patch.object(requests_utils, 'get_netrc_auth',
                               return_value=('u', 'p')) as netrc:
            for path in ('a', 'b'):
                prepared = cached.prepare_request(requests.Request(
                    'GET', 'http://nova/' + path))
        self.assertEqual(1, netrc.call_count)
        self.assertIn('Basic', prepared.headers['Authorization'])
        with mock.patch.object(requests_utils, 'get_netrc_auth',
                               return_value=None) as netrc:
            for path in ('a', 'b'):
                prepared = cached.prepare_request(requests.Request(
                    'GET', 'http://other/' + path))
        self.assertEqual(1, netrc.call_count)
        self.assertNotIn('Authorization', prepared.headers)

    def test_like_keeps_the_adapters_and_settings(self):
        plain = requests.Session()
        adapter = requests.adapters.HTTPAdapter()
        plain.mount('http://', adapter)
        plain.verify = '/etc/other.pem'
        plain.headers['X-Test'] = '1'
        new = httpsession.like(plain)
        self.assertIsInstance(new, httpsession.EnvCachedSession)
        self.assertIs(adapter, new.get_adapter('http://nova/'))
        self.assertEqual('/etc/other.pem', new.verify)
        self.assertEqual('1', new.headers['X-Test'])
