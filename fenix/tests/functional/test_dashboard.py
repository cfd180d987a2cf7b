# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The web dashboard (``/dashboard/``) in a real browser.

Headless Chromium from Debian's packages (``chromium``,
``chromium-driver``; ``tools/ci/ensure-browser.sh`` installs them), driven
by Selenium, looks at the page of ``fenix-all-in-one`` on the simulated
cloud while a session runs, and checks what a person would see: the
session in the list, its hosts changing colour, the waves, the move in
flight, the final state and the history. Every wait is on a condition of
the page, bounded (WebDriverWait).

Without Chromium (or Selenium) the tests are skipped, unless
``FENIX_REQUIRE_BROWSER=1`` (CI sets it): then they fail.

``FENIX_DASHBOARD_SCREENSHOT=PATH`` writes a screenshot of the page in
the middle of the session to PATH (doc/source/images/dashboard.png is
made so: doc/source/dashboard.rst).
"""
import json
import os
import shutil

import fixtures
import testtools

from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session

from fenix.tests.functional import base
from fenix.tests.functional import cloud_fixture as cf
from fenix.tests.functional import test_default_workflow as tdw

try:
    from selenium.common import exceptions as se_exc
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - reported by _browser_missing()
    webdriver = None

# Seconds a page condition may take (the page polls every POLL seconds).
PAGE_TIMEOUT = 60
POLL = 0.3
# Seconds the first migration is held in flight (the test ends it once it
# has seen it on the page).
HELD = 90
COMPUTES = ['compute-%d' % n for n in range(4)]
CHROMIUM_NAMES = ('chromium', 'chromium-browser')
DRIVER_NAMES = ('chromedriver',)

# What the page shows, read in one script run.
SNAPSHOT_JS = """
var all = function (selector, root) {
  return Array.prototype.slice.call(
    (root || document).querySelectorAll(selector));
};
var text = function (id) {
  var e = document.getElementById(id);
  return e ? e.innerText : null;
};
var hosts = {}, tiles = {}, colours = {};
all('.host').forEach(function (e) {
  hosts[e.dataset.host] = e.dataset.state;
  tiles[e.dataset.host] = e.innerText;
  colours[e.dataset.host] = getComputedStyle(e).backgroundColor;
});
var state = document.getElementById('session-state');
var progress = document.getElementById('progress');
return {
  url: location.href,
  hosts: hosts, tiles: tiles, colours: colours,
  sessions: all('#sessions tr[data-session]').map(function (r) {
    return [r.dataset.session, r.innerText];
  }),
  waves: all('#waves li.wave').map(function (w) {
    return all('.chip', w).map(function (c) { return c.innerText; });
  }),
  moves: all('#moves tr.move').map(function (r) { return r.innerText; }),
  projects: all('#projects tr[data-project]').map(function (r) {
    return r.innerText;
  }),
  history: all('#history tr.event').map(function (r) {
    return r.innerText;
  }),
  state: state ? state.dataset.state : null,
  state_text: state ? state.innerText : null,
  progress: progress ? Number(progress.value) : null,
  progress_text: text('progress-text'),
  eta: text('eta'),
  status: text('status'),
  login: !document.getElementById('login').hidden,
  login_message: text('login-message'),
  app_shown: !document.getElementById('app').hidden,
  forget_shown: !document.getElementById('forget').hidden
};
"""


def _which(names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def _browser_missing():
    """Why the browser test cannot run, or None."""
    if webdriver is None:
        return 'selenium is not installed (test-requirements.txt)'
    if not _which(CHROMIUM_NAMES):
        return 'chromium is not installed (tools/ci/ensure-browser.sh)'
    if not _which(DRIVER_NAMES):
        return ('chromedriver is not installed (chromium-driver; '
                'tools/ci/ensure-browser.sh)')
    return None


class KeystoneCloud(cf.FenixCloud):
    """The simulated cloud with Fenix behind keystonemiddleware's
    auth_token, which validates tokens with the cloud's Keystone."""

    def _write_config(self):
        self.extra_config = dict(self.extra_config, **{
            'api': {'auth_strategy': 'keystone'},
            'keystone_authtoken': {
                'auth_type': 'password', 'auth_url': self.sim.auth_url,
                'www_authenticate_uri': self.sim.auth_url,
                'username': 'fenix', 'password': 'fenixpass',
                'project_name': 'service', 'user_domain_name': 'Default',
                'project_domain_name': 'Default'}})
        return super()._write_config()

    def token(self, username, project=None):
        auth = v3.Password(**self.sim.auth_args(username, project))
        return ks_session.Session(auth=auth, timeout=30).get_token()


