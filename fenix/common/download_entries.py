# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The items of a session's ``download`` list (SPEC 3.6), as a create body
gives them: a URL string or an object ``{"url", "sha256", "size"}``, each
with the file name it is stored under.

Both the API's check of a create body (:mod:`fenix.common.download_policy`)
and the engine's fetch (:mod:`fenix.workflow.download`) read a list
through this module; it fetches nothing.
"""
import os
import re
import urllib.parse

from fenix.common import download_policy as policy
from fenix.common import exception

# The file where a session's directory records what it fetched, and the
# suffix of a file still growing: no entry is stored under either.
MANIFEST = '.fenix-downloads.json'
PART_SUFFIX = '.part'

safe_url = policy.redact


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
            url=safe_url(repr(item)[:100]),
            reason='an entry must be a URL or an object with a url')


def _file_name(url, index, taken):
    path = urllib.parse.urlsplit(url).path
    name = os.path.basename(urllib.parse.unquote(path))
    name = re.sub(r'[^A-Za-z0-9._+-]', '_', name).lstrip('.')
    if not name or name.endswith(PART_SUFFIX) or name == MANIFEST:
        name = 'download-%d' % index
    if name in taken:
        name = '%d-%s' % (index, name)
    return name


def parse_one(item, index, taken=()):
    """The entry of one item of a ``download`` list, with its file
    name."""
    entry = Entry.parse(item)
    if not entry.url:
        raise exception.DownloadError(url="''", reason='the URL is empty')
    entry.name = _file_name(entry.url, index, taken)
    return entry


def parse(items):
    """Entries of a ``download`` list, each with its file name."""
    entries = []
    taken = set()
    for index, item in enumerate(items or []):
        entry = parse_one(item, index, taken)
        taken.add(entry.name)
        entries.append(entry)
    return entries


def check_entries(items):
    """The API's check of a create body's ``download`` list (no network):
    raise Invalid naming the item the policy refuses."""
    for index, item in enumerate(items or []):
        field = 'download[%d]' % index
        if isinstance(item, dict):
            field += '.url'
        try:
            entry = parse_one(item, index)
            policy.check_url(entry.url)
            policy.check_plugin_code(entry.url, entry.name, entry.sha256)
        except exception.DownloadError as e:
            raise exception.Invalid(reason='%s: %s' % (field, e))
