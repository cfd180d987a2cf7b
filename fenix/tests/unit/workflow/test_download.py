# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Unit tests of session downloads and the operator's download policy
(file:// URLs and real HTTP(S) servers on 127.0.0.1)."""
import base64
import functools
import hashlib
import http.server
import io
import os
import pathlib
import socket
import tarfile
import threading
from unittest import mock

import fixtures

from fenix.common import download_entries
from fenix.common import download_policy
from fenix.common import exception
from fenix.tests import base
from fenix.tests.unit.workflow import local_servers
from fenix.workflow import download
from fenix.workflow import plugins


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class TestDownload(base.TestCase):

    def setUp(self):
        super().setUp()
        self.src = os.path.join(self.tmpdir, 'src')
        os.makedirs(self.src)
        self.dest = os.path.join(self.tmpdir, 'downloads', 'session-1')
        # These tests fetch local files and from 127.0.0.1: allowed here
        # explicitly (the defaults refuse both, see TestPolicy).
        self.config(group='download', allowed_schemes=['https', 'http',
                                                       'file'],
                    file_directories=[self.src],
                    allowed_networks=['127.0.0.0/8'])

    def make(self, name, data=b'hello fenix\n'):
        path = os.path.join(self.src, name)
        with open(path, 'wb') as f:
            f.write(data)
        return pathlib.Path(path).as_uri(), hashlib.sha256(data).hexdigest()

    def serve(self):
        handler = functools.partial(_Quiet, directory=self.src)
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return 'http://127.0.0.1:%d/' % server.server_address[1]

    def test_nothing_to_fetch(self):
        self.assertEqual([], download.fetch_all(self.dest, []))
        self.assertEqual([], download.fetch_all(self.dest, None))
        self.assertFalse(os.path.exists(self.dest))

    def test_file_url(self):
        url, sha = self.make('pkg.rpm')
        result = download.fetch_all(self.dest, [url])
        self.assertEqual(1, len(result))
        item = result[0]
        self.assertEqual('pkg.rpm', item['name'])
        self.assertEqual(os.path.join(self.dest, 'pkg.rpm'), item['path'])
        self.assertEqual(sha, item['sha256'])
        self.assertEqual(12, item['size'])
        self.assertTrue(item['fetched'])
        self.assertFalse(item['code'])
        with open(item['path'], 'rb') as f:
            self.assertEqual(b'hello fenix\n', f.read())
        self.assertFalse(os.path.exists(item['path'] + '.part'))

    def test_checked_entry(self):
        url, sha = self.make('pkg.rpm')
        result = download.fetch_all(self.dest, [
            {'url': url, 'sha256': sha.upper(), 'size': 12}])
        self.assertEqual(sha, result[0]['sha256'])

    def test_wrong_checksum(self):
        url, _ = self.make('pkg.rpm')
        e = self.assertRaises(exception.DownloadError, download.fetch_all,
                              self.dest, [{'url': url, 'sha256': '0' * 64}])
        self.assertIn(url, str(e))
        self.assertIn('expected ' + '0' * 64, str(e))
        self.assertEqual([], os.listdir(self.dest))

    def test_wrong_size(self):
        url, _ = self.make('pkg.rpm')
        e = self.assertRaises(exception.DownloadError, download.fetch_all,
                              self.dest, [{'url': url, 'size': 5}])
        self.assertIn('larger than the 5 bytes announced', str(e))
        e = self.assertRaises(exception.DownloadError, download.fetch_all,
                              self.dest, [{'url': url, 'size': 50}])
        self.assertIn('got 12 bytes, expected 50', str(e))
        self.assertEqual([], os.listdir(self.dest))

    def test_max_size(self):
        self.config(group='download', max_size=10)
        url, _ = self.make('pkg.rpm')
        e = self.assertRaises(exception.DownloadError, download.fetch_all,
                              self.dest, [url])
        self.assertIn('over the limit of 10 bytes', str(e))
        e = self.assertRaises(exception.DownloadError, download.fetch_all,
                              self.dest, [{'url': url, 'size': 11}])
        self.assertIn('its size 11 bytes is over the limit', str(e))

    def test_idempotent(self):
        url, _ = self.make('pkg.rpm')
        download.fetch_all(self.dest, [url])
        again = download.fetch_all(self.dest, [url])
        self.assertFalse(again[0]['fetched'])
        # A damaged file is fetched again.
        with open(again[0]['path'], 'wb') as f:
            f.write(b'broken')
        third = download.fetch_all(self.dest, [url])
        self.assertTrue(third[0]['fetched'])
        with open(third[0]['path'], 'rb') as f:
            self.assertEqual(b'hello fenix\n', f.read())

    def test_stale_part_file_is_replaced(self):
        url, _ = self.make('pkg.rpm')
        os.makedirs(self.dest)
        with open(os.path.join(self.dest, 'pkg.rpm.part'), 'wb') as f:
            f.write(b'half')
        result = download.fetch_all(self.dest, [url])
        self.assertTrue(result[0]['fetched'])
        self.assertEqual(['.fenix-downloads.json', 'pkg.rpm'],
                         sorted(os.listdir(self.dest)))

    def test_missing_file(self):
        url = pathlib.Path(self.src, 'nothing.rpm').as_uri()
        e = self.assertRaises(exception.DownloadError, download.fetch_all,
                              self.dest, [url])
        self.assertIn(url, str(e))
        self.assertIn('cannot open it', str(e))

    def test_unsupported_scheme(self):
        e = self.assertRaises(exception.DownloadRefused, download.fetch_all,
                              self.dest, ['ftp://example.com/pkg.rpm'])
        self.assertIn("(scheme): scheme 'ftp' is not allowed", str(e))

    def test_bad_entries(self):
        for item, text in ((42, 'must be a URL'),
                           ({'sha256': 'x'}, 'must be a URL'),
                           ({'url': 'file:///x', 'size': -1}, 'size'),
                           ({'url': 'file:///x', 'size': True}, 'size'),
                           ({'url': 'file:///x', 'sha256': 'abc'},
                            '64 hexadecimal'),
                           ('  ', 'empty')):
            e = self.assertRaises(exception.DownloadError,
                                  download.fetch_all, self.dest, [item])
            self.assertIn(text, str(e), item)

    def test_names(self):
        a, _ = self.make('same.rpm', b'a')
        os.makedirs(os.path.join(self.src, 'sub'))
        b, _ = self.make(os.path.join('sub', 'same.rpm'), b'b')
        c, _ = self.make('..hidden', b'c')
        result = download.fetch_all(self.dest, [a, b, c])
        self.assertEqual(['same.rpm', '1-same.rpm', 'hidden'],
                         [r['name'] for r in result])
        self.assertEqual(b'b', open(result[1]['path'], 'rb').read())
        entries = download.parse(['http://h/', 'http://h/x/%2e%2e%2fetc'])
        self.assertEqual('download-0', entries[0].name)
        self.assertNotIn('/', entries[1].name)

    def test_code_is_noted(self):
        py, _ = self.make('plugin.py', b'print(1)\n')
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode='w:gz') as tar:
            data = b'x = 1\n'
            info = tarfile.TarInfo('pkg/mod.py')
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tgz, _ = self.make('plugin.tar.gz', buf.getvalue())
        txt, _ = self.make('notes.tar.gz', b'not really a tarball')
        result = download.fetch_all(self.dest, [py, tgz, txt])
        self.assertEqual([True, True, False], [r['code'] for r in result])

    def test_http(self):
        base_url = self.serve()
        _, sha = self.make('pkg.rpm')
        result = download.fetch_all(self.dest, [
            {'url': base_url + 'pkg.rpm', 'sha256': sha}])
        self.assertEqual(sha, result[0]['sha256'])
        e = self.assertRaises(exception.DownloadError, download.fetch_all,
                              self.dest, [base_url + 'nope.rpm'])
        self.assertIn('HTTP 404', str(e))

    def test_http_content_length_over_limit(self):
        self.config(group='download', max_size=4)
        base_url = self.serve()
        self.make('pkg.rpm')
        e = self.assertRaises(exception.DownloadError, download.fetch_all,
                              self.dest, [base_url + 'pkg.rpm'])
        self.assertIn('12 bytes, over the limit of 4', str(e))

    def test_unreachable(self):
        e = self.assertRaises(exception.DownloadError, download.fetch_all,
                              self.dest, ['http://127.0.0.1:1/pkg.rpm'])
        self.assertIn('http://127.0.0.1:1/pkg.rpm', str(e))
        self.assertIn('could not be reached', str(e))
        self.assertNotIn('refused', str(e).lower())

    def test_credentials_not_shown(self):
        self.assertEqual('http://***@h:8080/p',
                         download.safe_url('http://u:secret@h:8080/p'))
        e = self.assertRaises(exception.DownloadError, download.fetch_all,
                              self.dest, ['http://u:secret@127.0.0.1:1/p'])
        self.assertNotIn('secret', str(e))