class DashboardTestCase(tdw.WorkflowHelpers, testtools.TestCase):

    def setUp(self):
        missing = _browser_missing()
        if missing:
            if os.environ.get('FENIX_REQUIRE_BROWSER') == '1':
                self.fail('FENIX_REQUIRE_BROWSER=1 but ' + missing)
            self.skipTest(missing)
        super().setUp()

    # --- the browser --------------------------------------------------------

    def start_browser(self):
        options = webdriver.ChromeOptions()
        options.binary_location = _which(CHROMIUM_NAMES)
        for arg in ('--headless=new', '--no-sandbox', '--disable-gpu',
                    '--disable-dev-shm-usage', '--window-size=1280,1400',
                    '--disable-extensions', '--no-first-run',
                    '--hide-scrollbars', '--force-device-scale-factor=1'):
            options.add_argument(arg)
        service = Service(executable_path=_which(DRIVER_NAMES),
                          log_output=os.path.join(
                              self.useFixture(fixtures.TempDir()).path,
                              'chromedriver.log'))
        driver = webdriver.Chrome(options=options, service=service)
        self.addCleanup(driver.quit)
        driver.set_page_load_timeout(PAGE_TIMEOUT)

        def attach(exc_info):
            try:
                self.addDetail('page-text', testtools.content.text_content(
                    driver.find_element(By.TAG_NAME, 'body').text))
                self.addDetail('browser-log', testtools.content.text_content(
                    '\n'.join(str(e) for e in driver.get_log('browser'))))
            except Exception as e:  # the browser may be gone
                self.addDetail('browser-error',
                               testtools.content.text_content(str(e)))
        self.addOnException(attach)
        return driver

    def wait(self, driver, condition, what, timeout=PAGE_TIMEOUT):
        """Wait (bounded) until ``condition(snapshot)`` is true for a
        snapshot of the page (:data:`SNAPSHOT_JS`); returns the snapshot.

        A snapshot is read in one script run, between two renderings of
        the page, so its parts agree with each other.
        """
        found = []

        def ready(d):
            snap = d.execute_script(SNAPSHOT_JS)
            found[:] = [snap]
            return snap if condition(snap) else False
        try:
            return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
                ready)
        except se_exc.TimeoutException:
            self.fail('the page did not show %s within %ss; last seen:\n%s'
                      % (what, timeout, json.dumps(found[-1:], indent=1)))

    # --- the test -----------------------------------------------------------

    def test_session_progress_shown_live(self):
        cloud = self.start_cloud(tdw._pre_placed())
        cloud.sim.slow_migrations(HELD, times=1)
        sid = cloud.create_session(workflow='nfv',
                                   max_concurrent_migrations=1)
        first = cloud.sim.wait_for_event('migration.start', timeout=60)
        self.assertIsNotNone(first, 'no migration started')
        moving = cloud.server_names().get(first['server'], first['server'])
        source = [i['host'] for i in cloud.detail(sid)['instances']
                  if i['instance_id'] == first['server']][0]

        driver = self.start_browser()
        # /dashboard answers the page at /dashboard/ (its links are
        # relative).
        driver.get('%s/dashboard#session=%s&poll=%s' % (cloud.url, sid,
                                                        POLL))

        # While its first migration is held: the session is in the list,
        # the host it leaves is emptying, the move is in flight, the
        # plan's waves name every host, the projects and the history are
        # there.
        snap = self.wait(driver, lambda s: (
            s['hosts'].get(source) == 'EMPTYING'
            and any(moving in m for m in s['moves'])
            and s['projects'] and len(s['history']) >= 3),
            '%s emptying and the move of %s in flight' % (source, moving))
        self.assertTrue(snap['url'].startswith(cloud.url + '/dashboard/'),
                        snap['url'])
        self.assertEqual([sid], [r[0] for r in snap['sessions']])
        self.assertIn(sid[:8], snap['sessions'][0][1])
        self.assertEqual(set(COMPUTES), set(snap['hosts']))
        self.assertIn('emptying', snap['tiles'][source])
        emptying_colour = snap['colours'][source]
        move = [m for m in snap['moves'] if moving in m][0]
        self.assertIn(source, move)
        self.assertGreaterEqual(len(snap['waves']), 2)
        self.assertEqual(set(COMPUTES),
                         set(h for wave in snap['waves'] for h in wave))
        self.assertTrue(snap['progress_text'])
        self.assertIn('ETA', snap['eta'])
        self.assertNotIn(snap['state'], cf.FINAL_STATES)
        self.assertIn('session created', snap['history'][-1])
        screenshot = os.environ.get('FENIX_DASHBOARD_SCREENSHOT')
        if screenshot:
            os.makedirs(os.path.dirname(os.path.abspath(screenshot)),
                        exist_ok=True)
            self.assertTrue(driver.save_screenshot(screenshot))

        # The migration ends: the session goes on to its end, which the
        # page shows without being reloaded.
        self.assertTrue(cloud.sim.complete_now(first['server']))
        snap = self.wait(driver, lambda s: s['state'] in cf.FINAL_STATES,
                         'the final state')
        self.assertEqual(tdw.DONE, snap['state'],
                         cloud.summary(sid).get('error'))
        self.assertEqual('maintenance done', snap['state_text'])
        detail = cloud.detail(sid)
        snap = self.wait(driver, lambda s: (
            set(s['hosts'].values()) == {'MAINTAINED'}
            and len(s['history']) == len(detail['history'])),
            'every host maintained and the %d events of the history'
            % len(detail['history']))
        self.assertNotEqual(emptying_colour, snap['colours'][source])
        self.assertEqual(100, snap['progress'])
        self.assertEqual([], snap['moves'])
        # The history is the API's, newest first.
        self.assertIn(detail['history'][-1]['message'], snap['history'][0])
        self.assertIn('MAINTENANCE_DONE', '\n'.join(snap['history']))
        self.assertIn('maintenance done', snap['sessions'][0][1])
        self.assertEqual([], [e for e in driver.get_log('browser')
                              if e.get('level') == 'SEVERE'])

    def test_keystone_token_from_form_and_fragment(self):
        """Behind Keystone the page asks for a token; a refused one, a
        token the policy refuses, then an admin's from the URL fragment
        and from the form."""
        cloud = self.useFixture(KeystoneCloud(cf.topology(computes=2)))
        self.addOnException(lambda exc_info: self.addDetail(
            'fenix-log', testtools.content.text_content(
                cloud.log_tail(100))))
        admin = cloud.token('admin')
        member = cloud.token('vnfm-tenant1', 'tenant1')
        self.assertEqual(401, cloud.client.get('/v1/maintenance')
                         .status_code)
        api = base.FenixClient(cloud.url, headers={'X-Auth-Token': admin})
        resp = api.post('/v1/maintenance', {'hosts': []})
        self.assertEqual(200, resp.status_code, resp.text)
        sid = resp.json()['session_id']
        api.wait_state(sid, cf.FINAL_STATES, timeout=cf.SESSION_TIMEOUT)

        driver = self.start_browser()
        page = '%s/dashboard/' % cloud.url
        driver.get(page)
        snap = self.wait(driver, lambda s: s['login'], 'the login form')
        self.assertIn('needs a Keystone token', snap['login_message'])
        self.assertFalse(snap['app_shown'])

        def log_in(token):
            field = driver.find_element(By.ID, 'token')
            field.clear()
            field.send_keys(token)
            driver.find_element(By.ID, 'login-submit').click()

        # A token Keystone does not know.
        log_in('not-a-token')
        self.wait(driver, lambda s: s['login'] and 'refused the token' in
                  s['login_message'], 'the token refused')
        # A project member's token: the policy refuses the application.
        log_in(member)
        snap = self.wait(driver, lambda s: 'Not allowed' in s['status'],
                         'the policy refusal')
        self.assertIn('fenix:dashboard:get', snap['status'])
        self.assertEqual([], snap['sessions'])
        self.assertTrue(snap['forget_shown'])
        driver.find_element(By.ID, 'forget').click()
        self.wait(driver, lambda s: s['login'], 'the login form again')

        # The admin's token in the URL fragment: taken, and removed from
        # the address.
        driver.get('about:blank')
        driver.get('%s#token=%s&session=%s&poll=%s' % (page, admin, sid,
                                                       POLL))
        snap = self.wait(driver, lambda s: s['state'] in cf.FINAL_STATES,
                         'the session with the token of the fragment')
        self.assertEqual(tdw.DONE, snap['state'])
        self.assertFalse(snap['login'])
        self.assertNotIn(admin, snap['url'])
        self.assertIn('session=' + sid, snap['url'])
        self.assertEqual(set(['compute-0', 'compute-1']),
                         set(snap['hosts']))
        self.assertEqual({'MAINTAINED'}, set(snap['hosts'].values()))

        # Forgotten, then typed in the form.
        driver.find_element(By.ID, 'forget').click()
        self.wait(driver, lambda s: s['login'] and not s['app_shown'],
                  'the login form after forgetting the token')
        log_in(admin)
        snap = self.wait(driver, lambda s: s['app_shown'] and
                         s['state'] == tdw.DONE and
                         'Updated' in s['status'],
                         'the session with the token of the form')
        self.assertEqual([sid], [r[0] for r in snap['sessions']])
