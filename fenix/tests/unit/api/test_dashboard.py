# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``/dashboard/``: the web page's files, their auth and policy.

(The page itself runs in a browser in
fenix/tests/functional/test_dashboard.py.)
"""
import configparser
import glob
import os


from fenix.api import dashboard
from fenix.tests.unit.api import base

RULE = 'fenix:dashboard:get'
TYPES = {
    'index.html': 'text/html',
    'boot.js': 'text/javascript',
    'boot.css': 'text/css',
    'app.js': 'text/javascript',
    'app.css': 'text/css',
}
PRIVATE = ('app.js', 'app.css')
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..', '..'))


def shipped(name):
    with open(os.path.join(dashboard.STATIC_DIR, name), 'rb') as f:
        return f.read()


class TestDashboard(base.APITestCase):

    def test_files_served_with_their_content_type(self):
        self.assertEqual(sorted(TYPES), sorted(os.listdir(
            dashboard.STATIC_DIR)))
        for name, media in TYPES.items():
            resp = self.get('/dashboard/' + name, status=200)
            self.assertEqual(media, resp.content_type, name)
            self.assertEqual('utf-8', resp.charset)
            self.assertEqual(shipped(name), resp.body)
            self.assertEqual('nosniff',
                             resp.headers['X-Content-Type-Options'])
            self.assertIn("script-src 'self' blob:",
                          resp.headers['Content-Security-Policy'])
            self.assertEqual('no-cache', resp.headers['Cache-Control'])
        self.assertEqual([], self.engine.calls)

    def test_index_at_the_directory(self):
        resp = self.get('/dashboard/', status=200)
        self.assertEqual('text/html', resp.content_type)
        self.assertEqual(shipped('index.html'), resp.body)
        self.assertIn(b'<script src="boot.js"', resp.body)

    def test_without_the_slash_redirects(self):
        # Sent relative (right behind a proxy that adds a path prefix
        # too); WebTest shows it absolute.
        resp = self.get('/dashboard', status=301)
        self.assertEqual('http://localhost/dashboard/',
                         resp.headers['Location'])
        resp = self.get('/dashboard?x=1', status=301)
        self.assertEqual('http://localhost/dashboard/?x=1',
                         resp.headers['Location'])

    def test_head(self):
        resp = self.request('HEAD', '/dashboard/app.js', status=200)
        self.assertEqual(b'', resp.body)
        self.assertEqual(str(len(shipped('app.js'))),
                         resp.headers['Content-Length'])

    def test_other_methods_405(self):
        for method in ('POST', 'PUT', 'DELETE', 'PATCH'):
            resp = self.request(method, '/dashboard/app.js', body={})
            self.assertError(resp, 405)
            self.assertEqual('GET, HEAD', resp.headers['Allow'])

    def test_refused_by_policy_403(self):
        for persona in ('owner_member', 'owner_reader', 'other_member',
                        'service', 'no_role'):
            for name in ('', 'index.html', 'boot.js', 'app.js', 'app.css'):
                resp = self.get('/dashboard/' + name,
                                headers=base.PERSONAS[persona])
                self.assertError(resp, 403, RULE)
                self.assertNotIn(shipped('app.js'), resp.body)
        for persona in ('admin', 'system_reader'):
            self.get('/dashboard/app.js', headers=base.PERSONAS[persona],
                     status=200)

    def test_operator_policy_applies(self):
        path = os.path.join(self.tmpdir, 'policy.yaml')
        with open(path, 'w') as f:
            f.write('"%s": "role:dashboard_viewer"\n' % RULE)
        self.config(group='oslo_policy', policy_file=path)
        self.assertError(self.get('/dashboard/app.js'), 403, RULE)
        viewer = {'X-User-Id': 'v', 'X-Project-Id': 'p',
                  'X-Roles': 'dashboard_viewer'}
        self.get('/dashboard/app.js', headers=viewer, status=200)

    def test_path_traversal_refused(self):
        secret = os.path.join(os.path.dirname(dashboard.STATIC_DIR),
                              '..', 'dashboard.py')
        with open(secret, 'rb') as f:
            source = f.read()
        for path in ('/dashboard/../dashboard.py',
                     '/dashboard/../../dashboard.py',
                     '/dashboard/%2e%2e/%2e%2e/dashboard.py',
                     '/dashboard/..%2f..%2fdashboard.py',
                     '/dashboard/..%5c..%5cdashboard.py',
                     '/dashboard//etc/passwd',
                     '/dashboard/%2fetc%2fpasswd',
                     '/dashboard/static/dashboard/app.js',
                     '/dashboard/app.js/',
                     '/dashboard/app.js%00.html',
                     '/dashboard/.app.js',
                     '/dashboard/nope.js',
                     '/dashboard/app',
                     '/dashboard/dashboard.py'):
            resp = self.get(path)
            self.assertIn(resp.status_int, (400, 404), path)
            self.assertEqual('application/json', resp.content_type, path)
            self.assertNotIn(source[:200], resp.body)
            self.assertNotIn(b'root:', resp.body)
        self.assertEqual([], self.engine.calls)

    def test_files_from_the_directory_only(self):
        names = dashboard.load_files(dashboard.STATIC_DIR)
        self.assertEqual(sorted(TYPES), sorted(names))
        other = os.path.join(self.tmpdir, 'static')
        os.makedirs(os.path.join(other, 'sub.js'))
        for name in ('ok.js', '.hidden.js', 'x.py', 'a b.css', 'y.html'):
            with open(os.path.join(other, name), 'w') as f:
                f.write('x')
        self.assertEqual(['ok.js', 'y.html'],
                         sorted(dashboard.load_files(other)))

    def test_the_api_is_unchanged(self):
        self.get('/v1/maintenance', status=200)
        self.assertError(self.get('/dashboardx'), 404)
        self.assertError(self.get('/v1/dashboard/app.js'), 404)

    def test_files_are_package_data(self):
        """setup.cfg's package_data names every file (a wheel ships
        them)."""
        cfg = configparser.ConfigParser()
        cfg.read(os.path.join(REPO, 'setup.cfg'))
        patterns = cfg.get('options.package_data', 'fenix').split()
        found = set()
        for pattern in patterns:
            found.update(os.path.relpath(p, os.path.join(REPO, 'fenix'))
                         for p in glob.glob(os.path.join(REPO, 'fenix',
                                                         pattern)))
        for name in TYPES:
            self.assertIn(os.path.join('api', 'static', 'dashboard', name),
                          found)


class TestDashboardKeystone(base.KeystoneAPITestCase):
    """Behind Keystone: the login page and its loader are public, the
    application needs a token the policy allows."""

    def test_login_page_and_loader_public(self):
        for name in ('', 'index.html', 'boot.js', 'boot.css'):
            resp = self.get('/dashboard/' + name, status=200)
            self.assertEqual(shipped(name or 'index.html'), resp.body)
        self.get('/dashboard', status=301)
        # Whatever identity a caller claims.
        self.get('/dashboard/boot.js', headers={'X-Auth-Token': 'forged',
                                                'X-Roles': 'admin'},
                 status=200)

    def test_application_needs_a_token(self):
        for name in PRIVATE:
            url = '/dashboard/' + name
            self.assertError(self.get(url), 401)
            self.assertError(self.get(url, headers={
                'X-Roles': 'admin', 'X-Identity-Status': 'Confirmed'}), 401)
            self.assertError(self.get(url, headers={
                'X-Auth-Token': 'forged'}), 401)
            self.assertError(self.get(url, headers={
                'X-Auth-Token': 'member-token'}), 403, RULE)
            resp = self.get(url, headers={'X-Auth-Token': 'admin-token'},
                            status=200)
            self.assertEqual(shipped(name), resp.body)
            self.assertEqual(TYPES[name], resp.content_type)

    def test_traversal_behind_keystone(self):
        for path in ('/dashboard/../dashboard.py',
                     '/dashboard/%2e%2e/v1/maintenance',
                     '/dashboard/boot.js/../app.js'):
            resp = self.get(path)
            self.assertIn(resp.status_int, (401, 404), path)
            resp = self.get(path, headers={'X-Auth-Token': 'admin-token'})
            self.assertEqual(404, resp.status_int, path)