class PolicyTest(base.TestCase):
    """Downloads from real servers on 127.0.0.1 under the policy."""

    def setUp(self):
        super().setUp()
        self.dest = os.path.join(self.tmpdir, 'downloads', 'session-1')
        self.server = local_servers.Server(self)
        self.data = b'package bytes\n' * 10
        self.server.routes['/pkg.rpm'] = local_servers.body(self.data)

    def allow_loopback_http(self, **kw):
        self.config(group='download', allowed_schemes=['http'],
                    allowed_networks=['127.0.0.0/8'], **kw)

    def refused(self, policy, items, stopping=None):
        e = self.assertRaises(exception.DownloadRefused, download.fetch_all,
                              self.dest, items, stopping=stopping)
        self.assertIn('refused by the download policy (%s)' % policy,
                      str(e))
        return e


class TestPolicy(PolicyTest):

    def test_default_denies_loopback(self):
        # The defaults as shipped: https only, public addresses only.
        url = self.server.url('/pkg.rpm')
        self.refused('scheme', [url])
        self.config(group='download', allowed_schemes=['http'])
        e = self.refused('host', [url])
        self.assertIn('host 127.0.0.1 has a loopback address', str(e))
        # A name is resolved and its addresses checked.
        e = self.refused('host', [self.server.url('/pkg.rpm',
                                                  host='localhost')])
        self.assertIn('host localhost has a loopback address', str(e))
        for address in ('[::1]', '0.0.0.0', '10.1.2.3', '172.16.0.1',
                        '192.168.1.1', '169.254.169.254', '100.64.0.1',
                        '[fd00::1]', '[fe80::1]', '[::]',
                        '[::ffff:127.0.0.1]'):
            self.refused('host', ['http://%s/pkg.rpm' % address])
        # Nothing reached the server.
        self.assertEqual([], self.server.requests)
        self.assertFalse(os.path.exists(os.path.join(self.dest,
                                                     'pkg.rpm')))

    def test_allowed_networks_opens_loopback(self):
        self.allow_loopback_http()
        result = download.fetch_all(self.dest, [self.server.url('/pkg.rpm')])
        self.assertEqual(len(self.data), result[0]['size'])
        self.assertEqual(1, len(self.server.requests))

    def test_host_lists(self):
        self.allow_loopback_http(denied_hosts=['127.0.0.1/32'])
        self.refused('host', [self.server.url('/pkg.rpm')])
        self.allow_loopback_http(denied_hosts=['*.internal'])
        e = self.refused('host', ['http://mirror.internal/pkg.rpm'])
        self.assertIn('denied_hosts', str(e))
        self.allow_loopback_http(allowed_hosts=['mirror.example.com'])
        e = self.refused('host', [self.server.url('/pkg.rpm')])
        self.assertIn('not in [download] allowed_hosts', str(e))
        self.allow_loopback_http(allowed_hosts=['127.0.0.1'])
        download.fetch_all(self.dest, [self.server.url('/pkg.rpm')])
        self.assertEqual(1, len(self.server.requests))

    def test_connects_only_to_the_checked_address(self):
        # Each hop resolves the name once and connects to that checked
        # address: no second look-up (DNS rebinding) and no connection
        # that resolves on its own.
        self.allow_loopback_http()
        self.config(group='download', allowed_networks=['127.0.0.1/32'])
        real = socket.getaddrinfo
        calls = []

        def lookup(host, *args, **kw):
            calls.append(host)
            return [i for i in real(host, *args, **kw)
                    if i[0] == socket.AF_INET]

        self.useFixture(fixtures.MonkeyPatch('socket.getaddrinfo', lookup))
        self.useFixture(fixtures.MonkeyPatch(
            'socket.create_connection',
            mock.Mock(side_effect=AssertionError('resolved again'))))
        download.fetch_all(self.dest, [self.server.url('/pkg.rpm',
                                                       host='localhost')])
        self.assertEqual(['localhost'], calls)
        self.assertEqual('localhost:%d' % self.server.port,
                         self.server.requests[0][1]['Host'])

    def test_a_host_with_one_denied_address_is_refused(self):
        self.allow_loopback_http()
        self.config(group='download', allowed_networks=['127.0.0.1/32'])
        real = socket.getaddrinfo

        def lookup(host, port, *args, **kw):
            return real('127.0.0.1', port, *args, **kw) + \
                real('10.9.8.7', port, *args, **kw)

        self.useFixture(fixtures.MonkeyPatch('socket.getaddrinfo', lookup))
        e = self.refused('host', [self.server.url('/pkg.rpm',
                                                  host='mirror.test')])
        self.assertIn('a private address', str(e))
        self.assertEqual([], self.server.requests)


