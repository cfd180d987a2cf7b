# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""What the ``openstack maintenance`` commands share: the client, output
columns that read well in a table and stay raw in ``-f json|yaml``."""
import json

from cliff import columns


def client(command):
    return command.app.client_manager.maintenance


class JsonColumn(columns.FormattableColumn):
    """Any JSON value: compact JSON in a table (a list one item a line),
    raw otherwise."""

    def human_readable(self):
        if self._value is None:
            return ''
        if isinstance(self._value, str):
            return self._value
        if isinstance(self._value, list):
            return '\n'.join(_compact(item) for item in self._value)
        return _compact(self._value)


def _compact(value):
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(', ', ': '))


class HostsColumn(columns.FormattableColumn):
    """A session's hosts: one ``name state [maintained]`` a line."""

    def human_readable(self):
        return '\n'.join(
            '%s %s%s' % (h.get('hostname'), h.get('state'),
                         ' maintained' if h.get('maintained') else '')
            for h in self._value or ())


class ProjectsColumn(columns.FormattableColumn):
    """A session's projects: last event and reply, one a line."""

    def human_readable(self):
        return '\n'.join(
            '%s event=%s reply=%s' % (p.get('project_id'), p.get('event'),
                                      p.get('reply'))
            for p in self._value or ())


class WavesColumn(columns.FormattableColumn):
    """A plan's waves: hosts, times and moves, a few lines a wave."""

    def human_readable(self):
        lines = []
        for wave in self._value or ():
            lines.append('wave %s: %s (%s-%s s)' % (
                wave.get('index'), ', '.join(wave.get('hosts') or ()),
                _num(wave.get('start')), _num(wave.get('end'))))
            for move in wave.get('moves') or ():
                lines.append('  %s %s %s -> %s' % (
                    move.get('kind'), move.get('instance_id'),
                    move.get('source'), move.get('target') or '(Nova)'))
        return '\n'.join(lines)


def _num(value):
    if isinstance(value, float):
        return ('%.1f' % value).rstrip('0').rstrip('.')
    return str(value)


def _row(record, names, formatters):
    """The values of ``names`` in ``record``, each through its formatter
    (a dict or a list as JSON unless it has one)."""
    values = []
    for name in names:
        value = record.get(name)
        fmt = formatters.get(name)
        if fmt is None and isinstance(value, (dict, list)):
            fmt = JsonColumn
        values.append(fmt(value) if fmt else value)
    return tuple(values)


def add_session(parser):
    """The positional <session> argument (a session id)."""
    parser.add_argument('session', metavar='<session>', help='Session id.')


def show(record, fields=None, formatters=None):
    """(columns, values) of a ShowOne for ``record`` (a dict)."""
    formatters = formatters or {}
    names = list(fields) if fields else sorted(record)
    return tuple(names), _row(record, names, formatters)


def listing(records, fields, formatters=None):
    """(columns, rows) of a Lister."""
    formatters = formatters or {}
    return tuple(fields), [_row(record, fields, formatters)
                           for record in records]


def key_values(pairs):
    """``[{'k': 'v'}, ...]`` of osc-lib's KeyValueAppendAction, or a dict of
    KeyValueAction, as one dict."""
    if isinstance(pairs, dict):
        return dict(pairs)
    out = {}
    for pair in pairs or ():
        out.update(pair)
    return out
