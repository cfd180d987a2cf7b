# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Decoding of the maintenance events a VNFM receives.

AODH POSTs an event alarm as ``{"alarm_name", "alarm_id", ...,
"reason_data": {"type": "event", "event": {"event_type", "generated",
"message_id", "traits": [[name, type, value], ...]}}}``. Trait type codes:
1 text, 2 int, 3 float, 4 datetime. Lists and dicts of the notification
payload arrive as Python ``repr`` strings (single quotes) and text traits
are cut to 255 characters; datetimes are naive UTC ISO strings.

A plain notification (``{"event_type", "payload": {...}}``, as Fenix's
``fenix-http`` driver POSTs it) is accepted too.
"""
import ast
import datetime
import json

TRAIT_TEXT = 1
TRAIT_INT = 2
TRAIT_FLOAT = 3
TRAIT_DATETIME = 4

# Length at which Ceilometer cuts a text trait.
TRAIT_MAX_LEN = 255

# Payload fields that hold a list or a dict (or, for instance_ids, a URL).
STRUCTURED_FIELDS = ('allowed_actions', 'instance_ids', 'metadata')
# Payload fields that hold a time.
TIME_FIELDS = ('actions_at', 'reply_at')


class DecodeError(ValueError):
    """The body is not an event this VNFM can read."""


def parse_time(value):
    """'YYYY-MM-DD HH:MM:SS', ISO 8601 (with 'T', fractions, 'Z' or an
    offset) → naive UTC datetime. None stays None; raises ValueError."""
    if value is None or isinstance(value, datetime.datetime):
        return value
    text = str(value).strip()
    if text.endswith('Z'):
        text = text[:-1] + '+00:00'
    parsed = datetime.datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(
            tzinfo=None)
    return parsed


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def parse_literal(text):
    """A list/dict written as Python repr (or JSON) → the object.

    Raises ValueError when the text cannot be read (e.g. it was cut).
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError('cannot read %r%s' % (
            text[:60], ' (cut at %d characters?)' % TRAIT_MAX_LEN
            if len(text) >= TRAIT_MAX_LEN else ''))


def decode_trait_value(name, type_code, value):
    """One trait's value in its Python type; raises ValueError."""
    if value is None:
        return None
    if type_code == TRAIT_INT:
        return int(value)
    if type_code == TRAIT_FLOAT:
        return float(value)
    if type_code == TRAIT_DATETIME or name in TIME_FIELDS:
        return parse_time(value)
    if isinstance(value, str) and name in STRUCTURED_FIELDS:
        text = value.strip()
        if text[:1] in ('[', '{', '('):
            return parse_literal(text)
        if text in ('None', 'null', ''):
            return None
    return value


def decode_traits(traits):
    """``[[name, type, value], ...]`` → (values, problems).

    ``values`` maps each trait name to its decoded value; a trait that
    cannot be decoded keeps its raw text there and its name is listed in
    ``problems`` (name → reason).
    """
    values = {}
    problems = {}
    for trait in traits or ():
        if isinstance(trait, dict):
            name = trait.get('name')
            type_code = trait.get('dtype', trait.get('type', TRAIT_TEXT))
            value = trait.get('value')
        else:
            if len(trait) != 3:
                raise DecodeError('trait %r is not [name, type, value]'
                                  % (trait,))
            name, type_code, value = trait
        try:
            type_code = int(type_code)
        except (TypeError, ValueError):
            type_code = TRAIT_TEXT
        try:
            values[name] = decode_trait_value(name, type_code, value)
        except ValueError as e:
            values[name] = value
            problems[name] = str(e)
    return values, problems


def _decode_payload(payload):
    values = {}
    problems = {}
    for name, value in (payload or {}).items():
        try:
            if name in TIME_FIELDS:
                value = parse_time(value)
            elif isinstance(value, str) and name in STRUCTURED_FIELDS:
                value = decode_trait_value(name, TRAIT_TEXT, value)
        except ValueError as e:
            problems[name] = str(e)
        values[name] = value
    return values, problems


class Event(object):
    """One maintenance event, decoded."""

    def __init__(self, event_type, payload, problems=None, generated=None,
                 message_id=None, alarm_id=None):
        self.event_type = event_type
        self.payload = payload
        self.problems = problems or {}
        self.generated = generated
        self.message_id = message_id
        self.alarm_id = alarm_id

    def get(self, name, default=None):
        return self.payload.get(name, default)

    state = property(lambda self: self.payload.get('state'))
    session_id = property(lambda self: self.payload.get('session_id'))
    project_id = property(lambda self: self.payload.get('project_id'))
    instance_ids = property(lambda self: self.payload.get('instance_ids'))
    reply_url = property(lambda self: self.payload.get('reply_url'))
    reply_at = property(lambda self: self.payload.get('reply_at'))
    actions_at = property(lambda self: self.payload.get('actions_at'))
    host = property(lambda self: self.payload.get('host'))
    # The id of the event (Fenix payload 1.1; its reply_url names it too).
    event_id = property(lambda self: self.payload.get('event_id'))

    @property
    def metadata(self):
        value = self.payload.get('metadata')
        return value if isinstance(value, dict) else {}

    @property
    def allowed_actions(self):
        value = self.payload.get('allowed_actions')
        return list(value) if isinstance(value, (list, tuple)) else []

    @property
    def per_instance(self):
        """True when the event names its instances (a list) rather than
        giving the URL where the project's affected instances are read."""
        return isinstance(self.instance_ids, (list, tuple))

    @property
    def instances_url(self):
        value = self.instance_ids
        if isinstance(value, str) and '://' in value:
            return value
        return None

    def signature(self):
        """What makes two deliveries the same event (the project event is
        emitted under two event types; a VNFM subscribed to both must act
        once)."""
        ids = self.instance_ids
        if isinstance(ids, list):
            ids = tuple(ids)
        return (self.session_id, self.state, ids, self.reply_url,
                str(self.reply_at), self.event_id)

    @property
    def key(self):
        """What names this event: its id, else (an older Fenix) what it
        says."""
        return self.event_id or repr(self.signature())

    def to_dict(self):
        def plain(value):
            if isinstance(value, datetime.datetime):
                return value.isoformat()
            return value
        return {'event_type': self.event_type,
                'payload': {k: plain(v) for k, v in self.payload.items()},
                'problems': dict(self.problems),
                'message_id': self.message_id}


def decode_body(body):
    """An AODH alarm body, or a plain notification, → :class:`Event`."""
    if not isinstance(body, dict):
        raise DecodeError('event body is not a JSON object')
    reason_data = body.get('reason_data')
    if isinstance(reason_data, dict) and isinstance(
            reason_data.get('event'), dict):
        event = reason_data['event']
        values, problems = decode_traits(event.get('traits'))
        generated = None
        try:
            generated = parse_time(event.get('generated'))
        except ValueError:
            problems['generated'] = 'bad time %r' % event.get('generated')
        return Event(event.get('event_type'), values, problems, generated,
                     event.get('message_id'), body.get('alarm_id'))
    if isinstance(body.get('payload'), dict):
        values, problems = _decode_payload(body['payload'])
        generated = None
        try:
            generated = parse_time(body.get('timestamp'))
        except ValueError:
            pass
        return Event(body.get('event_type'), values, problems, generated,
                     body.get('message_id'))
    raise DecodeError('neither an AODH event alarm (reason_data.event) nor '
                      'a notification (payload)')
