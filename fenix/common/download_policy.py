# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The operator's download policy (``[download]``): which URLs a session
may download from.

Used twice: the API checks a create body's ``download`` list without
touching the network (:func:`fenix.common.download_entries.check_entries`,
a 400 naming the field), and
the engine checks again while it fetches (:mod:`fenix.workflow.download`):
every redirect target, and every address a host name resolves to (the
connection then goes to that checked address, so a second answer of the
DNS cannot lead it elsewhere).

The rules, each refusal naming its rule (:data:`SCHEME` ...):

* the scheme is one of ``allowed_schemes`` (https only by default);
* a ``file`` URL names a path that, resolved (symbolic links, ``..``),
  lies under one of ``file_directories``;
* a host is not in ``denied_hosts``; with ``allowed_hosts`` set it is one
  of them;
* every address of a host is public, or lies in ``allowed_networks``:
  loopback, link-local, private, shared, unspecified, multicast and
  reserved addresses are refused by default;
* with ``allow_plugin_code`` on, a plug-in file (``<name>.py``) comes only
  from https with a sha256.

Credentials (``https://user:password@host/...``) are never shown:
:func:`redact` replaces them in every message and view.
"""
import base64
import fnmatch
import ipaddress
import os
import re
import urllib.parse

from oslo_config import cfg

from fenix.common import exception

CONF = cfg.CONF

# The rules a refusal names.
SCHEME = 'scheme'
HOST = 'host'
FILE = 'file'
REDIRECT = 'redirect'
SIZE = 'size'
DEADLINE = 'deadline'
PLUGIN_CODE = 'plug-in code'

HTTP = 'http'
HTTPS = 'https'
FILE_SCHEME = 'file'
REDACTED = '***'
PLUGIN_SUFFIX = '.py'

# Refused unless in allowed_networks (what "not public" means here; the
# test itself is ``ipaddress``'s is_global, which covers these and the
# other special-purpose ranges of the IANA registries).
SPECIAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8',
    '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16', '224.0.0.0/4',
    '240.0.0.0/4', '::/128', '::1/128', 'fc00::/7', 'fe80::/10',
    'ff00::/8'))
# IPv6 forms that carry an IPv4 address (checked as that address).
NAT64 = ipaddress.ip_network('64:ff9b::/96')
SHARED = ipaddress.ip_network('100.64.0.0/10')


def redact(url):
    """``url`` with its user name and password replaced by ``***``."""
    if not isinstance(url, str):
        return url
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return re.sub(r'//[^/?#]*@', '//%s@' % REDACTED, url)
    if '@' not in parts.netloc:
        return url
    host = parts.netloc.rpartition('@')[2]
    return urllib.parse.urlunsplit(
        parts._replace(netloc='%s@%s' % (REDACTED, host)))


def redact_entries(items):
    """A session's ``download`` list as views show it."""
    shown = []
    for item in items or []:
        if isinstance(item, dict) and 'url' in item:
            item = dict(item, url=redact(item['url']))
        elif isinstance(item, str):
            item = redact(item)
        shown.append(item)
    return shown


def split_credentials(url):
    """(URL without user and password, ``Authorization`` header value or
    None): credentials go to the server as HTTP basic auth, never into
    the host name."""
    parts = urllib.parse.urlsplit(url)
    if '@' not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition('@')
    user, _, password = userinfo.partition(':')
    token = '%s:%s' % (urllib.parse.unquote(user),
                       urllib.parse.unquote(password))
    header = 'Basic ' + base64.b64encode(token.encode('utf-8')).decode()
    return urllib.parse.urlunsplit(parts._replace(netloc=host)), header


def _refuse(url, policy, reason):
    return exception.DownloadRefused(url=redact(url), policy=policy,
                                     reason=reason)


def check_scheme(url):
    """The URL's scheme, lower case, if the policy allows it."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    allowed = [s.lower() for s in CONF.download.allowed_schemes]
    if scheme not in allowed:
        raise _refuse(url, SCHEME, "scheme '%s' is not allowed (allowed: "
                      "%s; [download] allowed_schemes)"
                      % (scheme or 'none', ', '.join(allowed) or 'none'))
    return scheme


def _under(path, directory):
    try:
        return os.path.commonpath([path, directory]) == directory
    except ValueError:
        return False


def file_path(url):
    """The resolved local path of a ``file`` URL, if it lies under one of
    ``[download] file_directories`` (each resolved as well)."""
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ('', 'localhost'):
        raise _refuse(url, FILE, 'a file URL names no host (or '
                                 'localhost)')
    path = urllib.parse.unquote(parts.path)
    if not path.startswith('/') or '\0' in path:
        raise _refuse(url, FILE, 'a file URL needs an absolute path')
    resolved = os.path.realpath(path)
    for directory in CONF.download.file_directories:
        if directory and _under(resolved, os.path.realpath(directory)):
            return resolved
    raise _refuse(url, FILE, 'the file is not under a directory of '
                             '[download] file_directories')


def _patterns(values):
    names, networks = [], []
    for value in values:
        value = value.strip().lower()
        if not value:
            continue
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            names.append(value.rstrip('.'))
    return names, networks


def _literal(host):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_host(url, host):
    """The host name rules (denied_hosts, allowed_hosts); a literal
    address is checked as an address as well."""
    if not host:
        raise _refuse(url, HOST, 'the URL names no host')
    name = host.lower().rstrip('.')
    address = _literal(name)
    denied_names, denied_nets = _patterns(CONF.download.denied_hosts)
    if any(fnmatch.fnmatchcase(name, p) for p in denied_names):
        raise _refuse(url, HOST, 'host %s is in [download] denied_hosts'
                      % name)
    allowed_names, allowed_nets = _patterns(CONF.download.allowed_hosts)
    if allowed_names or allowed_nets:
        if not (any(fnmatch.fnmatchcase(name, p) for p in allowed_names) or
                (address is not None and
                 any(_in(address, n) for n in allowed_nets))):
            raise _refuse(url, HOST, 'host %s is not in [download] '
                                     'allowed_hosts' % name)
    if address is not None:
        check_address(url, name, address)


def _in(address, network):
    return address.version == network.version and address in network


def _plain(address):
    """The IPv4 address an IPv6 one carries (mapped, NAT64), else it."""
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.ip_address(int(address) & 0xFFFFFFFF)
    return address


def check_address(url, host, address):
    """Refuse ``address`` (of ``host``) unless the policy allows it."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split('%', 1)[0])
    plain = _plain(address)
    _, denied_nets = _patterns(CONF.download.denied_hosts)
    if any(_in(a, n) for n in denied_nets for a in (address, plain)):
        raise _refuse(url, HOST, 'host %s has an address in [download] '
                                 'denied_hosts' % host)
    if plain.is_global and not plain.is_multicast:
        return
    _, allowed_nets = _patterns(CONF.download.allowed_networks)
    if any(_in(plain, n) for n in allowed_nets):
        return
    raise _refuse(url, HOST, 'host %s has %s address, not allowed '
                             '(see [download] allowed_networks)'
                  % (host, _kind(plain)))


def _kind(address):
    if address.is_loopback:
        return 'a loopback'
    if address.is_link_local:
        return 'a link-local'
    if address.is_unspecified:
        return 'an unspecified'
    if address.is_multicast:
        return 'a multicast'
    if address in SHARED:
        return 'a shared (carrier-grade NAT)'
    if address.is_private:
        return 'a private'
    return 'a non-public'


def check_url(url):
    """Every rule that needs no network: scheme, file path, host names
    and literal addresses. Returns the scheme."""
    scheme = check_scheme(url)
    parts = urllib.parse.urlsplit(url)
    if scheme == FILE_SCHEME:
        if '@' in parts.netloc:
            raise _refuse(url, FILE, 'a file URL takes no credentials')
        file_path(url)
        return scheme
    try:
        host = parts.hostname
        parts.port
    except ValueError:
        raise _refuse(url, HOST, 'the host or port is not valid')
    check_host(url, host)
    return scheme


def check_plugin_code(url, name, sha256):
    """With plug-in code allowed, a file that may be loaded as a plug-in
    (``<name>.py``) comes only from https with a sha256."""
    if not CONF.download.allow_plugin_code or \
            not name.lower().endswith(PLUGIN_SUFFIX):
        return
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme != HTTPS or not sha256:
        raise _refuse(url, PLUGIN_CODE, '%s may be loaded as a plug-in: '
                      'plug-in code is only taken from an https URL with '
                      'a sha256' % name)
