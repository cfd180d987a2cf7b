# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""OpenStack client factories built on the ``[service_user]`` options.

One keystoneauth session per distinct ``[service_user]`` configuration is
kept for the life of the process, so the token it fetched is reused by every
client and every thread (keystoneauth re-authenticates by itself when the
token expires). The cache is keyed by the option values, so a changed
configuration (tests, a reloaded config file) gets a fresh session.

Only :mod:`fenix.common.cloud` should use this module; workflows talk to
OpenStack through :class:`fenix.common.cloud.Cloud`.
"""
import contextlib
import threading

from aodhclient import client as aodh_client_mod
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from novaclient import base as nova_base
from novaclient import client as nova_client_mod

from fenix.common import exception
from fenix.common import httpsession
from fenix import conf as fenix_conf

GROUP = 'service_user'
ALARMING_SERVICE_TYPE = 'alarming'
COMPUTE_SERVICE_TYPE = 'compute'

_lock = threading.Lock()
_sessions = {}


def _register_plugin_opts(conf):
    """Register the chosen auth plugin's options so they can be read.

    keystoneauth registers them lazily while loading the plugin; doing it
    first keeps the cache key stable between the first and later calls.
    """
    group = conf[GROUP].auth_section or GROUP
    name = conf[group].auth_type
    if name:
        conf.register_opts(ks_loading.get_auth_plugin_conf_options(name),
                           group=group)
    return group


def _fingerprint(conf, auth_group):
    items = []
    for group in sorted({GROUP, auth_group}):
        for key, value in sorted(conf[group].items()):
            items.append((group, key, repr(value)))
    return (id(conf), tuple(items))


def get_session(conf=None):
    """The cached keystoneauth session of ``[service_user]``.

    :raises CloudError: when the options do not describe a usable
        authentication (no ``auth_type``, a missing required option, an
        unknown plug-in).
    """
    conf = conf or fenix_conf.CONF
    with _lock:
        try:
            auth_group = _register_plugin_opts(conf)
            key = _fingerprint(conf, auth_group)
            sess = _sessions.get(key)
            if sess is not None:
                return sess
            auth = ks_loading.load_auth_from_conf_options(conf, GROUP)
            if auth is None:
                raise exception.CloudError(
                    reason='[%s] auth_type is not set: Fenix has no '
                           'credentials for Nova and AODH' % GROUP)
            sess = ks_loading.load_session_from_conf_options(conf, GROUP,
                                                             auth=auth)
            # Its requests session reads the environment (proxies, CA
            # bundle, netrc) once per origin, not on every request.
            sess.session = httpsession.like(sess.session)
            if getattr(sess, '_session', None) is not None:
                sess._session = sess.session
        except ks_exc.ClientException as e:
            raise exception.CloudError(
                reason='cannot build a keystone session from [%s]: %s'
                       % (GROUP, e))
        _sessions[key] = sess
        return sess


# What a service without [service_user] says at start (fenix-all-in-one,
# fenix-engine): sessions of the default and nfv workflows need Nova.
SERVICE_USER_HINT = '''\
[service_user] is not configured: sessions that need Nova and AODH (the
default and nfv workflows) will fail. Give Fenix an admin user in its
configuration file, e.g.:

    [service_user]
    auth_type = password
    auth_url = http://controller:5000/v3
    username = fenix
    password = SECRET
    project_name = service
    user_domain_name = Default
    project_domain_name = Default

To try Fenix on the simulated cloud instead, start it
(fenix-simcloud --topology etc/simcloud/seed004.yaml prints its URL) and
use auth_url = <its URL>/identity/v3, username = fenix,
password = fenixpass, project_name = service (doc/source/simcloud.rst;
`tox -e demo` does all of this).'''


def service_user_hint(conf=None):
    """:data:`SERVICE_USER_HINT` when ``[service_user] auth_type`` is
    not set, else None."""
    conf = conf or fenix_conf.CONF
    try:
        auth_type = conf[_register_plugin_opts(conf)].auth_type
    except Exception:
        auth_type = None
    return None if auth_type else SERVICE_USER_HINT


def reset():
    """Forget every cached session (tests, configuration reload)."""
    with _lock:
        _sessions.clear()


def endpoint_options(conf=None):
    """``{'interface', 'region_name'}`` to select catalog endpoints."""
    conf = conf or fenix_conf.CONF
    return {'interface': conf[GROUP].interface,
            'region_name': conf[GROUP].region_name}


def has_service(session, service_type, conf=None):
    """Whether the catalog of ``session`` has an endpoint of that type."""
    opts = endpoint_options(conf)
    try:
        url = session.get_endpoint(service_type=service_type,
                                   interface=opts['interface'],
                                   region_name=opts['region_name'])
    except ks_exc.EndpointNotFound:
        return False
    return bool(url)


def nova_client(version, session=None, conf=None):
    """A novaclient ``Client`` at microversion ``version``.

    ``version`` is a string ("2.87") or an ``APIVersion``; it must be
    explicit (negotiation is done by the caller, see
    :meth:`fenix.common.cloud.Cloud.nova_version`).
    """
    session = session or get_session(conf)
    opts = endpoint_options(conf)
    kwargs = {}
    endpoint = _catalog_endpoint(session, COMPUTE_SERVICE_TYPE, opts)
    if endpoint:
        # Looked up once for the client: keystoneauth would otherwise
        # look it up in the catalog (a deep copy of it) on every request.
        kwargs['endpoint_override'] = endpoint.replace('%', '%%')
    client = nova_client_mod.Client(version, session=session,
                                    endpoint_type=opts['interface'],
                                    region_name=opts['region_name'],
                                    service_type=COMPUTE_SERVICE_TYPE,
                                    **kwargs)
    _no_completion_cache(client)
    return client


def _catalog_endpoint(session, service_type, opts):
    """The catalog's URL of ``service_type`` (None when it cannot be
    read now: the client's first request then looks again, and says
    why it cannot)."""
    try:
        url = session.get_endpoint(service_type=service_type,
                                   interface=opts['interface'],
                                   region_name=opts['region_name'])
    except ks_exc.ClientException:
        return None
    return url if isinstance(url, str) else None


@contextlib.contextmanager
def _no_cache(*_args, **_kwargs):
    yield


def _no_completion_cache(client):
    """No shell completion cache in a service.

    novaclient's managers keep a bash-completion cache: every ``get`` and
    ``list`` opens a file under ``~/.novaclient`` and holds one lock shared
    by every manager of the process for the whole request, so the threads
    of an engine (moves in flight) would read Nova one at a time.
    """
    for manager in vars(client).values():
        if isinstance(manager, nova_base.Manager):
            manager.completion_cache = _no_cache


def aodh_client(session=None, conf=None):
    """An aodhclient v2 ``Client`` on the ``alarming`` endpoint."""
    session = session or get_session(conf)
    opts = endpoint_options(conf)
    return aodh_client_mod.Client('2', session=session,
                                  service_type=ALARMING_SERVICE_TYPE,
                                  interface=opts['interface'],
                                  region_name=opts['region_name'])
