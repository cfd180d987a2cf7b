# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``/dashboard/``: the live web page of maintenance sessions.

Static files shipped in the package (``fenix/api/static/dashboard``, no
build step), served behind the API's authentication and the policy rule
``fenix:dashboard:get``. The page reads everything it shows from the JSON
API (``/v1/maintenance``, ``/v1/maintenance/{id}``, ``.../detail``) with
the token it was given (doc/source/dashboard.rst).

A browser cannot send a token header when it loads a page, so behind
Keystone the login page and its loader (:data:`PUBLIC_FILES`) are public
(:mod:`fenix.api.middleware.auth_token` marks such requests with
:data:`PUBLIC_KEY`): the loader fetches the application and its styles
with the token, which auth_token checks, and then the policy. With
``noauth`` every file goes through the policy.

Only the files of that directory are served, by exact name: anything else
(``..``, a slash, a hidden file) is a 404.
"""
import os
import re

from oslo_log import log as logging

from fenix.api import errors
from fenix.common import context
from fenix.common import exception
from fenix.common.policies import dashboard as pol
from fenix.common import policy

LOG = logging.getLogger(__name__)

PREFIX = '/dashboard'
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          'static', 'dashboard')
INDEX = 'index.html'
# Served without a token behind Keystone: the login form and the loader.
PUBLIC_FILES = (INDEX, 'boot.js', 'boot.css')
# The paths of those files (auth_token's public routes).
PUBLIC_PATHS = (PREFIX, PREFIX + '/') + tuple(
    '%s/%s' % (PREFIX, name) for name in PUBLIC_FILES)
# Environment key the auth middleware sets on a public route.
PUBLIC_KEY = 'fenix.public_route'

CONTENT_TYPES = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.svg': 'image/svg+xml',
    '.png': 'image/png',
}
NAME_RE = re.compile(r'^[A-Za-z0-9_-]+(\.[A-Za-z0-9]+)$')

# The page runs its own files only: the loader adds the application as a
# blob: URL (fetched with the token), and talks to this origin only.
SECURITY_HEADERS = {
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-cache',
    'Content-Security-Policy': (
        "default-src 'none'; script-src 'self' blob:; "
        "style-src 'self' blob:; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"),
}


def is_dashboard_path(path):
    return path == PREFIX or path.startswith(PREFIX + '/')


def load_files(directory=STATIC_DIR):
    """{name: (content type, bytes)} of the files the dashboard serves."""
    files = {}
    for name in sorted(os.listdir(directory)):
        match = NAME_RE.match(name)
        if not match or match.group(1) not in CONTENT_TYPES:
            continue
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            continue
        with open(path, 'rb') as f:
            files[name] = (CONTENT_TYPES[match.group(1)], f.read())
    return files


class Dashboard(object):
    """WSGI application: ``/dashboard`` paths here, the rest to ``app``.

    It sits behind the authentication middleware, in front of the API.
    """

    def __init__(self, app, directory=STATIC_DIR):
        self.app = app
        self.files = load_files(directory)

    def __call__(self, environ, start_response):
        path = environ.get('PATH_INFO', '')
        if not is_dashboard_path(path):
            return self.app(environ, start_response)
        return self.serve(environ, start_response, path)

    @staticmethod
    def _error(code, message, headers=None):
        return errors.error_response(code, message, headers)

    def serve(self, environ, start_response, path):
        method = environ.get('REQUEST_METHOD', 'GET')
        if method not in ('GET', 'HEAD'):
            return self._error(405, 'The dashboard answers GET and HEAD '
                               'only.', {'Allow': 'GET, HEAD'})(
                environ, start_response)
        if path == PREFIX:
            # Relative links of the page need the trailing slash.
            location = 'dashboard/'
            if environ.get('QUERY_STRING'):
                location += '?' + environ['QUERY_STRING']
            start_response('301 Moved Permanently',
                           [('Location', location),
                            ('Content-Length', '0')])
            return [b'']
        name = path[len(PREFIX) + 1:] or INDEX
        found = self.files.get(name)
        if found is None:
            return self._error(404, 'No such dashboard file.')(
                environ, start_response)
        if not (environ.get(PUBLIC_KEY) and name in PUBLIC_FILES):
            ctx = context.RequestContext.from_environ(environ)
            try:
                policy.authorize(pol.GET, {}, ctx)
            except exception.Forbidden as e:
                LOG.info('GET %s: 403 %s', path, e)
                return self._error(403, str(e))(environ, start_response)
        content_type, body = found
        headers = [('Content-Type', content_type),
                   ('Content-Length', str(len(body)))]
        headers.extend(SECURITY_HEADERS.items())
        start_response('200 OK', headers)
        return [b''] if method == 'HEAD' else [body]
