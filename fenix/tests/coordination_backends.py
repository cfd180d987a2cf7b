# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The etcd and ZooKeeper servers of the coordination tests.

Opportunistic, like the databases: a test over etcd runs against
``FENIX_TEST_ETCD_URL`` (default ``etcd3+http://127.0.0.1:2379``) and is
skipped when nothing answers there or the client library (etcd3gw) is
missing, unless ``FENIX_REQUIRE_ETCD=1``: then it fails. The same for
ZooKeeper with ``FENIX_TEST_ZOOKEEPER_URL`` (default
``zookeeper://127.0.0.1:2181``), kazoo and ``FENIX_REQUIRE_ZOOKEEPER=1``.
``tools/ci/ensure-etcd.sh`` and ``tools/ci/ensure-zookeeper.sh`` start
private servers and print their URLs.
"""
import collections
import importlib
import os
import socket
import urllib.parse

Backend = collections.namedtuple(
    'Backend', 'name url_env default_url require_env module')

ETCD = Backend('etcd', 'FENIX_TEST_ETCD_URL', 'etcd3+http://127.0.0.1:2379',
               'FENIX_REQUIRE_ETCD', 'etcd3gw')
ZOOKEEPER = Backend('ZooKeeper', 'FENIX_TEST_ZOOKEEPER_URL',
                    'zookeeper://127.0.0.1:2181', 'FENIX_REQUIRE_ZOOKEEPER',
                    'kazoo')


def required(backend):
    return os.environ.get(backend.require_env, '').strip().lower() in (
        '1', 'true', 'yes')


def url(backend):
    return os.environ.get(backend.url_env) or backend.default_url


def unavailable(backend):
    """Why the backend cannot be used (None when it can)."""
    try:
        importlib.import_module(backend.module)
    except ImportError:
        return 'the Python package %s is not installed' % backend.module
    parsed = urllib.parse.urlsplit(url(backend))
    try:
        socket.create_connection((parsed.hostname, parsed.port),
                                 timeout=2).close()
    except OSError as exc:
        return 'no %s at %s (%s)' % (backend.name, url(backend), exc)
    return None


def url_or_skip(testcase, backend):
    """The backend's URL; skips ``testcase`` (fails it when the backend
    is required) when the backend is not there."""
    why = unavailable(backend)
    if why:
        if required(backend):
            testcase.fail('%s=1: %s' % (backend.require_env, why))
        testcase.skipTest('%s (set %s)' % (why, backend.url_env))
    return url(backend)
