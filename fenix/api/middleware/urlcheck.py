# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Refuse URLs that are not UTF-8, or hold a NUL character (no database
stores it as text), with a 400 before anything parses them."""
from urllib import parse

from fenix.api import errors


def _problem(value, unquote=False):
    """Why a URL part cannot be taken (None: it can)."""
    raw = value.encode('latin-1', 'replace')
    if unquote:
        raw = parse.unquote_to_bytes(raw)
    try:
        raw.decode('utf-8')
    except UnicodeDecodeError:
        return 'The URL is not valid UTF-8.'
    if b'\x00' in raw:
        return 'The URL holds a NUL character.'
    return None


class URLCheck(object):

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        problem = (_problem(environ.get('PATH_INFO', '')) or
                   _problem(environ.get('QUERY_STRING', ''), unquote=True))
        if problem:
            return errors.error_response(400, problem)(environ,
                                                       start_response)
        return self.app(environ, start_response)
