# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Session downloads (SPEC 3.6): fetch, check, keep track.

A session's ``download`` list holds URL strings or objects
``{"url", "sha256", "size"}``. :func:`fetch_all` fetches every entry into
the session's own directory before the workflow touches anything, under
the operator's policy (:mod:`fenix.common.download_policy`):

* only the schemes, hosts, addresses and directories the policy allows;
  a host name is resolved here, every address checked, and the
  connection made to the checked address (TLS still verifies the name);
* redirects (at most ``[download] max_redirects``) keep the scheme and
  are checked again; credentials (``user:password@``) go as HTTP basic
  auth, and only to the URL's own server;
* ``[download] max_size`` bounds every file, ``[download] timeout`` every
  stall, ``[download] deadline`` the whole download; a stop of the
  session (delete, shutdown) ends it at once (:class:`_Watch`);
* a file grows in ``<name>.part`` and is renamed when complete and
  checked, so a file under its final name is always whole; a given
  ``size`` must match exactly and a given ``sha256`` the content;
* a manifest (``.fenix-downloads.json``) remembers what was fetched from
  where and its digest, so a restarted engine does not fetch again a file
  that is present and still matches;
* any failure raises :class:`fenix.common.exception.DownloadError` naming
  the URL (credentials redacted) and the reason: a refusal of the policy
  names its rule (:class:`~fenix.common.exception.DownloadRefused`); what
  a server or port answered below HTTP is not repeated (only in the
  engine's log).

Files holding Python code (``.py``, wheels, eggs, archives with ``.py``
members) are only noted: Fenix never imports code from a download unless
``[download] allow_plugin_code`` is set, and then only a ``<name>.py``
that came from https with a sha256 (the manifest says ``trusted``).
"""
import errno
import hashlib
import http.client
import json
import os
import selectors
import socket
import ssl
import stat
import tarfile
import threading
import time
import urllib.parse
import zipfile

from oslo_config import cfg
from oslo_log import log as logging

from fenix.common import download_entries as entries
from fenix.common import download_policy as policy
from fenix.common import exception

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

MANIFEST = entries.MANIFEST
PART_SUFFIX = entries.PART_SUFFIX
CHUNK = 64 * 1024
CODE_SUFFIXES = ('.py', '.whl', '.egg')
ARCHIVE_SUFFIXES = ('.tar', '.tar.gz', '.tgz', '.tar.bz2', '.tar.xz',
                    '.zip')
REDIRECTS = (301, 302, 303, 307, 308)
DEFAULT_PORTS = {policy.HTTP: 80, policy.HTTPS: 443}
# Seconds between two looks at the deadline and the session's stop.
POLL = 0.2
USER_AGENT = 'fenix-engine'
# Characters of a path or query sent as they are (the others quoted).
URL_SAFE = "/%:@!$&'()*+,;=-._~?"
# Why a watched transfer ended early.
END_DEADLINE = 'deadline'
END_STOPPED = 'stopped'

safe_url = policy.redact
Entry = entries.Entry
parse = entries.parse
parse_one = entries.parse_one


def _digest(path):
    sha = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(CHUNK), b''):
            sha.update(chunk)
    return sha.hexdigest()


def _load_manifest(directory):
    try:
        with open(os.path.join(directory, MANIFEST)) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_manifest(directory, manifest):
    path = os.path.join(directory, MANIFEST)
    tmp = path + PART_SUFFIX
    with open(tmp, 'w') as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def is_trusted_code(directory, name):
    """Was ``directory/name`` fetched from https with its sha256 checked
    (and is it still that content)? The condition to load it as a
    plug-in."""
    known = _load_manifest(directory).get(name)
    path = os.path.join(directory, name)
    if not known or not known.get('trusted') or not os.path.isfile(path):
        return False
    return _digest(path) == known.get('sha256')


def is_code(path):
    """Does this file hold Python code (a possible plug-in)?"""
    lower = path.lower()
    if lower.endswith(CODE_SUFFIXES):
        return True
    if not lower.endswith(ARCHIVE_SUFFIXES):
        return False
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                return any(n.endswith('.py') for n in z.namelist())
        if tarfile.is_tarfile(path):
            with tarfile.open(path) as t:
                return any(n.endswith('.py') for n in t.getnames())
    except (OSError, tarfile.TarError, zipfile.BadZipFile):
        return False
    return False


def _present(directory, entry, manifest):
    """Is the entry already fetched and still good?"""
    path = os.path.join(directory, entry.name)
    known = manifest.get(entry.name)
    if not known or known.get('url') != safe_url(entry.url) or \
            not os.path.isfile(path):
        return False
    digest = _digest(path)
    if digest != known.get('sha256'):
        return False
    if entry.sha256 and entry.sha256 != digest:
        return False
    if entry.size is not None and os.path.getsize(path) != entry.size:
        return False
    return True


# --- the watch: deadline and stop -----------------------------------------
class _Watch(object):
    """Ends a download at its deadline or when its session stops.

    A thread looks every :data:`POLL` seconds; when the time is up or
    ``stopping()`` is true it shuts the current socket down, so that a
    read blocked on a trickling server returns at once. The fetching
    thread calls :meth:`check` between its steps.
    """

    def __init__(self, url, stopping=None):
        self.url = url
        self.deadline = time.monotonic() + CONF.download.deadline
        self._stopping = stopping or (lambda: False)
        self.reason = None
        self._sock = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='download-watch')

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()

    def _run(self):
        while not self._done.wait(POLL):
            if self._stopping():
                reason = END_STOPPED
            elif time.monotonic() >= self.deadline:
                reason = END_DEADLINE
            else:
                continue
            with self._lock:
                self.reason = reason
                self._kill()
            return

    def _kill(self):
        if self._sock is not None:
            try:
                # The plain socket's shutdown, also under TLS: the
                # blocked read sees the end of the stream.
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def attach(self, sock):
        with self._lock:
            self._sock = sock
            if self.reason:
                self._kill()

    def check(self):
        """Raise if the download has to end now."""
        if self.reason is None and self._stopping():
            self.reason = END_STOPPED
        if self.reason == END_STOPPED:
            raise exception.DownloadStopped(url=safe_url(self.url),
                                            reason='the session stopped')
        if self.reason == END_DEADLINE or \
                time.monotonic() >= self.deadline:
            self.reason = END_DEADLINE
            raise exception.DownloadRefused(
                url=safe_url(self.url), policy=policy.DEADLINE,
                reason='not done within %d seconds ([download] deadline)'
                % CONF.download.deadline)

    def remaining(self):
        return max(0.0, self.deadline - time.monotonic())


# --- fetching ---------------------------------------------------------------
def _unreachable(url, detail):
    """The server could not be reached or spoke no proper HTTP: what it
    (or the port) answered goes to the log, not to the session."""
    LOG.warning('Download of %s: %s', safe_url(url), detail)
    return exception.DownloadError(
        url=safe_url(url), reason='the server could not be reached or did '
                                  'not answer HTTP properly (details in '
                                  'the engine log)')


def _resolve(url, host, port, watch):
    """Every address of ``host``, each allowed by the policy."""
    found = {}

    def lookup():
        try:
            found['infos'] = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as e:
            found['error'] = e

    thread = threading.Thread(target=lookup, daemon=True,
                              name='download-resolve')
    thread.start()
    while thread.is_alive():
        thread.join(POLL)
        watch.check()
    if 'error' in found or not found.get('infos'):
        LOG.warning('Download of %s: %s does not resolve: %s',
                    safe_url(url), host, found.get('error'))
        raise exception.DownloadError(
            url=safe_url(url), reason='host %s does not resolve' % host)
    infos = found['infos']
    for info in infos:
        policy.check_address(url, host, info[4][0])
    return infos


def _connect(url, infos, watch):
    """A socket connected to one of the (checked) addresses."""
    errors = []
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            err = sock.connect_ex(address)
            if err not in (0, errno.EINPROGRESS):
                raise OSError(err, os.strerror(err))
            started = time.monotonic()
            with selectors.DefaultSelector() as sel:
                sel.register(sock, selectors.EVENT_WRITE)
                while not sel.select(POLL):
                    watch.check()
                    if time.monotonic() - started > CONF.download.timeout:
                        raise socket.timeout('connect timed out')
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))
            # Still the checked address (re-checked after connect).
            peer = sock.getpeername()[0]
            if peer != address[0]:
                raise OSError('connected to another address')
            sock.setblocking(True)
            sock.settimeout(CONF.download.timeout)
            return sock
        except OSError as e:
            sock.close()
            errors.append('%s: %s' % (address[0], e))
        except BaseException:
            sock.close()
            raise
    raise _unreachable(url, '; '.join(errors))


class _Connection(http.client.HTTPConnection):
    """HTTP over a socket already connected to the checked address."""

    def __init__(self, host, port, sock):
        super().__init__(host, port, timeout=CONF.download.timeout)
        self.sock = sock

    def connect(self):
        # Never a connection of its own (it would resolve the name again).
        raise http.client.NotConnected('no new connection')


def _tls(url, sock, host, watch):
    context = ssl.create_default_context(cafile=CONF.download.ca_file)
    tls = context.wrap_socket(sock, server_hostname=host,
                              do_handshake_on_connect=False)
    watch.attach(tls)
    try:
        tls.do_handshake()
    except ssl.SSLCertVerificationError as e:
        tls.close()
        watch.check()
        raise exception.DownloadError(
            url=safe_url(url), reason='the server certificate is not '
                                      'valid for %s: %s'
            % (host, e.verify_message))
    except OSError as e:
        tls.close()
        watch.check()
        raise _unreachable(url, 'TLS handshake: %s' % e)
    return tls


def _open_http(entry, watch):
    """The response to ``entry.url`` after the redirects, from a server
    the policy allows."""
    url, auth = policy.split_credentials(entry.url)
    origin = _origin(url)
    scheme = origin[0]
    for hop in range(CONF.download.max_redirects + 1):
        policy.check_url(url)
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port or DEFAULT_PORTS[scheme]
        infos = _resolve(url, host, port, watch)
        sock = _connect(url, infos, watch)
        watch.attach(sock)
        if scheme == policy.HTTPS:
            sock = _tls(url, sock, host, watch)
        conn = _Connection(host, port, sock)
        headers = {'User-Agent': USER_AGENT, 'Accept-Encoding': 'identity'}
        if auth and _origin(url) == origin:
            headers['Authorization'] = auth
        target = urllib.parse.urlunsplit((
            '', '', urllib.parse.quote(parts.path or '/', safe=URL_SAFE),
            urllib.parse.quote(parts.query, safe=URL_SAFE), ''))
        try:
            conn.request('GET', target, headers=headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            watch.check()
            raise _unreachable(url, e)
        if resp.status == 200:
            return resp, conn
        location = resp.getheader('Location')
        conn.close()
        if resp.status not in REDIRECTS:
            raise exception.DownloadError(
                url=safe_url(entry.url),
                reason='the server answered HTTP %d' % resp.status)
        if not location:
            raise exception.DownloadError(
                url=safe_url(entry.url),
                reason='HTTP %d without a Location' % resp.status)
        following = urllib.parse.urljoin(url, location.strip())
        new_scheme = urllib.parse.urlsplit(following).scheme.lower()
        if new_scheme != scheme:
            raise exception.DownloadRefused(
                url=safe_url(entry.url), policy=policy.REDIRECT,
                reason='a redirect may not change the scheme (%s to %s)'
                % (scheme, new_scheme or 'none'))
        # Credentials in a Location are not used (nor shown).
        url = policy.split_credentials(following)[0]
        LOG.info('Download of %s: redirected (HTTP %d) to %s',
                 safe_url(entry.url), resp.status, safe_url(url))
    raise exception.DownloadRefused(
        url=safe_url(entry.url), policy=policy.REDIRECT,
        reason='more than %d redirects ([download] max_redirects)'
        % CONF.download.max_redirects)


def _origin(url):
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or '').lower(), \
        parts.port or DEFAULT_PORTS.get(scheme)


def _open_file(entry, watch):
    """An open regular file under ``[download] file_directories``."""
    path = policy.file_path(entry.url)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, 'O_NOFOLLOW', 0) | \
        getattr(os, 'O_CLOEXEC', 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise exception.DownloadError(
            url=safe_url(entry.url), reason='cannot open it: %s'
            % (e.strerror or e.__class__.__name__))
    f = os.fdopen(fd, 'rb')
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise exception.DownloadError(url=safe_url(entry.url),
                                          reason='not a regular file')
        # What was opened is still under the directories (a link swapped
        # in after the check is caught here).
        proc = '/proc/self/fd/%d' % fd
        if os.path.exists(proc):
            policy.file_path('file://' + urllib.parse.quote(
                os.readlink(proc)))
    except BaseException:
        f.close()
        raise
    return f


def _check_length(entry, length, max_size):
    if length and length.isdigit() and int(length) > max_size:
        raise exception.DownloadRefused(
            url=safe_url(entry.url), policy=policy.SIZE,
            reason='it is %s bytes, over the limit of %d bytes '
                   '([download] max_size)' % (length, max_size))


def _fetch(directory, entry, stopping=None):
    """Fetch one entry into ``directory``; returns (size, sha256)."""
    url = safe_url(entry.url)
    scheme = policy.check_url(entry.url)
    policy.check_plugin_code(entry.url, entry.name, entry.sha256)
    max_size = CONF.download.max_size
    limit = max_size if entry.size is None else min(entry.size, max_size)
    if entry.size is not None and entry.size > max_size:
        raise exception.DownloadRefused(
            url=url, policy=policy.SIZE,
            reason='its size %d bytes is over the limit of %d bytes '
                   '([download] max_size)' % (entry.size, max_size))
    final = os.path.join(directory, entry.name)
    part = final + PART_SUFFIX
    sha = hashlib.sha256()
    size = 0
    conn = None
    try:
        with _Watch(entry.url, stopping) as watch:
            try:
                if scheme == policy.FILE_SCHEME:
                    source = _open_file(entry, watch)
                else:
                    source, conn = _open_http(entry, watch)
                    _check_length(entry, source.getheader('Content-Length'),
                                  max_size)
                with source, open(part, 'wb') as out:
                    while True:
                        watch.check()
                        try:
                            chunk = source.read(CHUNK)
                        except socket.timeout:
                            watch.check()
                            raise exception.DownloadError(
                                url=url, reason='no data for %d seconds '
                                '([download] timeout)'
                                % CONF.download.timeout)
                        except (OSError, http.client.HTTPException) as e:
                            watch.check()
                            raise _unreachable(entry.url, e)
                        if not chunk:
                            break
                        size += len(chunk)
                        if size > limit:
                            raise exception.DownloadRefused(
                                url=url, policy=policy.SIZE,
                                reason=_too_big(entry, max_size))
                        sha.update(chunk)
                        out.write(chunk)
                # A stop or the deadline may have cut the stream short.
                watch.check()
            finally:
                if conn is not None:
                    conn.close()
    except exception.DownloadError:
        _remove(part)
        raise
    except (OSError, ValueError) as e:
        _remove(part)
        LOG.warning('Download of %s: %s', url, e)
        raise exception.DownloadError(url=url, reason='it could not be '
                                      'stored: %s' % e.__class__.__name__)
    digest = sha.hexdigest()
    problem = None
    if entry.size is not None and size != entry.size:
        problem = 'got %d bytes, expected %d' % (size, entry.size)
    elif entry.sha256 and digest != entry.sha256:
        problem = 'sha256 is %s, expected %s' % (digest, entry.sha256)
    if problem:
        _remove(part)
        raise exception.DownloadError(url=url, reason=problem)
    os.replace(part, final)
    return size, digest


def _too_big(entry, max_size):
    if entry.size is not None and entry.size <= max_size:
        return 'it is larger than the %d bytes announced' % entry.size
    return 'it is over the limit of %d bytes ([download] max_size)' % (
        max_size)


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def fetch_all(directory, items, stopping=None):
    """Fetch every item of a ``download`` list into ``directory``.

    ``stopping``: a function true once the session is to stop; the
    download in progress then ends at once with DownloadStopped.

    Returns one dict per item: ``url`` (without credentials), ``name``,
    ``path``, ``size``, ``sha256``, ``fetched`` (False when it was already
    there) and ``code`` (it holds Python code). Raises DownloadError on
    the first failure; files fetched before it stay (and are not fetched
    again next time).
    """
    entries = parse(items)
    if not entries:
        return []
    try:
        os.makedirs(directory, mode=0o750, exist_ok=True)
    except OSError as e:
        raise exception.DownloadError(
            url=safe_url(entries[0].url),
            reason='cannot create %s: %s' % (directory, e))
    manifest = _load_manifest(directory)
    results = []
    for entry in entries:
        path = os.path.join(directory, entry.name)
        if _present(directory, entry, manifest):
            known = manifest[entry.name]
            size, digest, fetched = known.get('size'), known['sha256'], False
        else:
            size, digest = _fetch(directory, entry, stopping)
            fetched = True
            # No credentials on disk either.
            manifest[entry.name] = {
                'url': safe_url(entry.url), 'size': size, 'sha256': digest,
                'trusted': bool(entry.sha256) and urllib.parse.urlsplit(
                    entry.url).scheme.lower() == policy.HTTPS}
            _save_manifest(directory, manifest)
            LOG.info('Downloaded %s to %s (%d bytes)', safe_url(entry.url),
                     path, size)
        results.append({'url': safe_url(entry.url), 'name': entry.name,
                        'path': path, 'size': size, 'sha256': digest,
                        'fetched': fetched, 'code': is_code(path)})
    return results
