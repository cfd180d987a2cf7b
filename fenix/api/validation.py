# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Request bodies and query strings: parsing and JSON-schema validation.

Every failure raises :class:`fenix.common.exception.Invalid` (400) with a
message that names the field at fault.
"""
import json

import jsonschema
from jsonschema import exceptions as js_exceptions

from fenix.common import exception

# Largest integer a constraint or option may hold (a signed 32-bit column).
MAX_INT = 2 ** 31 - 1

# Deepest nesting of arrays and objects a body may have (the body object
# itself is level 1).
MAX_DEPTH = 32

# The cache of a request's parsed body, in its WSGI environ.
_BODY_KEY = 'fenix.json_body'


def _is_integer(checker, instance):
    # JSON 1.0 is a number, not an integer; a bool is neither.
    return isinstance(instance, int) and not isinstance(instance, bool)


_TYPE_CHECKER = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    'integer', _is_integer)
Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, type_checker=_TYPE_CHECKER)


# --- schema fragments -------------------------------------------------------
def string(max_length=255, min_length=1, **kw):
    return dict(type='string', minLength=min_length, maxLength=max_length,
                **kw)


def integer(minimum=0, maximum=MAX_INT):
    return {'type': 'integer', 'minimum': minimum, 'maximum': maximum}


def enum(values):
    return {'type': 'string', 'enum': list(values)}


BOOLEAN = {'type': 'boolean'}
OBJECT = {'type': 'object'}


# --- bodies -----------------------------------------------------------------
class _NotANumber(object):
    """What the parser makes of a number Fenix cannot store (``1e400``,
    ``NaN``, ``Infinity``): _check_text refuses it, naming its field."""

    def __init__(self, reason):
        self.reason = reason


def _reject_constant(name):
    return _NotANumber('%s is not valid JSON' % name)


def _finite_float(text):
    value = float(text)
    if value in (float('inf'), float('-inf')):
        return _NotANumber('number %s is too large' % text)
    return value


def _check_depth(text):
    """Raise Invalid when arrays and objects nest deeper than MAX_DEPTH.

    Counted on the text, before the parser recurses into it.
    """
    if text.count('[') + text.count('{') <= MAX_DEPTH:
        return
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == '\\':
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in '[{':
            depth += 1
            if depth > MAX_DEPTH:
                raise exception.Invalid(
                    reason='Request body is nested too deeply: arrays '
                           'and objects deeper than %d levels.' % MAX_DEPTH)
        elif char in ']}':
            depth -= 1


def _check_text(value, path=''):
    """Raise Invalid naming the field of a string (or key) that is not
    valid Unicode (a lone surrogate such as "\\ud800") or holds a NUL
    character (no database stores it as text: PostgreSQL refuses it), or
    of a number that is not finite."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                name = '%s.%s' % (where, key) if where else str(key)
                problem = _text_problem(key)
                if problem:
                    raise exception.Invalid(
                        reason='%s: a key: %s' % (where or 'request body',
                                                  problem))
                stack.append((child, name))
        elif isinstance(item, list):
            for i, child in enumerate(item):
                stack.append((child, '%s[%d]' % (where, i)))
        elif isinstance(item, str) and _text_problem(item):
            raise exception.Invalid(
                reason='%s: %s' % (where or 'request body',
                                   _text_problem(item)))
        elif isinstance(item, _NotANumber):
            raise exception.Invalid(reason='%s: %s' % (
                where or 'request body', item.reason))


def _text_problem(text):
    """Why ``text`` cannot be taken (None: it can)."""
    try:
        text.encode('utf-8')
    except UnicodeEncodeError:
        return 'not valid Unicode (lone surrogate)'
    if '\x00' in text:
        return 'a NUL character is not allowed'
    return None


def _parse(raw):
    if not raw:
        return {}
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError:
        raise exception.Invalid(reason='Request body is not UTF-8 text.')
    if text.startswith('\ufeff'):
        text = text[1:]
    if not text.strip():
        return {}
    _check_depth(text)
    try:
        body = json.loads(text, parse_constant=_reject_constant,
                          parse_float=_finite_float)
    except RecursionError:
        raise exception.Invalid(reason='Request body is nested too deeply.')
    except ValueError as e:
        raise exception.Invalid(reason='Request body is not valid JSON: %s'
                                % e)
    _check_text(body)
    if not isinstance(body, dict):
        raise exception.Invalid(reason='Request body must be a JSON object, '
                                       'not %s.' % _json_type(body))
    return body


