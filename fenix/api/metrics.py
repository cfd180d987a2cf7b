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
import collections
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


Family = collections.namedtuple(
    'Family', 'name kind label source field documentation')
Family.__doc__ = """One metric family of ``/metrics``.

``source``: the keys leading to its figures in the engine's answer
(:func:`fenix.engine.metrics.figures`). Without ``label`` that is the
one value (a number, or a histogram's figures); with ``label`` it is a
dict by label value, sorted here, of values or, with ``field``, of dicts
holding the value at ``field``.
"""

GAUGE, COUNTER, HISTOGRAM = 'gauge', 'counter', 'histogram'
_KINDS = {GAUGE: core.GaugeMetricFamily,
          COUNTER: core.CounterMetricFamily,
          HISTOGRAM: core.HistogramMetricFamily}

#: The families, in the order of the text.
FAMILIES = (
    Family('sessions', GAUGE, 'state', ('sessions',), None,
           'Maintenance sessions the database holds, by state.'),
    Family('hosts', GAUGE, 'state', ('hosts',), None,
           'Hosts of the sessions the database holds, by state.'),
    Family('migrations_started', COUNTER, None,
           ('migrations', 'started'), None,
           'Requests to Nova to move an instance off its host (each '
           'attempt).'),
    Family('migrations_done', COUNTER, None, ('migrations', 'done'), None,
           'Moves of instances that ended done.'),
    Family('migrations_failed', COUNTER, None, ('migrations', 'failed'),
           None, 'Moves of instances that ended failed (their last '
           'attempt failed).'),
    Family('migration_duration_seconds', HISTOGRAM, None,
           ('migrations', 'duration'), None,
           'Seconds from the start of a move (its last attempt) to its '
           'end, of the moves done.'),
    Family('reply_latency_seconds', HISTOGRAM, 'project_id',
           ('reply_latency',), None,
           'Seconds from an event sent to a project (or one of its '
           'instances) to the project\'s reply.'),
    Family('notifications_sent', COUNTER, 'event_type',
           ('notifications',), 'sent', 'Notifications sent.'),
    Family('notifications_failed', COUNTER, 'event_type',
           ('notifications',), 'failed',
           'Failed tries to send a notification (each is tried again).'),
    Family('notifications_queued', GAUGE, 'event_type',
           ('notifications',), 'queued',
           'Notifications recorded and not sent yet.'),
    Family('engine_heartbeat_age_seconds', GAUGE, 'engine', ('engines',),
           None, 'Seconds since the last heartbeat of each registered '
           'engine.'),
)


def _series(family, figures):
    """[(label values, value)] of ``family`` in the engine's figures."""
    value = figures
    for key in family.source:
        value = value[key]
    if family.label is None:
        return [([], value)]
    return [([label], v[family.field] if family.field else v)
            for label, v in sorted(value.items())]


def _metric_family(family, figures):
    """The prometheus_client family of ``family``, with its samples."""
    metric = _KINDS[family.kind](
        PREFIX + family.name, family.documentation,
        labels=[family.label] if family.label else [])
    for labels, value in _series(family, figures):
        if family.kind == HISTOGRAM:
            # Bucket bounds as Prometheus writes them: '1.0', '+Inf'.
            buckets = [(str(le) if le == '+Inf' else repr(float(le)), n)
                       for le, n in value['buckets']]
            metric.add_metric(labels, buckets, value['sum'])
        else:
            metric.add_metric(labels, value)
    return metric


class _Collector(object):
    """prometheus_client's view of one answer of the engine."""

    def __init__(self, figures):
        self.figures = figures

    def collect(self):
        for family in FAMILIES:
            yield _metric_family(family, self.figures)


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
