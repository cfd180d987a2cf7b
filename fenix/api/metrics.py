# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``GET /metrics``: Fenix's figures in the Prometheus text format.

The figures are the engine's (RPC ``get_metrics``), computed from the
database at each scrape (:mod:`fenix.engine.metrics`): every API worker
gives the same answer, whichever engine it asks. They are rendered here
with prometheus_client, in a registry made for the one answer.

Who may scrape, the operator's choice:

* with a Keystone token allowed by the policy ``fenix:metrics:get`` (an
  admin by default): the request passes the authentication middleware as
  any API request does;
* from an address of ``[api] metrics_allowed_source_ranges``, without a
  token: :class:`AllowList` answers such a request before the
  authentication middleware.
"""
import ipaddress

from oslo_log import log as logging
from prometheus_client import core
from prometheus_client import exposition
import webob

from fenix.api import errors
from fenix.common import context as fenix_context
from fenix.common.policies import metrics as metrics_policy
from fenix.common import policy

LOG = logging.getLogger(__name__)

PATH = '/metrics'
PREFIX = 'fenix_'


def _histogram(name, documentation, labels, series):
    """A HistogramMetricFamily of ``series``: [(label values, figures of
    fenix.engine.metrics.histogram)]."""
    family = core.HistogramMetricFamily(name, documentation, labels=labels)
    for values, figures in series:
        buckets = [(str(le) if le == '+Inf' else repr(float(le)), count)
                   for le, count in figures['buckets']]
        family.add_metric(list(values), buckets, figures['sum'])
    return family


class _Collector(object):
    """prometheus_client's view of one answer of the engine."""

    def __init__(self, figures):
        self.figures = figures

    def collect(self):
        f = self.figures
        sessions = core.GaugeMetricFamily(
            PREFIX + 'sessions', 'Maintenance sessions the database holds, '
            'by state.', labels=['state'])
        for state, count in sorted(f['sessions'].items()):
            sessions.add_metric([state], count)
        yield sessions
        hosts = core.GaugeMetricFamily(
            PREFIX + 'hosts', 'Hosts of the sessions the database holds, '
            'by state.', labels=['state'])
        for state, count in sorted(f['hosts'].items()):
            hosts.add_metric([state], count)
        yield hosts
        moves = f['migrations']
        for what, doc in (('started', 'Requests to Nova to move an '
                           'instance off its host (each attempt).'),
                          ('done', 'Moves of instances that ended done.'),
                          ('failed', 'Moves of instances that ended '
                           'failed (their last attempt failed).')):
            yield core.CounterMetricFamily(
                PREFIX + 'migrations_%s' % what, doc, value=moves[what])
        yield _histogram(
            PREFIX + 'migration_duration_seconds',
            'Seconds from the start of a move (its last attempt) to its '
            'end, of the moves done.', [], [((), moves['duration'])])
        yield _histogram(
            PREFIX + 'reply_latency_seconds',
            'Seconds from an event sent to a project (or one of its '
            'instances) to the project\'s reply.', ['project_id'],
            [((pid,), h) for pid, h in sorted(f['reply_latency'].items())])
        for what, doc in (('sent', 'Notifications sent.'),
                          ('failed', 'Failed tries to send a '
                           'notification (each is tried again).')):
            family = core.CounterMetricFamily(
                PREFIX + 'notifications_%s' % what, doc,
                labels=['event_type'])
            for event_type, counts in sorted(f['notifications'].items()):
                family.add_metric([event_type], counts[what])
            yield family
        queued = core.GaugeMetricFamily(
            PREFIX + 'notifications_queued', 'Notifications recorded and '
            'not sent yet.', labels=['event_type'])
        for event_type, counts in sorted(f['notifications'].items()):
            queued.add_metric([event_type], counts['queued'])
        yield queued
        engines = core.GaugeMetricFamily(
            PREFIX + 'engine_heartbeat_age_seconds', 'Seconds since the '
            'last heartbeat of each registered engine.', labels=['engine'])
        for host, age in sorted(f['engines'].items()):
            engines.add_metric([host], age)
        yield engines


def render(figures):
    """The Prometheus text of the engine's figures (bytes)."""
    registry = core.CollectorRegistry(auto_describe=False)
    registry.register(_Collector(figures))
    return exposition.generate_latest(registry)


class Metrics(object):
    """The WSGI application of ``/metrics``.

    Behind the authentication middleware it checks the policy; called by
    :class:`AllowList` (``trusted``) it does not.
    """

    def __init__(self, engine_api_getter, trusted=False):
        self.engine_api = engine_api_getter
        self.trusted = trusted

    def __call__(self, environ, start_response):
        request = webob.Request(environ)
        try:
            response = self._answer(request)
        except Exception as e:
            response = errors.response_for(e, request)
        return response(environ, start_response)

    def _answer(self, request):
        if request.method not in ('GET', 'HEAD'):
            return errors.error_response(
                405, 'Method %s is not allowed on %s.'
                % (request.method, PATH), {'Allow': 'GET, HEAD'})
        ctx = fenix_context.RequestContext.from_environ(request.environ)
        if not self.trusted:
            policy.authorize(metrics_policy.GET, {}, ctx)
        figures = self.engine_api().get_metrics(
            fenix_context.get_admin_context())
        response = webob.Response(status=200)
        response.body = render(figures)
        response.headers['Content-Type'] = exposition.CONTENT_TYPE_LATEST
        return response


def parse_ranges(ranges):
    """The networks of ``[api] metrics_allowed_source_ranges``; a bad one
    raises ValueError naming it."""
    networks = []
    for text in ranges or []:
        try:
            networks.append(ipaddress.ip_network(text.strip(),
                                                 strict=False))
        except ValueError as e:
            raise ValueError('[api] metrics_allowed_source_ranges: %r is '
                             'not a network: %s' % (text, e))
    return networks


class AllowList(object):
    """``/metrics`` without a token for the addresses of ``networks``;
    other callers go on to ``application`` (authentication, then the
    policy)."""

    def __init__(self, application, networks, metrics_app):
        self.application = application
        self.networks = list(networks)
        self.metrics_app = metrics_app

    def allowed(self, environ):
        address = (environ.get('REMOTE_ADDR') or '').strip('[]')
        try:
            ip = ipaddress.ip_address(address.split('%')[0])
        except ValueError:
            return False
        return any(ip in net for net in self.networks
                   if net.version == ip.version)

    def __call__(self, environ, start_response):
        if self.networks and self.allowed(environ):
            return self.metrics_app(environ, start_response)
        return self.application(environ, start_response)