class TestFilePolicy(base.TestCase):

    def setUp(self):
        super().setUp()
        self.allowed = os.path.join(self.tmpdir, 'allowed')
        self.outside = os.path.join(self.tmpdir, 'outside')
        os.makedirs(self.allowed)
        os.makedirs(self.outside)
        self.dest = os.path.join(self.tmpdir, 'downloads', 's')
        for where in (self.allowed, self.outside):
            with open(os.path.join(where, 'pkg.rpm'), 'wb') as f:
                f.write(b'data')
        self.config(group='download', allowed_schemes=['https', 'file'],
                    file_directories=[self.allowed])

    def refused(self, url):
        e = self.assertRaises(exception.DownloadRefused, download.fetch_all,
                              self.dest, [url])
        self.assertIn('(file)', str(e))
        return e

    def test_only_under_the_directories(self):
        ok = pathlib.Path(self.allowed, 'pkg.rpm').as_uri()
        self.assertEqual(4, download.fetch_all(self.dest, [ok])[0]['size'])
        self.refused(pathlib.Path(self.outside, 'pkg.rpm').as_uri())
        self.refused('file:///etc/passwd')
        # ".." does not climb out, quoted or not.
        self.refused('file://%s/../outside/pkg.rpm' % self.allowed)
        self.refused('file://%s/%%2e%%2e/outside/pkg.rpm' % self.allowed)
        self.refused('file://otherhost%s/pkg.rpm' % self.allowed)

    def test_symlink_does_not_escape(self):
        os.symlink(os.path.join(self.outside, 'pkg.rpm'),
                   os.path.join(self.allowed, 'link.rpm'))
        os.symlink(self.outside, os.path.join(self.allowed, 'dir'))
        self.refused(pathlib.Path(self.allowed, 'link.rpm').as_uri())
        self.refused(pathlib.Path(self.allowed, 'dir', 'pkg.rpm').as_uri())

    def test_default_refuses_file_urls(self):
        self.config(group='download', allowed_schemes=['https', 'file'],
                    file_directories=[])
        self.refused(pathlib.Path(self.allowed, 'pkg.rpm').as_uri())
        self.config(group='download', allowed_schemes=['https'],
                    file_directories=[self.allowed])
        e = self.assertRaises(exception.DownloadRefused, download.fetch_all,
                              self.dest,
                              [pathlib.Path(self.allowed, 'pkg.rpm').as_uri()])
        self.assertIn('(scheme)', str(e))

    def test_not_a_regular_file(self):
        os.mkfifo(os.path.join(self.allowed, 'fifo'))
        e = self.assertRaises(exception.DownloadError, download.fetch_all,
                              self.dest, [pathlib.Path(self.allowed,
                                                       'fifo').as_uri()])
        self.assertIn('not a regular file', str(e))


