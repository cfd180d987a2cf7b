# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Fenix's notifications as the events Ceilometer would make of them.

For ``[notification_aodh] enabled`` (clouds without Ceilometer): what
ceilometer-agent-notification (``ceilometer.event.converter`` and
``ceilometer.publisher.messaging``) publishes to aodh-listener for one
notification, with Fenix's event definitions. Checked against the real
converter in the integration tier (tools/integration/helpers/
ceilometer_event.py).
"""
import collections
import hashlib
import hmac
import uuid

from oslo_utils import timeutils as oslo_timeutils

PUBLISHER_ID = 'fenix'

# What ceilometer-agent-notification (ceilometer.event.converter and
# ceilometer.publisher.messaging) publishes to aodh-listener for one
# notification, with Fenix's event definitions.

#: Trait type codes (ceilometer.event.models.Trait).
TEXT, INT, FLOAT, DATETIME = 1, 2, 3, 4
#: Text traits are cut to this many characters (Trait.convert_value).
MAX_TEXT = 255
#: How Ceilometer's publisher names the event notification it sends.
AODH_EVENT_TYPE = 'event'

#: Ceilometer's default traits, in its order (EventDefinition
#: .DEFAULT_TRAITS): (name, type, fields tried in turn).
DEFAULT_TRAITS = (
    ('service', TEXT, ('publisher_id',)),
    ('request_id', TEXT, ('ctxt.request_id',)),
    ('project_id', TEXT, ('payload.tenant_id', 'ctxt.project_id')),
    ('user_id', TEXT, ('payload.user_id', 'ctxt.user_id')),
    ('tenant_id', TEXT, ('payload.tenant_id', 'ctxt.project_id')),
)


def _payload(*traits):
    return tuple((name, ttype, ('payload.%s' % name,))
                 for name, ttype in traits)


#: Fenix's Ceilometer event definitions (the traits of each notification;
#: the same as tools/integration/etc/event_definitions.yaml, which
#: doc/source/admin.rst gives to operators of Ceilometer).
PROJECT_EVENT_TRAITS = _payload(
    ('service', TEXT), ('project_id', TEXT), ('session_id', TEXT),
    ('state', TEXT), ('instance_ids', TEXT), ('allowed_actions', TEXT),
    ('actions_at', DATETIME), ('reply_at', DATETIME), ('reply_url', TEXT),
    ('metadata', TEXT), ('event_id', TEXT))
HOST_EVENT_TRAITS = _payload(
    ('service', TEXT), ('host', TEXT), ('project_id', TEXT),
    ('session_id', TEXT), ('state', TEXT))
SESSION_EVENT_TRAITS = _payload(
    ('service', TEXT), ('project_id', TEXT), ('session_id', TEXT),
    ('state', TEXT), ('percent_done', INT))


def _lookup(body, path):
    value = body
    for part in path.split('.'):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def convert_trait(ttype, value):
    """Ceilometer's Trait.convert_value (None: the trait is left out)."""
    if ttype != TEXT and value == '':
        return None  # Ceilometer skips empty non-text values
    if ttype == INT:
        return int(value)
    if ttype == FLOAT:
        return float(value)
    if ttype == DATETIME:
        return oslo_timeutils.normalize_time(
            oslo_timeutils.parse_isotime(value)).isoformat()
    if isinstance(value, bytes):
        return value.decode('utf-8')[:MAX_TEXT]
    # Lists and dicts become their Python repr, as in Ceilometer.
    return str(value)[:MAX_TEXT]


def _decode(value):
    """ceilometer.publisher.utils.decode_unicode."""
    if isinstance(value, dict):
        return {_decode(k): _decode(v) for k, v in sorted(value.items())}
    if isinstance(value, (tuple, list)):
        return [_decode(v) for v in value]
    if isinstance(value, str):
        return value.encode('utf-8')
    if isinstance(value, bytes):
        return value.decode('utf-8')
    return value


def _keypairs(data, separator=':'):
    """ceilometer.publisher.utils.recursive_keypairs."""
    for name, value in sorted(data.items()):
        if isinstance(value, dict):
            for subname, subvalue in _keypairs(value, separator):
                yield '%s%s%s' % (name, separator, subname), subvalue
        elif isinstance(value, (tuple, list)):
            yield name, _decode(value)
        else:
            yield name, value


def event_signature(event, secret):
    """Ceilometer's message_signature of an event ('' without a secret).

    Computed, as Ceilometer does, before the event crosses the bus: the
    traits are still (name, type, value) tuples then.
    """
    if not secret:
        return ''
    if isinstance(secret, str):
        secret = secret.encode('utf-8')
    digest = hmac.new(secret, b'', hashlib.sha256)
    for name, value in _keypairs(event):
        if name == 'message_signature':
            continue
        digest.update(str(name).encode('utf-8'))
        digest.update(str(value).encode('utf-8'))
    return digest.hexdigest()


def ceilometer_event(event_type, payload, traits=(), message_id=None,
                     generated=None, publisher_id=PUBLISHER_ID, ctxt=None,
                     secret=None):
    """The event Ceilometer makes of one notification.

    ``traits``: the event definition's ``(name, type, fields)``; they
    override the default traits of the same name and follow them, in
    order. A trait whose fields are all missing or None is left out; a
    value that cannot be converted raises ValueError (Ceilometer drops
    such a notification). ``generated``: the notification's time (naive
    UTC; default now).

    :returns: ``{message_id, event_type, generated, traits: [[name, type,
        value], ...], raw: {}, message_signature}``.
    """
    body = {'payload': payload or {}, 'publisher_id': publisher_id,
            'ctxt': ctxt or {}, 'event_type': event_type}
    specs = collections.OrderedDict(
        (name, (ttype, fields)) for name, ttype, fields in DEFAULT_TRAITS)
    for name, ttype, fields in traits:
        specs[name] = (ttype, fields)
    found = []
    for name, (ttype, fields) in specs.items():
        value = None
        for path in fields:
            value = _lookup(body, path)
            if value is not None:
                break
        if value is None:
            continue
        value = convert_trait(ttype, value)
        if value is not None:
            found.append((name, ttype, value))
    generated = oslo_timeutils.normalize_time(
        generated or oslo_timeutils.utcnow())
    event = {'message_id': message_id or str(uuid.uuid4()),
             'event_type': event_type,
             'generated': generated.isoformat(),
             'traits': found,
             'raw': {}}
    event['message_signature'] = event_signature(event, secret)
    event['traits'] = [list(t) for t in found]
    return event
