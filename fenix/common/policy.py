# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Policy enforcement (oslo.policy, rules defined in code).

The rules live in :mod:`fenix.common.policies`; an operator overrides them
in the file named by ``[oslo_policy] policy_file``.
"""
import inspect
import sys
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging
from oslo_policy import _checks
from oslo_policy import opts as policy_opts
from oslo_policy import policy

from fenix.common import exception
from fenix.common import policies

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# Register [oslo_policy] now, so it can be configured before first use.
policy_opts.set_defaults(CONF)

_ENFORCER = None
_LOCK = threading.Lock()

# Seconds between two looks at the policy files (``[oslo_policy]
# policy_file`` and ``policy_dirs``) for changes.
RECHECK_INTERVAL = 1.0


class Enforcer(policy.Enforcer):
    """oslo.policy's enforcer, looking at its files at most once a second.

    oslo.policy's ``enforce`` calls ``load_rules`` at every check, which
    looks at (``stat``) the policy file and every policy directory to
    reload them when they changed: about 10 system calls and 13 % of the
    CPU time of a small ``GET`` of the API. This enforcer does that look
    at most every ``recheck_interval`` seconds (:data:`RECHECK_INTERVAL`),
    so an edited policy file applies within a second instead of at the
    next request.
    The rules in force are those last loaded: every check is still made
    against them. ``load_rules(force_reload=True)`` and ``clear()`` act at
    once, as oslo.policy's do.
    """

    def __init__(self, conf, recheck_interval=RECHECK_INTERVAL,
                 clock=time.monotonic, **kwargs):
        super().__init__(conf, **kwargs)
        self.recheck_interval = recheck_interval
        self._clock = clock
        self._checked_at = None

    def load_rules(self, force_reload=False):
        now = self._clock()
        checked = self._checked_at
        if (not force_reload and checked is not None and self.rules
                and 0 <= now - checked < self.recheck_interval):
            return
        super().load_rules(force_reload)
        self._checked_at = now

    def clear(self):
        super().clear()
        self._checked_at = None


class _CachedArgspecs(object):
    """``inspect`` for :mod:`oslo_policy._checks`, whose ``_check`` asks
    ``inspect.getfullargspec`` for every check of every rule it
    evaluates, at every request (about 4 % of the CPU time of a small
    ``GET``). A check class's ``__call__`` never changes: its spec is
    computed once per function (a bound method by its ``__func__``;
    anything unhashable is asked for each time). The rest of ``inspect``
    is inspect's own."""

    # Check classes are few (oslo.policy's and Fenix's).
    MAX_ENTRIES = 1024

    def __init__(self):
        self._specs = {}

    def __getattr__(self, name):
        return getattr(inspect, name)

    def getfullargspec(self, func):
        key = getattr(func, '__func__', func)
        try:
            return self._specs[key]
        except KeyError:
            pass
        except TypeError:
            return inspect.getfullargspec(func)
        spec = inspect.getfullargspec(func)
        if len(self._specs) < self.MAX_ENTRIES:
            self._specs[key] = spec
        return spec


if getattr(_checks, 'inspect', None) is inspect:
    _checks.inspect = _CachedArgspecs()


def init(conf=None):
    """The process-wide enforcer, created (with every rule) on first use."""
    global _ENFORCER
    with _LOCK:
        if _ENFORCER is None:
            enforcer = Enforcer(conf or CONF)
            enforcer.register_defaults(policies.list_rules())
            _ENFORCER = enforcer
        return _ENFORCER


def reset():
    """Forget the enforcer (tests; a new configuration)."""
    global _ENFORCER
    with _LOCK:
        if _ENFORCER is not None:
            _ENFORCER.clear()
        _ENFORCER = None


def get_enforcer():
    """The enforcer, for the oslopolicy-* command line tools.

    Those tools put options of their own (``--namespace``,
    ``--output-file`` ...) in ``sys.argv``; only ``--config-file`` and
    ``--config-dir`` are passed on to Fenix's configuration, so the tools
    see the policy file the service would use.
    """
    conf_args = []
    args = sys.argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        name = arg.split('=', 1)[0]
        if name in ('--config-file', '--config-dir'):
            if '=' in arg:
                conf_args.append(arg)
            elif i + 1 < len(args):
                conf_args.extend(args[i:i + 2])
                i += 1
        i += 1
    CONF(conf_args, project='fenix')
    return init()


def check(rule, target, context):
    """True when ``context`` may do ``rule`` on ``target``."""
    try:
        return init().authorize(rule, target, context, do_raise=False)
    except policy.InvalidScope:
        return False


def authorize(rule, target, context):
    """Raise Forbidden (403) naming ``rule`` unless it is allowed.

    ``context`` must be allowed to do ``rule`` on ``target``.

    A rule that is not registered is a programming error and raises
    ``oslo_policy.policy.PolicyNotRegistered``.
    """
    try:
        init().authorize(rule, target, context, do_raise=True,
                         exc=exception.Forbidden, action=rule)
    except policy.InvalidScope:
        LOG.debug('Policy %s refused: wrong token scope', rule)
        raise exception.Forbidden(action=rule)