class TestRedirects(PolicyTest):

    def test_followed_within_the_policy(self):
        self.allow_loopback_http()
        self.server.routes['/old'] = local_servers.redirect('/pkg.rpm', 301)
        result = download.fetch_all(self.dest, [self.server.url('/old')])
        self.assertEqual(len(self.data), result[0]['size'])
        self.assertEqual(['/old', '/pkg.rpm'],
                         [r[0] for r in self.server.requests])

    def test_no_scheme_change(self):
        self.config(group='download', allowed_schemes=['http', 'https'],
                    allowed_networks=['127.0.0.0/8'])
        for target in ('ftp://127.0.0.1/pkg.rpm', 'file:///etc/passwd',
                       'https://127.0.0.1:%d/pkg.rpm' % self.server.port):
            self.server.routes['/jump'] = local_servers.redirect(target)
            e = self.refused('redirect', [self.server.url('/jump')])
            self.assertIn('may not change the scheme', str(e))

    def test_target_checked_again(self):
        # Allowed: 127.0.0.1 only; the redirect goes to another loopback
        # address, and to a name on the deny list.
        self.allow_loopback_http()
        self.config(group='download', allowed_networks=['127.0.0.1/32'],
                    denied_hosts=['localhost'])
        self.server.routes['/jump'] = local_servers.redirect(
            'http://127.0.0.2:%d/pkg.rpm' % self.server.port)
        e = self.refused('host', [self.server.url('/jump')])
        self.assertIn('host 127.0.0.2 has a loopback address', str(e))
        self.server.routes['/jump'] = local_servers.redirect(
            self.server.url('/pkg.rpm', host='localhost'))
        e = self.refused('host', [self.server.url('/jump')])
        self.assertIn('denied_hosts', str(e))
        self.assertEqual(['/jump', '/jump'],
                         [r[0] for r in self.server.requests])

    def test_redirect_loop(self):
        self.allow_loopback_http(max_redirects=3)
        self.server.routes['/loop'] = local_servers.redirect('/loop')
        e = self.refused('redirect', [self.server.url('/loop')])
        self.assertIn('more than 3 redirects', str(e))
        self.assertEqual(4, len(self.server.requests))


