# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Time helpers: every time Fenix stores or sends is naive UTC."""
import datetime

from fenix.common import exception

# The format of times in notifications and API bodies (SPEC 3.1, 4).
TIME_FORMAT = '%Y-%m-%d %H:%M:%S'


def utcnow():
    """Now, as a naive datetime in UTC."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def format_time(value):
    """A datetime as 'YYYY-MM-DD HH:MM:SS' (None stays None)."""
    if value is None:
        return None
    return value.strftime(TIME_FORMAT)


def parse_time(value, field='time'):
    """Parse 'YYYY-MM-DD HH:MM:SS' or ISO 8601 (with or without offset)
    into a naive UTC datetime; raise Invalid naming ``field`` otherwise."""
    if isinstance(value, datetime.datetime):
        parsed = value
    else:
        text = str(value).strip()
        if text.endswith('Z'):
            text = text[:-1] + '+00:00'
        try:
            parsed = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise exception.Invalid(
                reason="%s '%s' is not a time in the form "
                       "'YYYY-MM-DD HH:MM:SS' (UTC) or ISO 8601"
                       % (field, value))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(
            tzinfo=None)
    return parsed.replace(microsecond=0)


def after(seconds, start=None):
    """The time ``seconds`` after ``start`` (default now)."""
    return (start or utcnow()) + datetime.timedelta(seconds=seconds)
