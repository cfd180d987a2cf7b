# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A ``requests`` session that reads the environment once per origin.

A plain :class:`requests.Session` looks at the process environment on
every request: the proxies (``*_proxy``, ``no_proxy``: every variable of
the environment, lower-cased, twice), the CA bundle
(``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) and ``~/.netrc`` (two
``stat`` calls). For an engine that sends a few HTTP requests per
migration (Nova, the ``fenix-http`` notifications) that was about a tenth
of its CPU. :class:`EnvCachedSession` gives the same answers, worked out
once per origin (scheme, host and port) of the URLs it is asked for and
kept for the life of the session: the environment of a running service
does not change, and a changed ``~/.netrc`` is read by the next process.

It also prepares a request without cookies or query parameters (every
request of the engine: keystoneauth puts its query in the URL) with less
work: the URL's parsing and quoting is kept per URL (the notification
endpoint, a server's action URL used twice per move), and no empty cookie
jar or parameter dict is merged (in requests 2.34 an empty parameter
dict costs a run-time ``Protocol`` check). The prepared request is the
one ``requests`` would make.
"""
import os
import threading
import urllib.parse

import requests
from requests import auth as requests_auth
from requests import cookies as requests_cookies
from requests import models as requests_models
from requests import sessions as requests_sessions
from requests import structures as requests_structures
from requests import utils as requests_utils

# Prepared URLs kept (then the cache starts again: server URLs are many).
URL_CACHE_SIZE = 4096


class _NoAuth(requests_auth.AuthBase):
    """No credentials (``~/.netrc`` has none for the origin): leaves the
    request as it is, and tells requests not to look at the file again."""

    def __call__(self, request):
        return request


_NO_AUTH = _NoAuth()


class _Prepared(requests_models.PreparedRequest):
    """A prepared request whose URL (without query parameters to add) is
    parsed and quoted once per URL string (see the module doc)."""

    def __init__(self, urls):
        super().__init__()
        self._urls = urls

    def prepare_url(self, url, params):
        if params or not isinstance(url, str):
            return super().prepare_url(url, params)
        done = self._urls.get(url)
        if done is None:
            super().prepare_url(url, None)
            if len(self._urls) >= URL_CACHE_SIZE:
                self._urls.clear()
            self._urls[url] = self.url
        else:
            self.url = done


def _origin(url):
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class EnvCachedSession(requests.Session):
    """:class:`requests.Session`, its environment settings (proxies, CA
    bundle, netrc credentials) read once per origin (see the module
    doc). With ``trust_env`` False it is a plain session."""

    def __init__(self):
        super().__init__()
        self._env_lock = threading.Lock()
        # (origin, no_proxy) -> (the environment's proxies for it, CA bundle)
        self._env = {}
        # origin -> netrc credentials (or _NO_AUTH)
        self._netrc = {}
        # URL -> the URL as prepared (_Prepared)
        self._urls = {}

    def _environment(self, url, no_proxy):
        key = (_origin(url), no_proxy)
        with self._env_lock:
            found = self._env.get(key)
        if found is None:
            found = (dict(requests_utils.get_environ_proxies(
                url, no_proxy=no_proxy)),
                os.environ.get('REQUESTS_CA_BUNDLE') or
                os.environ.get('CURL_CA_BUNDLE'))
            with self._env_lock:
                self._env[key] = found
        return found

    def merge_environment_settings(self, url, proxies, stream, verify,
                                   cert):
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream,
                                                      verify, cert)
        # What requests.Session does, with the environment's part cached.
        no_proxy = proxies.get('no_proxy') if proxies is not None else None
        env_proxies, bundle = self._environment(url, no_proxy)
        if proxies is not None:
            for key, value in env_proxies.items():
                proxies.setdefault(key, value)
        if (verify is True or verify is None) and bundle:
            verify = bundle
        merge = requests_sessions.merge_setting
        return {'proxies': merge(proxies, self.proxies),
                'stream': merge(stream, self.stream),
                'verify': merge(verify, self.verify),
                'cert': merge(cert, self.cert)}

    def prepare_request(self, request):
        if self.trust_env and not request.auth and not self.auth:
            origin = _origin(request.url)
            with self._env_lock:
                found = self._netrc.get(origin)
            if found is None:
                found = requests_utils.get_netrc_auth(request.url) or \
                    _NO_AUTH
                with self._env_lock:
                    self._netrc[origin] = found
            request.auth = found
        if request.cookies or self.cookies or request.params or \
                self.params:
            return super().prepare_request(request)
        # What requests.Session.prepare_request does, without the merging
        # of empty cookie jars and parameters.
        prepared = _Prepared(self._urls)
        prepared.prepare(
            method=request.method.upper(), url=request.url,
            files=request.files, data=request.data, json=request.json,
            headers=requests_sessions.merge_setting(
                request.headers, self.headers,
                dict_class=requests_structures.CaseInsensitiveDict),
            params=None,
            auth=requests_sessions.merge_setting(request.auth, self.auth),
            cookies=requests_cookies.RequestsCookieJar(),
            hooks=requests_sessions.merge_hooks(request.hooks, self.hooks))
        return prepared


def like(session):
    """An :class:`EnvCachedSession` that sends as ``session`` (a
    :class:`requests.Session`) does: the same adapters (their pools, TLS
    and keep-alive settings), headers, proxies, TLS options and trust in
    the environment."""
    new = EnvCachedSession()
    new.adapters.clear()
    for prefix, adapter in session.adapters.items():
        new.mount(prefix, adapter)
    new.headers = session.headers
    for attr in ('auth', 'proxies', 'hooks', 'params', 'stream', 'verify',
                 'cert', 'max_redirects', 'trust_env', 'cookies'):
        setattr(new, attr, getattr(session, attr))
    return new