class TestCredentials(PolicyTest):

    def test_sent_as_basic_auth_never_shown(self):
        self.allow_loopback_http()
        url = self.server.url('/pkg.rpm', userinfo='fenix:p%40ss:w@')
        result = download.fetch_all(self.dest, [url])
        headers = self.server.requests[0][1]
        self.assertEqual(
            'Basic ' + base64.b64encode(b'fenix:p@ss:w').decode(),
            headers['Authorization'])
        # The host name is the host, not "fenix:p%40ss:w@127.0.0.1".
        self.assertEqual('127.0.0.1:%d' % self.server.port, headers['Host'])
        self.assertEqual(self.server.url('/pkg.rpm', userinfo='***@'),
                         result[0]['url'])
        with open(os.path.join(self.dest, download.MANIFEST)) as f:
            self.assertNotIn('p%40ss', f.read())

    def test_not_sent_to_another_server(self):
        self.allow_loopback_http()
        other = local_servers.Server(self)
        other.routes['/pkg.rpm'] = local_servers.body(b'x')
        self.server.routes['/jump'] = local_servers.redirect(
            other.url('/pkg.rpm'))
        download.fetch_all(self.dest, [self.server.url(
            '/jump', userinfo='u:secret@')])
        self.assertIn('Authorization', self.server.requests[0][1])
        self.assertNotIn('Authorization', other.requests[0][1])

    def test_redacted_in_errors(self):
        self.allow_loopback_http()
        e = self.assertRaises(exception.DownloadError, download.fetch_all,
                              self.dest, [self.server.url(
                                  '/nope', userinfo='u:secret@')])
        self.assertIn('HTTP 404', str(e))
        self.assertIn('***@127.0.0.1', str(e))
        self.assertNotIn('secret', str(e))
        e = self.refused('scheme', ['ftp://u:secret@example.com/x'])
        self.assertNotIn('secret', str(e))

    def test_redacted_views(self):
        self.assertEqual(
            ['https://***@h/a', {'url': 'https://***@h/b', 'size': 1},
             'https://h/c'],
            download_policy.redact_entries([
                'https://u:p@h/a', {'url': 'https://u@h/b', 'size': 1},
                'https://h/c']))
        self.assertEqual('https://***@h/x',
                         download_policy.redact('https://u:p@ss@h/x'))


