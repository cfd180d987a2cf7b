# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Serve the API in a thread: used by ``fenix-api`` and the all-in-one.

A threaded stdlib WSGI server (one thread per connection). Production
deployments may run :mod:`fenix.api.wsgi` under uWSGI, gunicorn or mod_wsgi
instead.

Usage::

    server = APIServer(host, port)   # defaults: [api] host and port
    server.start()                   # returns once it listens
    server.port                      # the bound port (port 0: any free)
    server.stop()                    # stops listening, joins the thread
"""
import ipaddress
import socket
import socketserver
import threading
from wsgiref import simple_server

from oslo_config import cfg
from oslo_log import log as logging

from fenix.api import app as api_app

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# Seconds stop() may wait for the serving loop to notice it.
POLL_INTERVAL = 0.1


class UnsafeBindAddress(Exception):
    """The API would listen on a public address without authentication."""


def is_loopback(host):
    if host.lower() == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host.strip('[]')).is_loopback
    except ValueError:
        return False


def check_bind_address(host, conf=None):
    """Raise UnsafeBindAddress for no-auth on a non-loopback address.

    Allowed anyway when ``[api] noauth_allow_remote`` is set.
    """
    conf = conf or CONF
    if (conf.api.auth_strategy == 'noauth' and not is_loopback(host)
            and not conf.api.noauth_allow_remote):
        raise UnsafeBindAddress(
            "Refusing to listen on %r with [api] auth_strategy = noauth: "
            "anyone who can reach it would be an admin. Listen on a "
            "loopback address (127.0.0.1, ::1), use auth_strategy = "
            "keystone, or set [api] noauth_allow_remote = true if you "
            "really mean it." % host)


class _RequestHandler(simple_server.WSGIRequestHandler):

    def address_string(self):
        return self.client_address[0]

    def log_message(self, format, *args):
        LOG.info('%s %s', self.address_string(), format % args)


class _ThreadingWSGIServer(socketserver.ThreadingMixIn,
                           simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self):
        # WSGIServer.server_bind would resolve the host's FQDN: slow and
        # useless here.
        socketserver.TCPServer.server_bind(self)
        self.server_name = self.server_address[0]
        self.server_port = self.server_address[1]
        self.setup_environ()


class _ThreadingWSGIServerV6(_ThreadingWSGIServer):
    address_family = socket.AF_INET6


class APIServer(object):
    """The Fenix API served by a thread of this process.

    :param host: address to listen on (default ``[api] host``).
    :param port: port (default ``[api] port``; 0 picks a free one).
    :param app: the WSGI application (default
        :func:`fenix.api.app.setup_app`, built at :meth:`start`).
    :param conf: the configuration (default: the global CONF).
    """

    def __init__(self, host=None, port=None, app=None, conf=None):
        self.conf = conf or CONF
        self.host = host if host is not None else self.conf.api.host
        self._port = port if port is not None else self.conf.api.port
        self.app = app
        self._server = None
        self._thread = None

    @property
    def port(self):
        """The port it listens on (the requested one before start)."""
        if self._server is not None:
            return self._server.server_port
        return self._port

    @property
    def url(self):
        host = self.host
        if ':' in host:
            host = '[%s]' % host
        return 'http://%s:%s' % (host, self.port)

    def start(self):
        """Listen and serve in a daemon thread; returns ``self``.

        Raises UnsafeBindAddress (nothing is opened then) or OSError.
        """
        if self._server is not None:
            raise RuntimeError('The API server is already running')
        check_bind_address(self.host, self.conf)
        if self.app is None:
            self.app = api_app.setup_app(conf=self.conf)
        server_class = (_ThreadingWSGIServerV6 if ':' in self.host
                        else _ThreadingWSGIServer)
        self._server = simple_server.make_server(
            self.host, self._port, self.app, server_class=server_class,
            handler_class=_RequestHandler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name='fenix-api',
            kwargs={'poll_interval': POLL_INTERVAL}, daemon=True)
        self._thread.start()
        LOG.info('Fenix API listening on %s', self.url)
        return self

    def stop(self):
        """Stop listening and wait for the serving thread to end."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        thread.join()
        self._server = self._thread = None
        LOG.info('Fenix API stopped')

    def wait(self):
        """Block until :meth:`stop` is called (from another thread)."""
        thread = self._thread
        if thread is not None:
            thread.join()
