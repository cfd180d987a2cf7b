# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Session downloads (SPEC 3.6): fetch, check, keep track.

A session's ``download`` list holds URL strings or objects
``{"url", "sha256", "size"}``. :func:`fetch_all` fetches every entry
(``http``, ``https`` and ``file`` URLs) into the session's own directory
before the workflow touches anything:

* a file grows in ``<name>.part`` and is renamed when complete and
  checked, so a file under its final name is always whole;
* ``[download] max_size`` bounds every file, ``[download] timeout`` bounds
  every stall of the transfer, a given ``size`` must match exactly and a
  given ``sha256`` must match the content;
* a manifest (``.fenix-downloads.json``) remembers what was fetched from
  where and its digest, so a restarted engine does not fetch again a file
  that is present and still matches;
* any failure raises :class:`fenix.common.exception.DownloadError` naming
  the URL and the reason.

Files holding Python code (``.py``, wheels, eggs, archives with ``.py``
members) are only noted: Fenix never imports code from a download unless
``[download] allow_plugin_code`` is set.
"""
import hashlib
import json
import os
import re
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile

from oslo_config import cfg
from oslo_log import log as logging

from fenix.common import exception

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

MANIFEST = '.fenix-downloads.json'
PART_SUFFIX = '.part'
SCHEMES = ('http', 'https', 'file')
CHUNK = 64 * 1024
CODE_SUFFIXES = ('.py', '.whl', '.egg')
ARCHIVE_SUFFIXES = ('.tar', '.tar.gz', '.tgz', '.tar.bz2', '.tar.xz',
                    '.zip')


class Entry(object):
    """One item of a session's ``download`` list."""

    def __init__(self, url, sha256=None, size=None):
        self.url = url
        self.sha256 = sha256.lower() if sha256 else None
        self.size = size
        self.name = None

    @classmethod
    def parse(cls, item):
        if isinstance(item, str):
            return cls(item.strip())
        if isinstance(item, dict) and isinstance(item.get('url'), str):
            size = item.get('size')
            if size is not None and (not isinstance(size, int) or
                                     isinstance(size, bool) or size < 0):
                raise exception.DownloadError(
                    url=safe_url(item['url']),
                    reason='size must be a number of bytes, not %r' % size)
            sha = item.get('sha256')
            if sha is not None and not re.match(r'^[0-9a-fA-F]{64}$',
                                                str(sha)):
                raise exception.DownloadError(
                    url=safe_url(item['url']),
                    reason='sha256 must be 64 hexadecimal digits')
            return cls(item['url'].strip(), sha, size)
        raise exception.DownloadError(
            url=repr(item)[:100],
            reason='an entry must be a URL or an object with a url')


def safe_url(url):
    """The URL without user name and password (for messages)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url
    if parts.username or parts.password:
        netloc = parts.hostname or ''
        if parts.port:
            netloc += ':%s' % parts.port
        parts = parts._replace(netloc=netloc)
    return urllib.parse.urlunsplit(parts)


def _file_name(url, index, taken):
    path = urllib.parse.urlsplit(url).path
    name = os.path.basename(urllib.parse.unquote(path))
    name = re.sub(r'[^A-Za-z0-9._+-]', '_', name).lstrip('.')
    if not name or name.endswith(PART_SUFFIX) or name == MANIFEST:
        name = 'download-%d' % index
    if name in taken:
        name = '%d-%s' % (index, name)
    return name


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
    if not known or known.get('url') != entry.url or \
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


def _fetch(directory, entry):
    """Fetch one entry into ``directory``; returns (size, sha256)."""
    url = safe_url(entry.url)
    scheme = urllib.parse.urlsplit(entry.url).scheme.lower()
    if scheme not in SCHEMES:
        raise exception.DownloadError(
            url=url, reason="scheme '%s' is not supported (use %s)"
            % (scheme or 'none', ', '.join(SCHEMES)))
    max_size = CONF.download.max_size
    limit = max_size if entry.size is None else min(entry.size, max_size)
    if entry.size is not None and entry.size > max_size:
        raise exception.DownloadError(
            url=url, reason='its size %d bytes is over the limit of %d '
            'bytes ([download] max_size)' % (entry.size, max_size))
    final = os.path.join(directory, entry.name)
    part = final + PART_SUFFIX
    sha = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(entry.url,
                                    timeout=CONF.download.timeout) as resp:
            length = resp.headers.get('Content-Length')
            if length and length.isdigit() and int(length) > max_size:
                raise exception.DownloadError(
                    url=url, reason='it is %s bytes, over the limit of %d '
                    'bytes ([download] max_size)' % (length, max_size))
            with open(part, 'wb') as out:
                while True:
                    chunk = resp.read(CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > limit:
                        raise exception.DownloadError(
                            url=url, reason=_too_big(entry, max_size))
                    sha.update(chunk)
                    out.write(chunk)
    except exception.DownloadError:
        _remove(part)
        raise
    except urllib.error.HTTPError as e:
        _remove(part)
        raise exception.DownloadError(url=url, reason='HTTP %s %s'
                                      % (e.code, e.reason))
    except urllib.error.URLError as e:
        _remove(part)
        raise exception.DownloadError(url=url, reason=str(e.reason))
    except (OSError, ValueError) as e:
        _remove(part)
        raise exception.DownloadError(url=url, reason=str(e) or
                                      e.__class__.__name__)
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


def parse(items):
    """Entries of a ``download`` list, each with its file name."""
    entries = []
    taken = set()
    for index, item in enumerate(items or []):
        entry = Entry.parse(item)
        if not entry.url:
            raise exception.DownloadError(url="''",
                                          reason='the URL is empty')
        entry.name = _file_name(entry.url, index, taken)
        taken.add(entry.name)
        entries.append(entry)
    return entries


def fetch_all(directory, items):
    """Fetch every item of a ``download`` list into ``directory``.

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
            size, digest = _fetch(directory, entry)
            fetched = True
            manifest[entry.name] = {'url': entry.url, 'size': size,
                                    'sha256': digest}
            _save_manifest(directory, manifest)
            LOG.info('Downloaded %s to %s (%d bytes)', safe_url(entry.url),
                     path, size)
        results.append({'url': safe_url(entry.url), 'name': entry.name,
                        'path': path, 'size': size, 'sha256': digest,
                        'fetched': fetched, 'code': is_code(path)})
    return results