class TestLimits(PolicyTest):

    def test_size_cap_without_content_length(self):
        self.allow_loopback_http(max_size=100)
        self.server.routes['/big'] = local_servers.chunked(b'y' * 1000)
        e = self.refused('size', [self.server.url('/big')])
        self.assertIn('over the limit of 100 bytes', str(e))
        self.assertEqual([], [n for n in os.listdir(self.dest)
                              if n.endswith('.part')])

    def test_size_cap_from_content_length(self):
        self.allow_loopback_http(max_size=10)
        e = self.refused('size', [self.server.url('/pkg.rpm')])
        self.assertIn('140 bytes, over the limit of 10', str(e))

    def test_deadline_ends_a_trickle(self):
        # One byte, then nothing: the stall timeout alone (60 s, the
        # server could send a byte every 59 s) does not end it, the
        # deadline does.
        self.allow_loopback_http(deadline=1)
        self.server.routes['/slow'] = local_servers.trickle(self.server)
        e = self.refused('deadline', [self.server.url('/slow')])
        self.assertIn('not done within 1 seconds ([download] deadline)',
                      str(e))
        self.assertTrue(self.server.closed.wait(local_servers.BOUND))
        self.assertEqual([], os.listdir(self.dest))

    def test_stall_timeout(self):
        self.allow_loopback_http(timeout=1)
        self.server.routes['/slow'] = local_servers.trickle(
            self.server, headers_only=True)
        e = self.assertRaises(exception.DownloadError, download.fetch_all,
                              self.dest, [self.server.url('/slow')])
        self.assertIn('no data for 1 seconds ([download] timeout)', str(e))

    def test_stop_ends_a_download_at_once(self):
        self.allow_loopback_http()
        self.server.routes['/slow'] = local_servers.trickle(self.server)
        stop = threading.Event()
        outcome = []

        def fetch():
            try:
                download.fetch_all(self.dest, [self.server.url('/slow')],
                                   stopping=stop.is_set)
            except Exception as e:
                outcome.append(e)

        thread = threading.Thread(target=fetch, daemon=True)
        thread.start()
        self.assertTrue(self.server.trickling.wait(local_servers.BOUND))
        stop.set()
        thread.join(local_servers.BOUND)
        self.assertFalse(thread.is_alive())
        self.assertIsInstance(outcome[0], exception.DownloadStopped)
        self.assertTrue(self.server.closed.is_set() or
                        self.server.closed.wait(local_servers.BOUND))
        self.assertEqual([], os.listdir(self.dest))


class TestErrorsSayNothingOfPorts(PolicyTest):

    def test_what_a_port_answered_is_not_repeated(self):
        self.allow_loopback_http()
        banner = local_servers.Banner(self)
        closed = socket.socket()
        closed.bind(('127.0.0.1', 0))
        closed_port = closed.getsockname()[1]
        closed.close()
        messages = []
        for port in (banner.port, closed_port):
            url = 'http://127.0.0.1:%d/x' % port
            e = self.assertRaises(exception.DownloadError,
                                  download.fetch_all, self.dest, [url])
            messages.append(str(e).replace(url, 'URL'))
        # An open non-HTTP port and a closed one read the same.
        self.assertEqual(messages[0], messages[1])
        for text in ('SSH', 'secret-banner', 'refused', 'BadStatusLine',
                     'Errno'):
            self.assertNotIn(text, messages[0])


