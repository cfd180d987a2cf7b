# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Values of command-line options, as argparse types.

Shared by the ``openstack maintenance`` commands (:mod:`fenix.client.osc`)
and ``fenix-admin``, so that both read a time, an action or a number the
same way and say the same thing about a bad one.
"""
import argparse
import datetime
import json

# The action plug-in types of the API (SPEC: actions).
PLUGIN_TYPES = ('pre', 'host', 'compute', 'controller', 'post')
TIME_FORMAT = '%Y-%m-%d %H:%M:%S'


def _number(text, kind):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError('%r is not a number' % text)


def positive(text):
    """A number more than 0 (seconds, an interval)."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError('must be more than 0')
    return value


def non_negative(text):
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError('must be 0 or more')
    return value


def positive_int(text):
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError('must be 1 or more')
    return value


def utc_time(text):
    """A time as the API documents it: 'YYYY-MM-DD HH:MM:SS' UTC, or ISO
    8601 (an offset is converted to UTC)."""
    try:
        when = datetime.datetime.fromisoformat(
            text.strip().replace('Z', '+00:00'))
    except ValueError:
        raise argparse.ArgumentTypeError(
            '%r is not "YYYY-MM-DD HH:MM:SS" (UTC) or ISO 8601' % text)
    if when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return when.strftime(TIME_FORMAT)


def utc_in(seconds, now=None):
    """The time ``seconds`` from ``now`` (default: the current UTC time),
    in the API's form."""
    now = now or datetime.datetime.now(datetime.timezone.utc).replace(
        tzinfo=None)
    return (now + datetime.timedelta(seconds=seconds)).strftime(TIME_FORMAT)


def json_object(text, what='value'):
    """A JSON object given as text."""
    try:
        value = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError('%s: not JSON: %s' % (what, e))
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('%s must be a JSON object' % what)
    return value


def action(text):
    """PLUGIN:TYPE[:JSON-METADATA] -> {"plugin", "type"[, "metadata"]}."""
    parts = text.split(':', 2)
    if len(parts) < 2 or not parts[0] or parts[1] not in PLUGIN_TYPES:
        raise argparse.ArgumentTypeError(
            '%r: want PLUGIN:TYPE[:JSON-METADATA], TYPE one of %s'
            % (text, ', '.join(PLUGIN_TYPES)))
    result = {'plugin': parts[0], 'type': parts[1]}
    if len(parts) == 3:
        result['metadata'] = json_object(parts[2], '%r: metadata' % text)
    return result


def host_names(values):
    """Host names from options given once or more, commas separating."""
    names = []
    for item in values or ():
        names.extend(h for h in item.split(',') if h)
    return names
