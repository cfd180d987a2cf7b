# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Pecan's argument specs of controller methods, computed once.

At every request pecan (up to 1.7 at least) asks ``inspect`` for the
argument spec of the controller method it routes to and of the one it
invokes, and builds a new ``namedtuple`` class each time: about a tenth
of the CPU time of a small ``GET``. A function's spec never changes, so
:func:`install` has pecan's modules use a cache keyed by the function
(a bound method by its ``__func__``: controllers are made per request).
Anything that cannot be a key (or an unexpected pecan) falls back to
pecan's own function.
"""
import threading

from pecan import core
from pecan import rest
from pecan import routing
from pecan import util

# Bound on the cache: controller methods are a fixed, small set.
MAX_ENTRIES = 4096

_original = util.getargspec
_cache = {}
_lock = threading.Lock()


def getargspec(method):
    """pecan's :func:`pecan.util.getargspec`, cached per function."""
    key = getattr(method, '__func__', method)
    try:
        return _cache[key]
    except KeyError:
        pass
    except TypeError:   # not hashable
        return _original(method)
    spec = _original(method)
    with _lock:
        if len(_cache) < MAX_ENTRIES:
            _cache[key] = spec
    return spec


def install():
    """Use the cache in pecan's modules (idempotent)."""
    for module in (core, rest, routing):
        if getattr(module, 'getargspec', None) is _original:
            module.getargspec = getargspec
