# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Last line of defence: every error leaves the API as a JSON document.

The pecan application answers its own errors in the Fenix shape; this
middleware covers what happens around it: an exception escaping any layer
becomes a logged 500, and an error answer some other middleware wrote in
plain text or HTML is rewritten in the Fenix shape.
"""
from oslo_serialization import jsonutils

from fenix.api import errors


def _is_json(headers):
    for name, value in headers:
        if name.lower() == 'content-type':
            media = value.split(';', 1)[0].strip().lower()
            return media == 'application/json' or media.endswith('+json')
    return False


def _plain_message(body, status):
    """The explanation of a webob text error, else the status phrase.

    The explanation is what follows the status line.
    """
    try:
        text = body.decode('utf-8', 'replace')
    except AttributeError:
        text = str(body)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and lines[0].startswith(status.split(' ', 1)[0]):
        lines = lines[1:]
    if lines and not lines[0].startswith('<'):
        return ' '.join(lines)
    return errors.title(int(status.split(' ', 1)[0]))


class JSONErrorMiddleware(object):

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        captured = {}

        def capture(status, headers, exc_info=None):
            captured['status'] = status
            captured['headers'] = headers
            captured['exc_info'] = exc_info
            if int(status.split(' ', 1)[0]) >= 400 and not _is_json(headers):
                captured['rewrite'] = True
                return lambda data: None
            return start_response(status, headers, exc_info)

        try:
            app_iter = self.app(environ, capture)
            if not captured.get('rewrite'):
                return app_iter
            try:
                body = b''.join(app_iter)
            finally:
                if hasattr(app_iter, 'close'):
                    app_iter.close()
            status = captured['status']
            code = int(status.split(' ', 1)[0])
            message = _plain_message(body, status)
            headers = [(k, v) for k, v in captured['headers']
                       if k.lower() not in ('content-type',
                                            'content-length')]
        except Exception as exc:
            if captured and not captured.get('rewrite'):
                # Headers were already sent: nothing better to do.
                raise
            errors.log_unexpected(exc, environ.get('PATH_INFO', ''))
            code, message, headers = 500, errors.INTERNAL_ERROR, []
        body = jsonutils.dump_as_bytes(errors.error_body(code, message))
        headers = headers + [('Content-Type', 'application/json'),
                             ('Content-Length', str(len(body)))]
        start_response('%d %s' % (code, errors.title(code)), headers,
                       captured.get('exc_info'))
        return [body]