class TestPluginCode(PolicyTest):

    def setUp(self):
        super().setUp()
        context, ca_file = local_servers.tls_context(self.tmpdir)
        self.tls = local_servers.Server(self, tls=context)
        self.code = b'X = 1\n'
        self.sha = hashlib.sha256(self.code).hexdigest()
        self.tls.routes['/mine.py'] = local_servers.body(self.code)
        self.server.routes['/mine.py'] = local_servers.body(self.code)
        self.config(group='download', allowed_schemes=['https', 'http'],
                    allowed_networks=['127.0.0.0/8'], ca_file=ca_file,
                    allow_plugin_code=True)

    def test_https_with_sha256_only(self):
        e = self.refused('plug-in code', [self.server.url('/mine.py')])
        self.assertIn('mine.py may be loaded as a plug-in', str(e))
        self.refused('plug-in code', [{'url': self.server.url('/mine.py'),
                                       'sha256': self.sha}])
        self.refused('plug-in code', [self.tls.url('/mine.py')])
        self.assertEqual([], self.server.requests + self.tls.requests)
        download.fetch_all(self.dest, [{'url': self.tls.url('/mine.py'),
                                        'sha256': self.sha}])
        self.assertTrue(download.is_trusted_code(self.dest, 'mine.py'))

    def test_without_plugin_code_only_noted(self):
        self.config(group='download', allow_plugin_code=False)
        result = download.fetch_all(self.dest, [self.server.url('/mine.py')])
        self.assertTrue(result[0]['code'])
        self.assertFalse(download.is_trusted_code(self.dest, 'mine.py'))

    def test_loader_refuses_untrusted_code(self):
        self.config(group='download', allow_plugin_code=False)
        download.fetch_all(self.dest, [self.server.url('/mine.py')])
        self.config(group='download', allow_plugin_code=True)
        e = self.assertRaises(exception.WorkflowError,
                              plugins.action_class, 'mine', self.dest)
        self.assertIn('not downloaded from an https URL with a sha256',
                      str(e))

    def test_https_verifies_the_certificate(self):
        self.config(group='download', ca_file=None)
        e = self.assertRaises(exception.DownloadError, download.fetch_all,
                              self.dest, [{'url': self.tls.url('/mine.py'),
                                           'sha256': self.sha}])
        self.assertIn('certificate is not valid', str(e))


class TestCreateTimeCheck(base.TestCase):
    """What the API asks before it passes a create to the engine."""

    def test_refusals_name_the_field(self):
        for items, text in (
                (['http://example.com/a'], 'download[0]: Download of '
                 'http://example.com/a refused by the download policy '
                 '(scheme)'),
                (['https://ok.example/a', {'url': 'https://127.0.0.1/b'}],
                 'download[1].url: '),
                (['https://[::1]/b'], '(host)'),
                (['file:///etc/passwd'], '(scheme)'),
                (['https://u:secret@10.0.0.1/x'], '***@10.0.0.1')):
            e = self.assertRaises(exception.Invalid,
                                  download_entries.check_entries, items)
            self.assertIn(text, str(e))
            self.assertNotIn('secret', str(e))
        # Names are not resolved here: the engine does that.
        download_entries.check_entries(['https://repo.example/a.tgz'])

    def test_plugin_code(self):
        self.config(group='download', allow_plugin_code=True)
        e = self.assertRaises(exception.Invalid,
                              download_entries.check_entries,
                              ['https://repo.example/mine.py'])
        self.assertIn('(plug-in code)', str(e))
        download_entries.check_entries([{'url': 'https://repo.example/m.py',
                                        'sha256': 'a' * 64}])
