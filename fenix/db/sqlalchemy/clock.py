# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The database server's clock, in SQL."""
import sqlalchemy as sa
from sqlalchemy.ext import compiler as sa_compiler


class db_utc_now(sa.sql.expression.FunctionElement):
    """The database server's time now, in UTC, as the DateTime columns
    store it, minus ``seconds`` (an SQL expression or number) if given.

    Liveness is judged by this one clock (not each engine's): engines
    whose clocks differ still agree on who is alive.
    """
    type = sa.DateTime()
    inherit_cache = True
    name = 'db_utc_now'


@sa_compiler.compiles(db_utc_now)
def _db_utc_now_default(element, compiler, **kw):
    # PostgreSQL: timestamp without time zone, in UTC.
    now = "timezone('utc', statement_timestamp())"
    if element.clauses.clauses:
        return "(%s - make_interval(secs => %s))" % (
            now, compiler.process(element.clauses, **kw))
    return now


@sa_compiler.compiles(db_utc_now, 'mysql')
def _db_utc_now_mysql(element, compiler, **kw):
    # UTC_TIMESTAMP, not NOW(): the server's time zone may not be UTC.
    if element.clauses.clauses:
        return 'DATE_SUB(UTC_TIMESTAMP(6), INTERVAL %s SECOND)' % (
            compiler.process(element.clauses, **kw))
    return 'UTC_TIMESTAMP(6)'


@sa_compiler.compiles(db_utc_now, 'sqlite')
def _db_utc_now_sqlite(element, compiler, **kw):
    # The text SQLAlchemy stores a DateTime as (microseconds: 6 digits),
    # so that stored times and this compare as text. CURRENT_TIMESTAMP is
    # UTC, to the second; strftime's %f gives milliseconds.
    modifier = ''
    if element.clauses.clauses:
        modifier = ", '-' || (%s) || ' seconds'" % compiler.process(
            element.clauses, **kw)
    return "(strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now'%s) || '000')" % (
        modifier)
