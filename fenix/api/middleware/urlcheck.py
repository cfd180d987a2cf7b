# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Refuse URLs that are not UTF-8 (400) before anything parses them."""
from urllib import parse

from fenix.api import errors


def _utf8(value, unquote=False):
    raw = value.encode('latin-1', 'replace')
    if unquote:
        raw = parse.unquote_to_bytes(raw)
    try:
        raw.decode('utf-8')
    except UnicodeDecodeError:
        return False
    return True


class URLCheck(object):

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if not (_utf8(environ.get('PATH_INFO', ''))
                and _utf8(environ.get('QUERY_STRING', ''), unquote=True)):
            return errors.error_response(
                400, 'The URL is not valid UTF-8.')(environ, start_response)
        return self.app(environ, start_response)
