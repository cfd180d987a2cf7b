# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Refuse request bodies larger than ``[api] max_request_body_size`` (413).

A declared Content-Length over the limit is refused before anything is
read; a body without one (chunked) is cut off while it is read. A chunked
body under a WSGI server that does not de-chunk it (no
``wsgi.input_terminated``) is 411: the application would read it as empty.
"""
from oslo_middleware import sizelimit

from fenix.api import errors


class BodySizeLimit(object):

    def __init__(self, app, conf):
        self.app = app
        self.conf = conf

    def __call__(self, environ, start_response):
        limit = self.conf.api.max_request_body_size
        length = environ.get('CONTENT_LENGTH')
        if length:
            try:
                length = int(length)
                if length < 0:
                    raise ValueError(length)
            except ValueError:
                return errors.error_response(
                    400, 'Invalid Content-Length header.')(environ,
                                                           start_response)
            if length > limit:
                return errors.error_response(
                    413, 'Request body is %d bytes; the limit is %d bytes '
                         '([api] max_request_body_size).'
                    % (length, limit))(environ, start_response)
        elif 'chunked' in environ.get('HTTP_TRANSFER_ENCODING', '').lower():
            if not environ.get('wsgi.input_terminated'):
                # A server that does not de-chunk would hand the app an
                # empty body: refuse rather than act on nothing.
                return errors.error_response(
                    411, 'This server cannot read chunked request bodies; '
                         'send a Content-Length.')(environ, start_response)
            environ['wsgi.input'] = sizelimit.LimitingReader(
                environ['wsgi.input'], limit)
        elif 'wsgi.input' in environ:
            environ['wsgi.input'] = sizelimit.LimitingReader(
                environ['wsgi.input'], limit)
        return self.app(environ, start_response)
