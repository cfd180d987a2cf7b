# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The read-only DB API: the documents ``GET`` answers, read in bulk.

The API process answers its reads from here itself (no RPC round trip to
the engine that owns the session, as Ironic's API reads its database),
and the engine answers the same RPC reads from here too, so an answer is
the same whichever process gives it (shaped by :mod:`fenix.common.views`).

Every read selects only the columns it shows (never the session's
``plan`` outside ``/detail``), as plain rows (no ORM objects, no lazy
loads), with one query per table of the session, all in one read
transaction. Nothing here writes.
"""
import functools
import json
from json import encoder as json_encoder
from urllib import parse as urlparse
import uuid

from oslo_db.sqlalchemy import types as db_types
import sqlalchemy as sa

from fenix.common import download_policy
from fenix.common import exception
from fenix.common import replies
from fenix.common import timeutils
from fenix.common import views
from fenix.db import api as db_api
from fenix.db.sqlalchemy import models

# Longest page of ``GET /v1/maintenance`` (``limit``).
MAX_LIMIT = 1000


def _select(model, fields, *extra):
    table = model.__table__
    return sa.select(*[table.c[f] for f in fields], *extra)


def _rows(session, stmt, params=None):
    return [dict(r._mapping) for r in session.execute(stmt, params)]


# The statements of the small reads (a session, a project, the replies
# the API refuses) are made once, with bound parameters: SQLAlchemy
# reuses the compiled form and result columns of a statement object, and
# works them out again for one made anew at every request (about a
# fifth of the CPU time of a small GET).
_built = functools.lru_cache(maxsize=None)


@_built
def _by_session(model, fields):
    """``fields`` (None: every column) of ``model``'s rows of one
    session (``:session_id``)."""
    table = model.__table__
    stmt = sa.select(table) if fields is None else _select(model, fields)
    return stmt.where(table.c.session_id == sa.bindparam('session_id'))


@_built
def _project_stmt(fields=None):
    table = models.Project.__table__
    return _by_session(models.Project, fields).where(
        table.c.project_id == sa.bindparam('project_id'))


@_built
def _project_instances_stmt(fields):
    table = models.Instance.__table__
    return _by_session(models.Instance, fields).where(
        table.c.project_id == sa.bindparam('project_id')).order_by(
            table.c.id)


@_built
def _instance_stmt():
    table = models.Instance.__table__
    return _by_session(models.Instance, None).where(
        table.c.instance_id == sa.bindparam('instance_id'))


@_built
def _summary_hosts_stmt():
    table = models.Host.__table__
    return _select(models.Host, views.SUMMARY_HOST_FIELDS,
                   table.c.session_id).where(
        table.c.session_id.in_(sa.bindparam('ids', expanding=True))
    ).order_by(table.c.id)


def _summary_hosts(session, session_ids):
    """``{session_id: [host rows]}`` of the progress and the ETA, in
    insert order, for many sessions in one query per chunk."""
    found = {sid: [] for sid in session_ids}
    ids = list(session_ids)
    for start in range(0, len(ids), db_api.IN_CHUNK):
        for row in _rows(session, _summary_hosts_stmt(),
                         {'ids': ids[start:start + db_api.IN_CHUNK]}):
            found[row.pop('session_id')].append(row)
    return found


def _session_row(session, session_id, fields):
    row = session.execute(_by_session(models.Session, tuple(fields)),
                          {'session_id': session_id}).first()
    if row is None:
        raise exception.SessionNotFound(session_id=session_id)
    return dict(row._mapping)


@db_api._retry_read
def session_list(limit=None, marker=None, state=None, workflow=None,
                 now=None):
    """Summaries of the sessions, oldest first (``created_at``, then
    ``session_id``); only those in ``state`` / of ``workflow`` when
    given; at most ``limit`` of them, after the session ``marker`` (the
    last one of the previous page; one that does not exist is
    :class:`~fenix.common.exception.Invalid`: a 400, as Nova answers an
    unknown marker)."""
    table = models.Session.__table__
    stmt = _select(models.Session, views.SUMMARY_FIELDS)
    if state is not None:
        stmt = stmt.where(table.c.state == state)
    if workflow is not None:
        stmt = stmt.where(table.c.workflow == workflow)
    with db_api._core_reader() as session:
        if marker is not None:
            mark = session.execute(
                sa.select(table.c.created_at, table.c.session_id).where(
                    table.c.session_id == marker)).first()
            if mark is None:
                raise exception.Invalid(
                    reason="marker: no session '%s'" % marker)
            stmt = stmt.where(sa.or_(
                table.c.created_at > mark.created_at,
                sa.and_(table.c.created_at == mark.created_at,
                        table.c.session_id > mark.session_id)))
        stmt = stmt.order_by(table.c.created_at, table.c.session_id)
        if limit is not None:
            stmt = stmt.limit(limit)
        rows = _rows(session, stmt)
        hosts = _summary_hosts(session, [r['session_id'] for r in rows])
    now = now or timeutils.utcnow()
    return [views.session_summary(r, hosts[r['session_id']], now=now)
            for r in rows]


@db_api._retry_read
def session_summary(session_id, now=None):
    """``GET /v1/maintenance/{id}``."""
    with db_api._core_reader() as session:
        row = _session_row(session, session_id, views.SUMMARY_FIELDS)
        hosts = _summary_hosts(session, [session_id])[session_id]
    return views.session_summary(row, hosts, now=now)


def _ordered(session, model, fields, session_id, *order):
    table = model.__table__
    stmt = _select(model, fields).where(table.c.session_id == session_id)
    return _rows(session, stmt.order_by(*order))


@db_api._retry_read
def session_detail(session_id, now=None):
    """``GET /v1/maintenance/{id}/detail``: one query per table."""
    host_fields = tuple(dict.fromkeys(views.HOST_FIELDS +
                                      views.SUMMARY_HOST_FIELDS))
    with db_api._reader() as session:
        row = _session_row(session, session_id,
                           views.SUMMARY_FIELDS + ('download', 'plan'))
        hosts = _ordered(session, models.Host, host_fields, session_id,
                         models.Host.__table__.c.id)
        projects = _ordered(session, models.Project, views.PROJECT_FIELDS,
                            session_id, models.Project.__table__.c.id)
        instances = _ordered(session, models.Instance,
                             views.INSTANCE_FIELDS, session_id,
                             models.Instance.__table__.c.id)
        plugins = sorted(_ordered(
            session, models.ActionPlugin,
            views.PLUGIN_FIELDS + ('id',), session_id,
            models.ActionPlugin.__table__.c.id), key=db_api.plugin_order)
        runs = _ordered(session, models.ActionPluginRun, views.RUN_FIELDS,
                        session_id, models.ActionPluginRun.__table__.c.id)
        step = models.Step.__table__.c
        steps = _ordered(session, models.Step, views.STEP_FIELDS,
                         session_id, sa.func.coalesce(step.wave, -1),
                         step.seq, step.id)
        events = _ordered(session, models.SessionEvent, views.EVENT_FIELDS,
                          session_id, models.SessionEvent.__table__.c.id)
    return views.session_detail(row, hosts, projects, instances, plugins,
                                runs, steps, events, now=now)


# --- the detail as JSON text ------------------------------------------------
# The detail of a large session is mostly its stored JSON (the plan, the
# details of every instance, the data of every history entry): decoding
# it to encode it again is most of the time the answer takes. The
# ``session_detail_json`` answer splices the stored text in as it is
# (the DB API stores it as json.dumps writes it, as the API's renderer
# writes an answer: the same bytes) and formats the times without
# building datetimes where the database keeps them as text (SQLite).

def _is_json(column):
    return isinstance(column.type, db_types.JsonEncodedType)


class _Splicer(object):
    """Stands in for stored JSON text in a document until it is encoded.

    Every held text is replaced by one placeholder string no stored value
    can hold (a random nonce between NULs), and the texts are held in the
    order the document is built, which is the order ``json.dumps`` writes
    them (insertion order of dicts, list order): the encoded document is
    split at the placeholders and the texts put in between, a split and a
    join in C instead of a regular expression match per text.
    """

    def __init__(self):
        self.texts = []
        self.placeholder = '\x00%s\x00' % uuid.uuid4().hex
        self._encoded = json.dumps(self.placeholder)

    def hold(self, text):
        self.texts.append(text)
        return self.placeholder

    def encode(self, document):
        parts = json.dumps(document).split(self._encoded)
        texts = self.texts
        if len(parts) != len(texts) + 1:
            raise AssertionError('%d placeholders for %d stored texts'
                                 % (len(parts) - 1, len(texts)))
        out = [parts[0]]
        for text, part in zip(texts, parts[1:]):
            out.append(text)
            out.append(part)
        return ''.join(out)


# json.dumps' own string encoder (the C one): the same bytes as json.dumps.
_STR = json_encoder.encode_basestring_ascii
_NULL, _TRUE, _FALSE = 'null', 'true', 'false'


def _encoded_column(values, column, as_text):
    """The JSON text of each of ``values`` (a column of fetched rows), as
    ``json.dumps`` writes it: stored JSON as it is, times formatted,
    booleans as booleans."""
    kind = column.type
    if _is_json(column):
        return [_NULL if v is None else v for v in values]
    if isinstance(kind, sa.DateTime):
        if as_text:
            # SQLite keeps 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
            return [_NULL if v is None else '"%s"' % v[:19] for v in values]
        fmt = timeutils.TIME_FORMAT
        return [_NULL if v is None else '"%s"' % v.strftime(fmt)
                for v in values]
    if isinstance(kind, sa.Boolean):
        return [_NULL if v is None else (_TRUE if v else _FALSE)
                for v in values]
    if isinstance(kind, sa.Integer):
        return [_NULL if v is None else str(int(v)) for v in values]
    if isinstance(kind, sa.String):
        return [_NULL if v is None else _STR(v) for v in values]
    return [json.dumps(v) for v in values]


def _table_json(session, model, fields, session_id, order, as_text,
                where=(), limit=None):
    """The rows of ``fields`` as the JSON text of a list of objects (keys
    in the order of ``fields``), as ``json.dumps`` would write the rows
    of :func:`session_detail`: the same bytes.

    On SQLite the whole table is written by SQLite itself
    (:func:`_sqlite_table_json`) when it can write the same bytes. Else
    the rows are fetched from the driver's cursor as the tuples it makes
    (no result processing by SQLAlchemy) and encoded a column at a time
    (a comprehension each, with json's C string encoder), then a row at a
    time by one string format: no dict per row, no encoder walk over
    them, and stored JSON is put in as it is (never decoded).

    ``where``: more conditions; ``limit``: at most that many rows (the
    :func:`_fetched_rows` of a page). Either one: the Python encoding.
    """
    if as_text and not where and limit is None:
        text = _sqlite_table_json(session, model, fields, session_id, order)
        if text is not None:
            return text
    fetched = _fetched_rows(session, model, fields, session_id, order,
                            as_text, where=where, limit=limit)
    return _rows_json(model, fields, fetched, as_text)


def _fetched_rows(session, model, fields, session_id, order, as_text,
                  where=(), limit=None):
    """The driver's tuples of ``fields`` (JSON columns as their stored
    text, times as SQLite's text when ``as_text``)."""
    table = model.__table__
    columns = []
    for name in fields:
        column = table.c[name]
        if _is_json(column):
            column = sa.type_coerce(column, sa.Text)
        elif as_text and isinstance(column.type, sa.DateTime):
            column = sa.type_coerce(column, sa.String)
        columns.append(column)
    stmt = sa.select(*columns).where(table.c.session_id == session_id,
                                     *where).order_by(*order)
    if limit is not None:
        stmt = stmt.limit(limit)
    result = session.execute(stmt)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def _rows_json(model, fields, fetched, as_text):
    """The JSON text of the list of rows ``fetched`` (driver tuples of
    ``fields``): see :func:`_table_json`."""
    if not fetched:
        return '[]'
    table = model.__table__
    encoded = [_encoded_column(values, table.c[name], as_text)
               for name, values in zip(fields, zip(*fetched))]
    template = '{%s}' % ', '.join(
        '%s: %%s' % _STR(name).replace('%', '%%') for name in fields)
    return '[%s]' % ', '.join([template % row for row in zip(*encoded)])


# SQLite writes the JSON text of each row itself (its C string functions
# instead of a Python value per column and row: about half the CPU time
# of the detail of a large session). Its json_quote() escapes as
# json.dumps does (\" \\ \b \f \n \r \t, other control characters
# as lower-case \u00xx) but leaves DEL and non-ASCII characters as they
# are, where json.dumps writes \u escapes: a table whose text holds any
# is written by Python instead (the same bytes either way).
def _sqlite_value(column):
    """The SQL expression of the JSON text of ``column`` (SQLite)."""
    name = '"%s"' % column.name
    kind = column.type
    if _is_json(column):
        value = name
    elif isinstance(kind, sa.DateTime):
        value = """'"' || substr(%s, 1, 19) || '"'""" % name
    elif isinstance(kind, sa.Boolean):
        return ("CASE WHEN %s IS NULL THEN 'null' WHEN %s THEN 'true' "
                "ELSE 'false' END" % (name, name))
    elif isinstance(kind, sa.Integer):
        # As str(int(v)).
        value = 'CAST(CAST(%s AS INTEGER) AS TEXT)' % name
    elif isinstance(kind, sa.String):
        value = 'json_quote(%s)' % name
    else:
        return None
    return "coalesce(%s, 'null')" % value


# Whether this SQLite has json_quote() (built in since 3.38, an option
# before): None until a read asked.
_sqlite_json_quote = None


def _has_json_quote(session):
    global _sqlite_json_quote
    if _sqlite_json_quote is None:
        try:
            session.execute(sa.text("SELECT json_quote('')")).scalar()
            _sqlite_json_quote = True
        except sa.exc.OperationalError:
            _sqlite_json_quote = False
    return _sqlite_json_quote


def _sqlite_table_json(session, model, fields, session_id, order):
    """:func:`_table_json` written by SQLite, one text per row; None when
    SQLite cannot write the same bytes as json.dumps (no json_quote(), a
    column of a type it does not handle, a character it does not
    escape)."""
    if not _has_json_quote(session):
        return None
    table = model.__table__
    parts = []
    for name in fields:
        value = _sqlite_value(table.c[name])
        if value is None:
            return None
        parts.append("'%s: ' || %s" % (_STR(name), value))
    row = "'{' || %s || '}'" % " || ', ' || ".join(parts)
    stmt = sa.select(sa.literal_column(row)).select_from(table).where(
        table.c.session_id == session_id).order_by(*order)
    result = session.execute(stmt)
    try:
        fetched = result.cursor.fetchall()
    finally:
        result.close()
    text = '[%s]' % ', '.join([r[0] for r in fetched])
    if not text.isascii() or '\x7f' in text:
        return None
    return text


@db_api._retry_read
def session_detail_json(session_id, now=None):
    """``GET /v1/maintenance/{id}/detail`` as the JSON text the API
    answers: the same bytes as ``json.dumps(session_detail(...))``."""
    return _detail_json(session_id, now=now)


@db_api._retry_read
def session_detail_page_json(session_id, limit, marker=None, next_link=None,
                             now=None):
    """``GET /v1/maintenance/{id}/detail?limit=&marker=``: the detail
    (as :func:`session_detail_json`) with one page of its ``instances``,
    the ``limit`` instances after the instance ``marker`` (the last one
    of the previous page; one the session does not have is
    :class:`~fenix.common.exception.Invalid`: a 400, as Nova answers an
    unknown marker), in the order of the whole list. When more follow,
    ``instances_links`` comes after ``instances``: what
    ``next_link(<the page's last instance id>)`` gives (the API's
    ``[{"rel": "next", "href": ...}]``). Every other part of the
    document is whole."""
    return _detail_json(session_id, now=now,
                        page=(limit, marker, next_link))


def _instances_page(session, session_id, as_text, page):
    """``(rows, links)`` of one page of the instances (see
    :func:`session_detail_page_json`)."""
    limit, marker, next_link = page
    table = models.Instance.__table__
    where = ()
    if marker is not None:
        mark = session.execute(sa.select(table.c.id).where(
            table.c.session_id == session_id,
            table.c.instance_id == marker)).first()
        if mark is None:
            raise exception.Invalid(
                reason="marker: no instance '%s' in session %s"
                       % (marker, session_id))
        where = (table.c.id > mark.id,)
    # One more than the page: whether a next page exists.
    fetched = _fetched_rows(session, models.Instance, views.INSTANCE_FIELDS,
                            session_id, (table.c.id,), as_text, where=where,
                            limit=limit + 1)
    links = None
    if len(fetched) > limit:
        fetched = fetched[:limit]
        last = fetched[-1][views.INSTANCE_FIELDS.index('instance_id')]
        if next_link is None:
            # A relative reference: this detail with the next page.
            links = [{'rel': 'next', 'href': '?' + urlparse.urlencode(
                {'limit': limit, 'marker': last})}]
        else:
            links = next_link(last)
    return _rows_json(models.Instance, views.INSTANCE_FIELDS, fetched,
                      as_text), links


def _detail_json(session_id, now=None, page=None):
    splicer = _Splicer()
    plan_column = sa.type_coerce(models.Session.__table__.c.plan, sa.Text)
    with db_api._reader() as session:
        as_text = session.get_bind().dialect.name == 'sqlite'
        table = models.Session.__table__
        found = session.execute(_select(
            models.Session, views.SUMMARY_FIELDS + ('download',),
            plan_column.label('plan')).where(
                table.c.session_id == session_id)).first()
        if found is None:
            raise exception.SessionNotFound(session_id=session_id)
        row = dict(found._mapping)
        # The plan comes before the rows in the answer: held first.
        plan = row.pop('plan')
        plan = None if plan is None else splicer.hold(plan)
        summary_hosts = _summary_hosts(session, [session_id])[session_id]

        def rows(model, fields, *order):
            # Held in the order of the answer (after the plan).
            return splicer.hold(_table_json(session, model, fields,
                                            session_id, order, as_text))
        hosts = rows(models.Host, views.HOST_FIELDS,
                     models.Host.__table__.c.id)
        projects = rows(models.Project, views.PROJECT_FIELDS,
                        models.Project.__table__.c.id)
        links = None
        if page is None:
            instances = rows(models.Instance, views.INSTANCE_FIELDS,
                             models.Instance.__table__.c.id)
        else:
            text, links = _instances_page(session, session_id, as_text,
                                          page)
            instances = splicer.hold(text)
        plugins = sorted(_ordered(
            session, models.ActionPlugin,
            views.PLUGIN_FIELDS + ('id',), session_id,
            models.ActionPlugin.__table__.c.id), key=db_api.plugin_order)
        runs = rows(models.ActionPluginRun, views.RUN_FIELDS,
                    models.ActionPluginRun.__table__.c.id)
        step = models.Step.__table__.c
        steps = rows(models.Step, views.STEP_FIELDS,
                     sa.func.coalesce(step.wave, -1), step.seq, step.id)
        events = rows(models.SessionEvent, views.EVENT_FIELDS,
                      models.SessionEvent.__table__.c.id)
    view = views.session_summary(row, summary_hosts, now=now)
    view['download'] = download_policy.redact_entries(
        row.get('download'))
    view['plan'] = plan
    # The tables' JSON texts, spliced in by encode().
    view['hosts'] = hosts
    view['projects'] = projects
    view['instances'] = instances
    if links is not None:
        view['instances_links'] = links
    view['action_plugins'] = [views.action_plugin(a) for a in plugins]
    view['action_plugin_runs'] = runs
    view['steps'] = steps
    view['history'] = events
    return splicer.encode(view)


# What the project read and the reply checks need of the rows.
_PROJECT_FIELDS = ('event', 'event_id', 'reply', 'reply_at')
_INSTANCE_EVENT_FIELDS = ('instance_id', 'event', 'event_id')


@db_api._retry_read
def project(session_id, project_id, event_id=None):
    """``GET /v1/maintenance/{id}/{project_id}``: the project's current
    event (a request naming another ``event_id``:
    :class:`~fenix.common.exception.ReplyConflict`)."""
    with db_api._core_reader() as session:
        # A session that does not exist is ProjectNotFound here (as the
        # engine always answered).
        keys = {'session_id': session_id, 'project_id': project_id}
        # The columns the answer shows and the checks read (fewer
        # column descriptions for the driver to parse).
        row = session.execute(_project_stmt(_PROJECT_FIELDS), keys).first()
        if row is None:
            raise exception.ProjectNotFound(session_id=session_id,
                                            project_id=project_id)
        row = dict(row._mapping)
        instances = _rows(session, _project_instances_stmt(
            _INSTANCE_EVENT_FIELDS), keys)
    replies.check_current(row, replies.project_subject(project_id),
                          event_id, 'The request')
    return {'session_id': session_id, 'project_id': project_id,
            'state': row['event'], 'event_id': row['event_id'],
            'reply': row['reply'],
            'reply_at': timeutils.format_time(row['reply_at']),
            'instance_ids': replies.concerned_instances(row, instances)}


@db_api._retry_read
def project_instance(session_id, project_id, instance_id, event_id=None):
    """``GET /v1/maintenance/{id}/{project_id}/{instance_id}``."""
    with db_api._core_reader() as session:
        _session_row(session, session_id, ('session_id',))
        row = session.execute(_instance_stmt(), {
            'session_id': session_id, 'instance_id': instance_id}).first()
    if row is None or row.project_id != project_id:
        raise exception.InstanceNotFound(
            session_id=session_id, project_id=project_id,
            instance_id=instance_id)
    row = dict(row._mapping)
    replies.check_current(
        row, replies.instance_subject(project_id, instance_id),
        event_id, 'The request')
    return {'session_id': session_id, 'project_id': project_id,
            'instance_id': instance_id,
            'instance_ids': [instance_id],
            'state': row['event'],
            'event_id': row['event_id'],
            'reply': row['reply'],
            'reply_at': timeutils.format_time(row['reply_at']),
            'host': row['host'],
            'instance_action': row['action'],
            'action_state': row['action_state']}


@db_api._retry_read
def action_runs(session_id):
    """``GET /v1/maintenance/{id}/action_plugin_run``."""
    with db_api._reader() as session:
        _session_row(session, session_id, ('session_id',))
        runs = _ordered(session, models.ActionPluginRun, views.RUN_FIELDS,
                        session_id, models.ActionPluginRun.__table__.c.id)
    return [views.action_run(r) for r in runs]


# Constraints: their rows are the answers.
instance_constraints_list = db_api.instance_constraints_list
instance_constraint_get = db_api.instance_constraint_get
instance_group_constraints_list = db_api.instance_group_constraints_list
instance_group_constraint_get = db_api.instance_group_constraint_get
