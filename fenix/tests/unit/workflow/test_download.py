# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Unit tests of session downloads (file:// URLs and a local HTTP server)."""
import functools
import hashlib
import http.server
import io
import os
import pathlib
import tarfile
import threading

from fenix.common import exception
from fenix.tests import base
from fenix.workflow import download


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class TestDownload(base.TestCase):

    def setUp(self):
        super().setUp()
        self.src = os.path.join(self.tmpdir, 'src')
        os.makedirs(self.src)
        self.dest = os.path.join(self.tmpdir, 'downloads', 'session-1')

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
        e = self.assertRaises(exception.DownloadError, download.fetch_all,
                              self.dest, ['file:///nonexistent/pkg.rpm'])
        self.assertIn('file:///nonexistent/pkg.rpm', str(e))

    def test_unsupported_scheme(self):
        e = self.assertRaises(exception.DownloadError, download.fetch_all,
                              self.dest, ['ftp://example.com/pkg.rpm'])
        self.assertIn("scheme 'ftp' is not supported", str(e))

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

    def test_credentials_not_shown(self):
        self.assertEqual('http://h:8080/p',
                         download.safe_url('http://u:secret@h:8080/p'))
        e = self.assertRaises(exception.DownloadError, download.fetch_all,
                              self.dest, ['http://u:secret@127.0.0.1:1/p'])
        self.assertNotIn('secret', str(e))