def parse_body(request):
    """The request's JSON object body; ``{}`` when it has none.

    The result (or the error) is cached in the WSGI environ, so parsing
    happens once per request.
    """
    cached = request.environ.get(_BODY_KEY)
    if cached is None:
        try:
            cached = ('ok', _parse(request.body))
        except exception.Invalid as e:
            cached = ('error', e)
        request.environ[_BODY_KEY] = cached
    kind, value = cached
    if kind == 'error':
        raise value
    return value


def _json_type(value):
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, (int, float)):
        return 'a number'
    if isinstance(value, str):
        return 'a string'
    if isinstance(value, list):
        return 'an array'
    return 'an object'


# --- schema validation ------------------------------------------------------
def _short(value, limit=60):
    text = json.dumps(value)
    if len(text) > limit:
        text = text[:limit - 3] + '...'
    return text


def _path(error):
    parts = ''
    for item in error.absolute_path:
        if isinstance(item, int):
            parts += '[%d]' % item
        else:
            parts += ('.' if parts else '') + str(item)
    return parts


def _quote_all(names):
    return ', '.join("'%s'" % n for n in sorted(names))


def _message(error):
    path = _path(error)
    where = path or 'request body'
    value = error.instance
    validator = error.validator
    schema = error.validator_value
    if validator == 'additionalProperties':
        allowed = set(error.schema.get('properties', {}))
        extra = [k for k in value if k not in allowed]
        return 'Unknown field(s) in %s: %s' % (where, _quote_all(extra))
    if validator == 'required':
        missing = [k for k in schema if k not in value]
        return 'Missing required field(s) in %s: %s' % (where,
                                                        _quote_all(missing))
    if not path:
        path = 'request body'
    if validator == 'type':
        types = [schema] if isinstance(schema, str) else list(schema)
        return '%s: %s is not of type %s' % (
            path, _short(value), ' or '.join(types))
    if validator == 'enum':
        return '%s: %s is not one of %s' % (
            path, _short(value),
            ', '.join(c if isinstance(c, str) else json.dumps(c)
                      for c in schema))
    if validator == 'const':
        return '%s: %s must be %s' % (path, _short(value), _short(schema))
    if validator == 'minimum':
        return '%s: %s is less than the minimum of %s' % (path, value,
                                                          schema)
    if validator == 'maximum':
        return '%s: %s is greater than the maximum of %s' % (path, value,
                                                             schema)
    if validator == 'minLength':
        if schema == 1:
            return '%s: must not be empty' % path
        return '%s: %s is shorter than %d characters' % (
            path, _short(value), schema)
    if validator == 'maxLength':
        return '%s: %s is longer than %d characters' % (
            path, _short(value), schema)
    if validator == 'pattern':
        return '%s: %s does not match %s' % (path, _short(value), schema)
    if validator == 'uniqueItems':
        return '%s: has duplicate items' % path
    if validator in ('minItems', 'maxItems'):
        return '%s: %s' % (path, error.message)
    if validator in ('oneOf', 'anyOf'):
        return '%s: %s is not valid: %s' % (
            path, _short(value),
            error.schema.get('description', 'no alternative matches'))
    return '%s: %s' % (path, error.message)


def validate(schema, body):
    """Raise Invalid naming the field at fault unless ``body`` matches."""
    validator = Validator(schema)
    error = js_exceptions.best_match(validator.iter_errors(body))
    if error is not None:
        raise exception.Invalid(reason=_message(error))


def check_schema(schema):
    """Raise SchemaError unless ``schema`` itself is valid (tests)."""
    Validator.check_schema(schema)


# --- query strings ----------------------------------------------------------
def query(request, allowed=()):
    """The query parameters as a dict; unknown or repeated ones are 400."""
    params = request.GET
    unknown = [k for k in params.keys() if k not in allowed]
    if unknown:
        raise exception.Invalid(
            reason='Unknown query parameter(s): %s' % _quote_all(set(unknown)))
    result = {}
    for name in params.keys():
        values = params.getall(name)
        if len(values) > 1:
            raise exception.Invalid(
                reason="Query parameter '%s' is given more than once." % name)
        result[name] = values[0]
    return result
