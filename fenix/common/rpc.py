# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""oslo.messaging plumbing: transports, serializer, servers and clients.

Two modes:

* ``oslo`` (production): RPC over ``[DEFAULT] transport_url``.
* ``local`` (the all-in-one): no broker; the RPC client calls the engine's
  manager object in the same process. Arguments and results still make a
  JSON round trip so both modes see exactly the same data.
"""
import copy
import functools
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging as messaging
from oslo_serialization import jsonutils

from fenix.common import context as fenix_context
from fenix.common import exception
from fenix.common import transient

LOG = logging.getLogger(__name__)

ALLOWED_EXMODS = [exception.__name__]

_LOCK = threading.Lock()
_TRANSPORT = None
_NOTIFICATION_TRANSPORT = None
# The manager serving calls in local mode (set by the all-in-one).
_LOCAL_MANAGER = None

# The context key carrying a request's deadline (seconds since the epoch):
# the engine does not carry out a request it gets later (the API has
# answered 503 by then). Engines and APIs are expected to keep their clocks
# in step (NTP).
DEADLINE_KEY = 'fenix_deadline'

# The engine's database, as its RPC endpoint sees it (one log line per
# outage).
_ENDPOINT_DB = transient.OutageLog('Engine RPC: the database', LOG)


def set_local_manager(manager):
    """Route every RPC call in this process to ``manager``."""
    global _LOCAL_MANAGER
    _LOCAL_MANAGER = manager


def clear_local_manager(manager):
    """``manager`` stopped: calls in this process no longer go to it (an
    in-process call is then EngineUnavailable, as with no engine)."""
    global _LOCAL_MANAGER
    with _LOCK:
        if _LOCAL_MANAGER is manager:
            _LOCAL_MANAGER = None


def local_mode():
    return _LOCAL_MANAGER is not None


def get_transport(conf=None):
    global _TRANSPORT
    with _LOCK:
        if _TRANSPORT is None:
            _TRANSPORT = messaging.get_rpc_transport(
                conf or cfg.CONF, allowed_remote_exmods=ALLOWED_EXMODS)
        return _TRANSPORT


def get_notification_transport(conf=None):
    global _NOTIFICATION_TRANSPORT
    with _LOCK:
        if _NOTIFICATION_TRANSPORT is None:
            _NOTIFICATION_TRANSPORT = messaging.get_notification_transport(
                conf or cfg.CONF, allowed_remote_exmods=ALLOWED_EXMODS)
        return _NOTIFICATION_TRANSPORT


def cleanup():
    global _TRANSPORT, _NOTIFICATION_TRANSPORT, _LOCAL_MANAGER
    with _LOCK:
        for transport in (_TRANSPORT, _NOTIFICATION_TRANSPORT):
            if transport is not None:
                transport.cleanup()
        _TRANSPORT = _NOTIFICATION_TRANSPORT = _LOCAL_MANAGER = None


# Deepest nesting of lists and dicts an RPC argument or result may have.
# The API refuses bodies deeper than fenix.api.validation.MAX_DEPTH (32);
# the engine adds a few levels around them.
MAX_ENTITY_DEPTH = 64


def to_primitive(value):
    """``value`` as JSON data (dicts, lists, str, numbers, bool, None).

    Walks containers itself, without recursion, so that no nesting raises
    RecursionError: beyond MAX_ENTITY_DEPTH it raises Invalid (400) instead.
    Other objects (datetimes, ...) go through oslo's to_primitive.
    """
    root = [value]
    stack = [(root, 0, value, 0)]
    while stack:
        parent, key, item, depth = stack.pop()
        if isinstance(item, (str, int, float, bool)) or item is None:
            parent[key] = item
            continue
        if isinstance(item, (dict, list, tuple, set, frozenset)):
            if depth >= MAX_ENTITY_DEPTH:
                raise exception.Invalid(
                    reason='data nested deeper than %d levels'
                           % MAX_ENTITY_DEPTH)
            if isinstance(item, dict):
                copy = {}
                for k, v in item.items():
                    k = k if isinstance(k, str) else jsonutils.to_primitive(
                        k, convert_instances=True)
                    copy[k] = None
                    stack.append((copy, k, v, depth + 1))
            else:
                copy = [None] * len(item)
                for i, v in enumerate(item):
                    stack.append((copy, i, v, depth + 1))
            parent[key] = copy
            continue
        parent[key] = jsonutils.to_primitive(item, convert_instances=True)
    return root[0]


class RequestContextSerializer(messaging.Serializer):
    """Carries the request context across RPC; entities are JSON already."""

    def serialize_entity(self, ctxt, entity):
        return to_primitive(entity)

    def deserialize_entity(self, ctxt, entity):
        return entity

    def serialize_context(self, ctxt):
        values = ctxt.to_dict()
        deadline = getattr(ctxt, DEADLINE_KEY, None)
        if deadline is not None:
            values[DEADLINE_KEY] = deadline
        return values

    def deserialize_context(self, ctxt):
        ctxt = dict(ctxt)
        deadline = ctxt.pop(DEADLINE_KEY, None)
        context = fenix_context.RequestContext.from_dict(ctxt)
        setattr(context, DEADLINE_KEY, deadline)
        return context


def with_deadline(context, deadline):
    """A copy of ``context`` that carries ``deadline`` to the engine."""
    context = copy.copy(context)
    setattr(context, DEADLINE_KEY, deadline)
    return context


def guarded(name, fn):
    """What the engine's RPC endpoint runs for ``fn`` (the manager's
    method ``name``):

    * a request whose deadline passed is dropped (RequestExpired): the API
      answered 503 for it already, it must not take effect later;
    * the database being unreachable answers DatabaseUnavailable (503;
      the API says "try again later"), logged once per outage rather than
      with a traceback per request.
    """
    @functools.wraps(fn)
    def call(ctxt, *args, **kwargs):
        deadline = getattr(ctxt, DEADLINE_KEY, None)
        if deadline is not None and time.time() > deadline:
            LOG.info('Dropped %s: it arrived %.1f s after its deadline',
                     name, time.time() - deadline)
            raise exception.RequestExpired(method=name)
        return _ENDPOINT_DB.call_db(fn, ctxt, *args, **kwargs)
    return call


def get_server(target, endpoints, conf=None):
    return messaging.get_rpc_server(
        get_transport(conf), target, endpoints, executor='threading',
        serializer=RequestContextSerializer(),
        access_policy=messaging.DefaultRPCAccessPolicy)


class LocalClient(object):
    """Same interface as the part of RPCClient that rpcapi uses."""

    def __init__(self, version_cap, target_version=None):
        self.version_cap = version_cap
        self.target_version = target_version

    def prepare(self, version=None, **kwargs):
        return LocalClient(self.version_cap, version)

    def can_send_version(self, version):
        return messaging.version_is_compatible(self.version_cap, version)

    def _invoke(self, ctxt, method, kwargs):
        manager = _LOCAL_MANAGER
        if manager is None:
            raise exception.EngineUnavailable(
                reason='no engine in this process')
        ctxt = fenix_context.RequestContext.from_dict(ctxt.to_dict())
        kwargs = jsonutils.loads(jsonutils.dumps(to_primitive(kwargs)))
        result = guarded(method, getattr(manager, method))(ctxt, **kwargs)
        return jsonutils.loads(jsonutils.dumps(to_primitive(result)))

    def call(self, ctxt, method, **kwargs):
        return self._invoke(ctxt, method, kwargs)

    def cast(self, ctxt, method, **kwargs):
        try:
            self._invoke(ctxt, method, kwargs)
        except Exception:
            LOG.exception('Local cast %s failed', method)


def get_client(target, version_cap, timeout=None, conf=None, retry=None):
    """``retry``: how many times a message is tried again when the broker
    cannot be reached (None: until it can; 0: not)."""
    if local_mode():
        return LocalClient(version_cap)
    return messaging.get_rpc_client(
        get_transport(conf), target, version_cap=version_cap,
        serializer=RequestContextSerializer(), timeout=timeout, retry=retry)
