# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``/healthcheck``: 200 only when the engine and the database answer.

oslo.middleware's health check (``[healthcheck]`` options: backends,
``allowed_source_ranges``, ``detailed``...) with two checks of Fenix's own:

* **engine**: an RPC ``ping`` with a short timeout (``[api]
  healthcheck_timeout``), sent without publish retries;
* **database**: the engine's answer says whether its ``SELECT 1`` worked
  (the API reaches the database only through the engine).

Either failing makes the answer 503. The reasons say which part is down
(``engine: unreachable``, ``database: unreachable``); why (the error, the
engine's name) is shown only in oslo.middleware's detailed mode
(``[healthcheck] detailed = true``), for admins' networks: combine it with
``allowed_source_ranges``. A check runs at most once at a time and its
result is reused for :data:`CACHE_SECONDS`, so that anonymous health checks
cannot flood the engine.
"""
import threading
import time

from oslo_log import log as logging
import oslo_messaging as messaging
from oslo_middleware import healthcheck
from oslo_middleware.healthcheck import pluginbase

from fenix.common import context
from fenix.common import rpc

LOG = logging.getLogger(__name__)

# Seconds a check's result is reused.
CACHE_SECONDS = 1.0


class _Extension(object):
    """What oslo's health check iterates over: an object at ``.obj``."""

    def __init__(self, obj):
        self.obj = obj


class EngineProbe(object):
    """Pings the engine; answers (engine result, database result).

    :param engine_api: an object with ``ping(context)`` (tests); default:
        an RPC client of the engine's topic.
    """

    def __init__(self, conf, engine_api=None):
        self.conf = conf
        self.engine_api = engine_api
        self.cache_seconds = CACHE_SECONDS
        self._lock = threading.Lock()
        self._running = None
        self._last = None   # (monotonic time, results)

    def _ping(self):
        ctx = context.get_admin_context()
        if self.engine_api is not None:
            return self.engine_api.ping(ctx)
        from fenix.engine import rpcapi
        timeout = self.conf.api.healthcheck_timeout
        client = rpc.get_client(
            messaging.Target(topic=self.conf.engine.topic,
                             version=rpcapi.RPC_API_VERSION),
            version_cap=rpcapi.RPC_API_VERSION, timeout=timeout)
        # 1.0: ping is understood by an engine of any version.
        return client.prepare(version='1.0', timeout=timeout,
                              retry=0).call(ctx, 'ping')

    def _check(self):
        timeout = self.conf.api.healthcheck_timeout
        outcome = {}

        def run():
            try:
                outcome['answer'] = self._ping()
            except Exception as e:
                outcome['error'] = e

        started = time.monotonic()
        thread = threading.Thread(target=run, name='fenix-healthcheck',
                                  daemon=True)
        thread.start()
        # The RPC call has its own timeout; this bounds whatever it does
        # beyond it (connecting to a broker that is down...).
        thread.join(timeout + 1)
        took = time.monotonic() - started
        if thread.is_alive():
            self._running = thread
            return (_down('engine', 'no answer to ping within %d s'
                          % timeout),
                    _unknown('database'))
        if 'error' in outcome:
            e = outcome['error']
            return (_down('engine', 'ping failed after %.1f s: %s: %s'
                          % (took, type(e).__name__, e)),
                    _unknown('database'))
        answer = outcome.get('answer')
        if not isinstance(answer, dict):
            return (_down('engine', 'unexpected answer to ping: %r'
                          % (answer,)), _unknown('database'))
        engine = _up('engine', 'engine %s answered in %.3f s, running %s '
                     'session(s)' % (answer.get('engine'), took,
                                     answer.get('sessions')))
        database = answer.get('database')
        if database == 'ok':
            return engine, _up('database', 'SELECT 1 worked on engine %s'
                               % answer.get('engine'))
        return engine, _down('database', 'engine %s: %s' % (
            answer.get('engine'), database or 'no database status'))

    def results(self):
        with self._lock:
            now = time.monotonic()
            if (self._last is not None
                    and now - self._last[0] < self.cache_seconds):
                return self._last[1]
            if self._running is not None and self._running.is_alive():
                results = (_down('engine', 'the previous ping has not '
                                 'been answered yet'),
                           _unknown('database'))
            else:
                self._running = None
                results = self._check()
            for result in results:
                if not result.available:
                    LOG.warning('Health check: %s (%s)', result.reason,
                                result.details)
            self._last = (time.monotonic(), results)
            return results


class _Check(object):
    """One of the probe's two results, as an oslo health check backend."""

    def __init__(self, probe, index):
        self.probe = probe
        self.index = index

    def healthcheck(self, server_port):
        return self.probe.results()[self.index]


def _up(part, details):
    return pluginbase.HealthcheckResult(True, '%s: OK' % part, details)


def _down(part, details):
    return pluginbase.HealthcheckResult(False, '%s: unreachable' % part,
                                        details)


def _unknown(part):
    return pluginbase.HealthcheckResult(
        False, '%s: unknown' % part,
        'not checked: the engine, which checks it, did not answer')


class Healthcheck(healthcheck.Healthcheck):
    """oslo.middleware's health check plus the engine and database checks.

    The configured ``[healthcheck] backends`` (e.g. ``disable_by_file``)
    run first.
    """

    def __init__(self, application, conf, engine_api=None):
        super().__init__(application, conf)
        self.probe = EngineProbe(conf, engine_api)
        self._backends = list(self._backends) + [
            _Extension(_Check(self.probe, 0)),
            _Extension(_Check(self.probe, 1))]
