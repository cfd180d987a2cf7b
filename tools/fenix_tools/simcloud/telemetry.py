# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Notification -> event, the way ceilometer-agent-notification does it.

An oslo.messaging notification (event_type, payload, publisher_id,
timestamp, message_id, context) becomes an event ``{message_id,
event_type, generated, traits: [[name, type, value], ...], raw: {},
message_signature}``:

- traits are the default ones (``service`` from publisher_id,
  ``request_id``, ``project_id``/``tenant_id`` from ``payload.tenant_id``
  or the context, ``user_id``) updated by the event definition that
  matches the event type (fnmatch patterns; the last match wins), in that
  order; traits whose value is missing are left out;
- type codes are 1 text, 2 int, 3 float, 4 datetime; text is ``str(value)``
  (so lists and dicts become Python ``repr`` strings) cut at 255
  characters; datetimes become naive UTC ISO strings without ``Z``;
- a value that cannot be converted (a datetime that does not parse, an
  int that is not a number) drops the whole event, as in Ceilometer.

The default definitions are those of ``real-aodh.md`` plus
``maintenance.session``; a topology may replace them (``telemetry:
event_definitions:``, same shape as Ceilometer's ``event_definitions.yaml``
but with plain dotted ``fields`` paths).
"""
import fnmatch
import hashlib
import hmac

from fenix_tools.simcloud import util

TEXT, INT, FLOAT, DATETIME = 1, 2, 3, 4
TYPE_CODES = {'text': TEXT, 'int': INT, 'float': FLOAT,
              'datetime': DATETIME}
MAX_TEXT = 255
SIGNING_SECRET = b'change this for valid signing'

DEFAULT_TRAITS = [
    ('service', {'type': 'text', 'fields': 'publisher_id'}),
    ('request_id', {'type': 'text', 'fields': 'ctxt.request_id'}),
    ('project_id', {'type': 'text',
                    'fields': ['payload.tenant_id', 'ctxt.project_id']}),
    ('user_id', {'type': 'text',
                 'fields': ['payload.user_id', 'ctxt.user_id']}),
    ('tenant_id', {'type': 'text',
                   'fields': ['payload.tenant_id', 'ctxt.project_id']}),
]


def _t(field, ttype='text'):
    return {'type': ttype, 'fields': 'payload.' + field}


# The same definitions, in the same order, as the integration tier gives
# the real Ceilometer (tools/integration/etc/event_definitions.yaml; a
# test keeps them equal).
DEFAULT_DEFINITIONS = [
    {'event_type': ['maintenance.planned', 'maintenance.scheduled'],
     'traits': {
         'service': _t('service'),
         'project_id': _t('project_id'),
         'session_id': _t('session_id'),
         'state': _t('state'),
         'instance_ids': _t('instance_ids'),
         'allowed_actions': _t('allowed_actions'),
         'actions_at': _t('actions_at', 'datetime'),
         'reply_at': _t('reply_at', 'datetime'),
         'reply_url': _t('reply_url'),
         'metadata': _t('metadata'),
         'event_id': _t('event_id')}},
    {'event_type': 'maintenance.host',
     'traits': {
         'service': _t('service'),
         'host': _t('host'),
         'project_id': _t('project_id'),
         'session_id': _t('session_id'),
         'state': _t('state')}},
    {'event_type': 'maintenance.session',
     'traits': {
         'service': _t('service'),
         'project_id': _t('project_id'),
         'session_id': _t('session_id'),
         'state': _t('state'),
         'percent_done': _t('percent_done', 'int')}},
]


class DropEvent(Exception):
    """The notification cannot become an event (Ceilometer drops it)."""


def _lookup(body, path):
    if path.startswith('$.'):
        path = path[2:]
    value = body
    for part in path.split('.'):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def convert_value(name, ttype, value):
    """Ceilometer's ``Trait.convert_value`` plus the empty-string rule."""
    if ttype != TEXT and value == '':
        return None
    try:
        if ttype == INT:
            return int(value)
        if ttype == FLOAT:
            return float(value)
        if ttype == DATETIME:
            return util.parse_time(value).isoformat()
    except (TypeError, ValueError) as exc:
        raise DropEvent('trait %s: cannot convert %r (%s)' % (name, value,
                                                              exc))
    if isinstance(value, bytes):
        value = value.decode('utf-8', 'replace')
    return str(value)[:MAX_TEXT]


def _utf8_items(value):
    """``ceilometer.publisher.utils.decode_unicode``: what a list value
    is signed as (str items become bytes, dict keys sorted)."""
    if isinstance(value, dict):
        return {_utf8_items(k): _utf8_items(v)
                for k, v in sorted(value.items())}
    if isinstance(value, (tuple, list)):
        return [_utf8_items(v) for v in value]
    if isinstance(value, str):
        return value.encode('utf-8')
    if isinstance(value, bytes):
        return value.decode('utf-8')
    return value


