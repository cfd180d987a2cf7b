# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Small helpers shared by every part of the simulated cloud.

HTTP errors are plain exceptions carrying a status code; each service's
front end turns them into the error body that the real service would send.
"""
import datetime
import hashlib
import os
import time
import uuid

# Namespace for the stable ids derived from names (projects, users, hosts,
# servers declared in a topology file): the same topology always yields the
# same ids, which keeps demos and saved states reproducible.
NAMESPACE = uuid.UUID('5c2f5f4e-8a7e-4d57-9a0c-f3b3c1d2e6a1')


_NS_BYTES = NAMESPACE.bytes


def _uuid5_hex(kind, name):
    # uuid.uuid5 without building UUID objects (loading 10 000 servers
    # computes tens of thousands of these).
    digest = bytearray(hashlib.sha1(
        _NS_BYTES + ('%s:%s' % (kind, name)).encode('utf-8')).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    return digest.hex()


def _dashed(h):
    return '%s-%s-%s-%s-%s' % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def stable_uuid(kind, name):
    """A UUID string derived from a kind and a name (always the same)."""
    return _dashed(_uuid5_hex(kind, name))


def stable_hex(kind, name):
    """A 32-hex id (Keystone style) derived from a kind and a name."""
    return _uuid5_hex(kind, name)


def new_uuid():
    """A random (version 4) UUID string."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return _dashed(raw.hex())


def request_id():
    return 'req-' + new_uuid()


_wall_cache = (None, '')


def wall_clock():
    """Now as ``2026-11-22T13:31:40.045252`` (UTC), cheaply."""
    global _wall_cache
    now = time.time()
    sec = int(now)
    cached_sec, prefix = _wall_cache
    if cached_sec != sec:
        prefix = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(sec))
        _wall_cache = (sec, prefix)
    return '%s.%06d' % (prefix, int((now - sec) * 1e6))


def utcnow():
    """Naive UTC now (the form OpenStack services keep in their DBs)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def iso_z(dt):
    """``2026-11-22T13:31:40Z`` (Nova server ``created``/``updated``)."""
    return dt.strftime('%Y-%m-%dT%H:%M:%SZ')


def iso_micro(dt):
    """``2026-11-22T13:31:40.045252`` (Nova records, AODH timestamps)."""
    return dt.strftime('%Y-%m-%dT%H:%M:%S.%f')


def iso_micro_z(dt):
    """``2026-11-22T13:31:40.045252Z`` (Keystone token times)."""
    return dt.strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def parse_time(value):
    """Parse an ISO 8601 or ``YYYY-MM-DD HH:MM:SS`` string to naive UTC.

    Raises ValueError when the string is not a time.
    """
    if isinstance(value, datetime.datetime):
        dt = value
    else:
        text = str(value).strip()
        if text.endswith(('Z', 'z')):
            text = text[:-1] + '+00:00'
        dt = datetime.datetime.fromisoformat(text)
    if dt.tzinfo is not None:
        dt = dt.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return dt


_TRUE = ('1', 't', 'true', 'on', 'y', 'yes')
_FALSE = ('0', 'f', 'false', 'off', 'n', 'no')


def parse_bool(value, default=None, strict=False):
    """oslo's bool_from_string, in short."""
    if isinstance(value, bool):
        return value
    if isinstance(value, bytes):
        value = value.decode('utf-8', 'replace')
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if strict:
        raise ValueError('Unrecognized value %r, acceptable values are: %s'
                         % (value, ', '.join(_TRUE + _FALSE)))
    return default


def find(mapping, key, message, visible=None):
    """``mapping[key]``, or :class:`NotFound` with ``message``.

    Also NotFound when ``visible(item)`` is false: the item exists but the
    caller may not see it (another project's), which the APIs answer as
    if it did not exist.
    """
    item = mapping.get(key)
    if item is None or (visible is not None and not visible(item)):
        raise NotFound(message)
    return item


class HTTPError(Exception):
    """An error that becomes an HTTP answer with this status."""

    status = 500
    title = 'Internal Server Error'

    def __init__(self, message=None, status=None, headers=None):
        super().__init__(message or self.title)
        self.message = message or self.title
        if status is not None:
            self.status = status
        self.headers = headers or {}


class BadRequest(HTTPError):
    status = 400
    title = 'Bad Request'


class Unauthorized(HTTPError):
    status = 401
    title = 'Unauthorized'


class Forbidden(HTTPError):
    status = 403
    title = 'Forbidden'


class NotFound(HTTPError):
    status = 404
    title = 'Not Found'


class MethodNotAllowed(HTTPError):
    status = 405
    title = 'Method Not Allowed'


class NotAcceptable(HTTPError):
    status = 406
    title = 'Not Acceptable'


class Conflict(HTTPError):
    status = 409
    title = 'Conflict'


class ServiceUnavailable(HTTPError):
    status = 503
    title = 'Service Unavailable'
