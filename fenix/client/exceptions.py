# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Typed errors of the Fenix client.

Every error answer of the API has the body ``{"error": {"code", "title",
"message"}}`` (see the API reference); :func:`from_response` turns it into
the class of its status, carrying the API's ``message``, the status, the
request id and the decoded body.
"""


class ClientException(Exception):
    """Base of every error the client raises."""

    def __init__(self, message, status=None, body=None, request_id=None,
                 method=None, url=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.request_id = request_id
        self.method = method
        self.url = url

    def __str__(self):
        text = self.message
        if self.status is not None:
            text = '%s (HTTP %s)' % (text, self.status)
        if self.request_id:
            text = '%s (Request-ID: %s)' % (text, self.request_id)
        return text


class ConnectionFailure(ClientException):
    """The API could not be reached, or did not answer in time."""


class EndpointNotFound(ClientException):
    """No endpoint of service type ``maintenance`` in the catalog."""


class HttpError(ClientException):
    """An error status the classes below do not name."""
    status_code = None


class BadRequest(HttpError):
    status_code = 400


class Unauthorized(HttpError):
    status_code = 401


class Forbidden(HttpError):
    status_code = 403


class NotFound(HttpError):
    status_code = 404


class MethodNotAllowed(HttpError):
    status_code = 405


class RequestTimeout(HttpError):
    status_code = 408


class Conflict(HttpError):
    status_code = 409


class LengthRequired(HttpError):
    status_code = 411


class PayloadTooLarge(HttpError):
    status_code = 413


class UriTooLong(HttpError):
    status_code = 414


class UnsupportedMediaType(HttpError):
    status_code = 415


class HeaderFieldsTooLarge(HttpError):
    status_code = 431


class InternalServerError(HttpError):
    status_code = 500


class ServiceUnavailable(HttpError):
    """The engine, the broker or the database is unreachable: nothing was
    changed (the API reference); ``retry_after`` is the server's advice in
    seconds, or None."""
    status_code = 503

    def __init__(self, *args, **kwargs):
        self.retry_after = kwargs.pop('retry_after', None)
        super().__init__(*args, **kwargs)


_BY_STATUS = {cls.status_code: cls for cls in (
    BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed,
    RequestTimeout, Conflict, LengthRequired, PayloadTooLarge, UriTooLong,
    UnsupportedMediaType, HeaderFieldsTooLarge, InternalServerError,
    ServiceUnavailable)}


def error_message(body, text=''):
    """The API's message from an error body (or the start of the text)."""
    if isinstance(body, dict):
        error = body.get('error')
        if isinstance(error, dict) and error.get('message'):
            return str(error['message'])
        for key in ('message', 'error_message', 'faultstring'):
            if body.get(key):
                return str(body[key])
        if isinstance(error, str) and error:
            return error
    text = (text or '').strip()
    return text[:500] if text else 'no message'


def _retry_after(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def from_response(response, method=None, url=None):
    """The exception for an error ``response`` (a requests Response)."""
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    status = response.status_code
    cls = _BY_STATUS.get(status, HttpError)
    kwargs = dict(status=status, body=body,
                  request_id=response.headers.get('X-OpenStack-Request-Id'),
                  method=method, url=url)
    if cls is ServiceUnavailable:
        kwargs['retry_after'] = _retry_after(
            response.headers.get('Retry-After'))
    return cls(error_message(body, response.text), **kwargs)