def _signed_pairs(data):
    """``ceilometer.publisher.utils.recursive_keypairs``: sorted (name,
    value) pairs, nested dicts flattened as ``outer:inner``."""
    for name, value in sorted(data.items()):
        if isinstance(value, dict):
            for subname, subvalue in _signed_pairs(value):
                yield '%s:%s' % (name, subname), subvalue
        elif isinstance(value, (tuple, list)):
            yield name, _utf8_items(value)
        else:
            yield name, value


def sign(event):
    """Ceilometer's ``message_signature`` of the event
    (``ceilometer.publisher.utils.compute_signature``: HMAC-SHA256 over
    the sorted names and values, the signature itself left out), with
    Ceilometer's default ``telemetry_secret`` (AODH does not check it).

    The simulated cloud plays Ceilometer, so this is its own code, not
    Fenix's (fenix.common.aodh_events): a unit test compares the two.
    Ceilometer signs before the event crosses the bus, when the traits
    are still (name, type, value) tuples.
    """
    digest = hmac.new(SIGNING_SECRET, b'', hashlib.sha256)
    for name, value in _signed_pairs(
            dict(event, traits=[tuple(t) for t in event['traits']])):
        if name == 'message_signature':
            continue
        digest.update(str(name).encode('utf-8'))
        digest.update(str(value).encode('utf-8'))
    return digest.hexdigest()


class EventConverter:
    def __init__(self, definitions=None, drop_unmatched=False):
        self.drop_unmatched = drop_unmatched
        self.definitions = []
        for index, definition in enumerate(
                definitions if definitions is not None
                else DEFAULT_DEFINITIONS):
            self.definitions.append(self._parse(definition, index))

    @staticmethod
    def _parse(definition, index):
        where = 'telemetry.event_definitions[%d]' % index
        if not isinstance(definition, dict) or \
                'event_type' not in definition:
            raise ValueError('%s: event_type is required' % where)
        patterns = definition['event_type']
        if isinstance(patterns, str):
            patterns = [patterns]
        traits = []
        for name, spec in (definition.get('traits') or {}).items():
            if isinstance(spec, str):
                spec = {'fields': spec}
            fields = spec.get('fields')
            if isinstance(fields, str):
                fields = [fields]
            if not fields:
                raise ValueError('%s.traits.%s: fields is required'
                                 % (where, name))
            ttype = spec.get('type', 'text')
            if ttype not in TYPE_CODES:
                raise ValueError('%s.traits.%s: type must be one of %s'
                                 % (where, name, ', '.join(TYPE_CODES)))
            traits.append((name, TYPE_CODES[ttype], list(fields)))
        return {'patterns': patterns, 'traits': traits}

    def definition_for(self, event_type):
        found = None
        for definition in self.definitions:
            included = [p for p in definition['patterns']
                        if not p.startswith('!')]
            excluded = [p[1:] for p in definition['patterns']
                        if p.startswith('!')]
            if any(fnmatch.fnmatchcase(event_type, p) for p in excluded):
                continue
            if any(fnmatch.fnmatchcase(event_type, p) for p in included):
                found = definition
        return found

    def to_event(self, notification):
        """Convert a notification dict; raise :class:`DropEvent`."""
        event_type = notification.get('event_type')
        if not event_type:
            raise DropEvent('no event_type')
        definition = self.definition_for(event_type)
        if definition is None and self.drop_unmatched:
            raise DropEvent('no event definition for %s' % event_type)
        specs = {}
        for name, spec in DEFAULT_TRAITS:
            fields = spec['fields']
            specs[name] = (TYPE_CODES[spec['type']],
                           [fields] if isinstance(fields, str) else fields)
        for name, ttype, fields in (definition['traits']
                                    if definition else ()):
            specs[name] = (ttype, fields)
        body = {'payload': notification.get('payload') or {},
                'publisher_id': notification.get('publisher_id'),
                'ctxt': notification.get('ctxt') or {},
                'event_type': event_type,
                'message_id': notification.get('message_id'),
                'timestamp': notification.get('timestamp'),
                'priority': notification.get('priority')}
        traits = []
        for name, (ttype, fields) in specs.items():
            value = None
            for path in fields:
                value = _lookup(body, path)
                if value is not None:
                    break
            if value is None:
                continue
            value = convert_value(name, ttype, value)
            if value is None:
                continue
            traits.append([name, ttype, value])
        timestamp = notification.get('timestamp')
        try:
            generated = util.parse_time(timestamp) if timestamp else \
                util.utcnow()
        except ValueError:
            raise DropEvent('unparsable timestamp %r' % timestamp)
        event = {'message_id': notification.get('message_id') or
                 util.new_uuid(),
                 'event_type': event_type,
                 'generated': generated.isoformat(),
                 'traits': traits,
                 'raw': {}}
        event['message_signature'] = sign(event)
        return event
