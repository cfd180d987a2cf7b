# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The Fenix API as a WSGI application.

From the outside in, a request passes:

1. ``RequestId`` (oslo.middleware): ``X-OpenStack-Request-Id`` on every
   answer; the id is in the request context and in the logs.
2. ``HTTPProxyToWSGI`` (oslo.middleware): behind a TLS-terminating proxy,
   with ``[oslo_middleware] enable_proxy_headers_parsing``, the links the
   API answers use the URL clients used.
3. :class:`~fenix.api.middleware.errors.JSONErrorMiddleware`: whatever
   goes wrong below leaves as a JSON error document.
4. :class:`~fenix.api.middleware.urlcheck.URLCheck`: 400 for a URL that
   is not UTF-8.
5. ``/healthcheck`` (:mod:`fenix.api.health`: oslo.middleware's
   ``Healthcheck`` with ``[healthcheck]`` options, plus an engine ping that
   also checks the database): answered here, without authentication; 503
   when the engine or the database cannot be reached. ``/metrics``
   (:mod:`fenix.api.metrics`) is answered here too for the addresses of
   ``[api] metrics_allowed_source_ranges``; for the others it goes on.
6. :class:`~fenix.api.middleware.sizelimit.BodySizeLimit`: 413 beyond
   ``[api] max_request_body_size``.
7. Authentication, ``[api] auth_strategy``: keystonemiddleware
   ``auth_token`` (``[keystone_authtoken]``; ``/`` and ``/v1`` public) or
   the no-auth middleware.
8. ``/metrics`` for callers with a token (policy ``fenix:metrics:get``).
9. ``/dashboard/`` (:mod:`fenix.api.dashboard`): the web page's static
   files, under the policy rule ``fenix:dashboard:get``.
10. The pecan application: hooks build the request context and give the
    controllers the engine client and the reader; controllers validate,
    authorize (policy), read the database themselves (``GET``,
    :mod:`fenix.api.reads`) and call the engine for the rest.
"""
from oslo_config import cfg
from oslo_log import log as logging
from oslo_middleware import http_proxy_to_wsgi
from oslo_middleware import request_id
import pecan
import webob.multidict

from fenix.api.controllers import root
from fenix.api import dashboard
from fenix.api import health
from fenix.api import hooks
from fenix.api import metrics
from fenix.api.middleware import auth_token
from fenix.api.middleware import errors as error_middleware
from fenix.api.middleware import noauth
from fenix.api.middleware import sizelimit
from fenix.api.middleware import urlcheck
from fenix.api import pecan_argspec
from fenix.api import validation
from fenix.common import exception

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

HEALTHCHECK_PATH = '/healthcheck'


class Request(pecan.Request):
    """Pecan's request, with a safe JSON body.

    Pecan reads JSON bodies to offer their keys as controller arguments
    (Fenix controllers take none); this makes that read safe and shares
    its result with the controllers.
    """

    @property
    def POST(self):
        # Fenix reads JSON bodies only: never parse a form (webob would for
        # a POST, PUT, PATCH or DELETE with a form media type, and fail on
        # a broken multipart body).
        return webob.multidict.NoVars('Fenix bodies are JSON')

    @property
    def json(self):
        try:
            return validation.parse_body(self)
        except exception.Invalid as e:
            # pecan falls back to no arguments; the controller that reads
            # the body answers 400.
            raise ValueError(str(e))


class PathDispatch(object):
    """Answer some paths with apps of their own.

    ``mounts`` (path -> app) answer their own path; the rest goes to
    ``default``.
    """

    def __init__(self, default, mounts):
        self.default = default
        self.mounts = dict(mounts)

    def __call__(self, environ, start_response):
        path = environ.get('PATH_INFO', '').rstrip('/')
        app = self.mounts.get(path, self.default)
        return app(environ, start_response)


def setup_pecan_app(engine_api=None, auth_strategy=None, engine_hook=None,
                    reader=None):
    """The bare pecan application (no middleware).

    :param auth_strategy: what the middleware in front of it does (the
        OpenAPI description says whether a token is required); default
        ``[api] auth_strategy``.
    :param engine_hook: the :class:`~fenix.api.hooks.EngineAPIHook` to use
        (shared with ``/metrics``); default: one of ``engine_api``.
    :param reader: what answers the reads (default: the database, see
        :mod:`fenix.api.reads`).
    """
    pecan_argspec.install()
    app_hooks = [
        hooks.ContentTypeHook(),
        hooks.ContextHook(),
        engine_hook or hooks.EngineAPIHook(engine_api),
        hooks.ReaderHook(reader),
        hooks.ErrorHook(),
    ]
    return pecan.Pecan(
        root.RootController(auth_strategy or CONF.api.auth_strategy),
        hooks=app_hooks,
        default_renderer='json',
        force_canonical=False,
        guess_content_type_from_ext=False,
        request_cls=Request,
    )


def setup_app(engine_api=None, auth_strategy=None, conf=None, reader=None):
    """The Fenix API WSGI application, middleware included.

    :param engine_api: what the controllers call instead of a new
        :class:`fenix.engine.rpcapi.EngineAPI` (an object with the same
        methods; tests pass an in-memory fake). It gets the writes.
    :param reader: what answers the reads: an object with the read
        methods of the engine client (tests pass their fake engine);
        default the database (:class:`fenix.api.reads.DatabaseReader`).
    :param auth_strategy: ``keystone`` or ``noauth``; default
        ``[api] auth_strategy``.
    :param conf: the configuration (default: the global CONF).
    """
    conf = conf or CONF
    strategy = auth_strategy or conf.api.auth_strategy
    networks = metrics.parse_ranges(conf.api.metrics_allowed_source_ranges)
    engine_hook = hooks.EngineAPIHook(engine_api)
    app = dashboard.Dashboard(setup_pecan_app(engine_api, strategy,
                                              engine_hook, reader=reader))
    # /metrics behind the authentication (the policy decides), ...
    app = PathDispatch(app, {metrics.PATH: metrics.Metrics(
        lambda: engine_hook.engine_api)})
    if strategy == 'keystone':
        app = auth_token.wrap(app, conf)
    elif strategy == 'noauth':
        LOG.warning('The Fenix API runs without authentication '
                    '([api] auth_strategy = noauth): every caller is who '
                    'its headers say.')
        app = noauth.NoAuthMiddleware(app)
    else:
        raise ValueError('Unknown auth_strategy %r' % strategy)
    app = sizelimit.BodySizeLimit(app, conf)
    # Outside allowed_source_ranges the health check passes the request on
    # (where it is a 404).
    app = PathDispatch(app, {
        HEALTHCHECK_PATH: health.Healthcheck(app, conf, engine_api),
        # ... and without a token from [api] metrics_allowed_source_ranges.
        metrics.PATH: metrics.AllowList(app, networks, metrics.Metrics(
            lambda: engine_hook.engine_api, trusted=True))})
    app = urlcheck.URLCheck(app)
    app = error_middleware.JSONErrorMiddleware(app)
    app = http_proxy_to_wsgi.HTTPProxyToWSGI(app, conf)
    app = request_id.RequestId(app)
    return app
