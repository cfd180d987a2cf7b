# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix-manage: database and session administration.

    fenix-manage [--config-file FILE] db upgrade [--revision REV]
    fenix-manage db version
    fenix-manage db stamp REV
    fenix-manage db revision -m MESSAGE [--autogenerate]
    fenix-manage db purge --before DAYS
    fenix-manage session list
    fenix-manage session delete SESSION_ID [--force]

Exits 0 on success, 1 with a one-line message on stderr on an error (e.g.
the database cannot be reached), 2 on a usage error.
"""
import datetime
import sys

from alembic import util as alembic_util
from oslo_config import cfg
from oslo_db import exception as db_exc
import sqlalchemy.exc

from fenix.common import exception
from fenix.common import states
from fenix.common import timeutils
from fenix import conf as fenix_conf
from fenix.db import api as db_api
from fenix.db import migration

CONF = fenix_conf.CONF


class CommandError(Exception):
    """An error to report in one line."""


# --- db ----------------------------------------------------------------------

def db_upgrade():
    migration.upgrade(CONF.command.revision)
    print('Database is at revision %s.' % migration.version())


def db_version():
    print(migration.version() or 'None (not under migration control)')


def db_stamp():
    migration.stamp(CONF.command.stamp_revision)
    print('Database stamped with revision %s.' % migration.version())


def db_revision():
    path = migration.revision(CONF.command.message,
                              CONF.command.autogenerate)
    print('New migration: %s' % path)


def db_purge():
    days = CONF.command.before
    if days < 0:
        raise CommandError('--before must be 0 or more days')
    before = timeutils.utcnow() - datetime.timedelta(days=days)
    purged = 0
    for session in db_api.session_list():
        last = session['updated_at'] or session['created_at']
        if (session['state'] in states.FINAL_SESSION_STATES and
                last < before):
            db_api.session_delete(session['session_id'])
            purged += 1
    print('Purged %d finished session(s) last changed before %s.'
          % (purged, timeutils.format_time(before)))


# --- session -----------------------------------------------------------------

def session_list():
    rows = [('ID', 'STATE', 'WORKFLOW', 'ENGINE', 'UPDATED')]
    for s in db_api.session_list():
        rows.append((s['session_id'], s['state'], s['workflow'],
                     s['engine'] or '-',
                     timeutils.format_time(s['updated_at'] or
                                           s['created_at'])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print('  '.join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


def session_delete():
    session_id = CONF.command.session_id
    session = db_api.session_get(session_id)
    if (session['state'] not in states.FINAL_SESSION_STATES and
            not CONF.command.force):
        raise CommandError(
            'session %s is in state %s and may still be running; delete '
            'it through the API, or use --force to remove its records '
            '(hosts Fenix disabled stay disabled)'
            % (session_id, session['state']))
    db_api.session_delete(session_id)
    print('Deleted session %s.' % session_id)


# --- command line ------------------------------------------------------------

def _add_db_parsers(subparsers):
    parser = subparsers.add_parser('db', help='database schema')
    actions = parser.add_subparsers(dest='db_action', title='db actions')
    actions.required = True

    p = actions.add_parser('upgrade', help='migrate the schema')
    p.add_argument('--revision', default='head',
                   help='revision to go to (default: head)')
    p.set_defaults(func=db_upgrade)

    p = actions.add_parser('version', help='show the schema revision')
    p.set_defaults(func=db_version)

    p = actions.add_parser('stamp', help='set the schema revision without '
                                         'migrating')
    p.add_argument('stamp_revision', metavar='REVISION')
    p.set_defaults(func=db_stamp)

    p = actions.add_parser('revision', help='write a new migration '
                                            '(developers)')
    p.add_argument('-m', '--message', dest='message', required=True)
    p.add_argument('--autogenerate', action='store_true', default=False,
                   help='compare the models with the database')
    p.set_defaults(func=db_revision)

    p = actions.add_parser('purge', help='delete finished sessions')
    p.add_argument('--before', type=int, required=True, metavar='DAYS',
                   help='purge finished sessions last changed more than '
                        'DAYS days ago')
    p.set_defaults(func=db_purge)


def _add_session_parsers(subparsers):
    parser = subparsers.add_parser('session', help='maintenance sessions')
    actions = parser.add_subparsers(dest='session_action',
                                    title='session actions')
    actions.required = True

    p = actions.add_parser('list', help='list sessions')
    p.set_defaults(func=session_list)

    p = actions.add_parser('delete', help='remove a finished session')
    p.add_argument('session_id', metavar='SESSION_ID')
    p.add_argument('--force', action='store_true', default=False,
                   help='also remove a session that is not finished')
    p.set_defaults(func=session_delete)


def _add_command_parsers(subparsers):
    subparsers.required = True
    _add_db_parsers(subparsers)
    _add_session_parsers(subparsers)


COMMAND_OPT = cfg.SubCommandOpt('command', title='Commands',
                                handler=_add_command_parsers)

# What a failure looks like to an operator: one line, no traceback.
_REPORTED = (CommandError, exception.FenixException, db_exc.DBError,
             sqlalchemy.exc.SQLAlchemyError, alembic_util.CommandError,
             cfg.Error, OSError)


def _one_line(error):
    lines = [line.strip() for line in str(error).splitlines()
             if line.strip()]
    return lines[0] if lines else type(error).__name__


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    # A parsed configuration takes no new command line option.
    CONF.clear()
    CONF.register_cli_opt(COMMAND_OPT)
    try:
        try:
            CONF(argv, project='fenix', prog='fenix-manage')
        except cfg.Error as e:
            print('fenix-manage: error: %s' % _one_line(e), file=sys.stderr)
            return 2
        try:
            CONF.command.func()
        except db_exc.DBConnectionError as e:
            print('fenix-manage: error: cannot connect to the database: %s'
                  % _one_line(e), file=sys.stderr)
            return 1
        except _REPORTED as e:
            print('fenix-manage: error: %s' % _one_line(e), file=sys.stderr)
            return 1
        return 0
    finally:
        # Drop the parsed command line and the sub-command option, so that
        # the global configuration can be parsed again (tests call main).
        CONF.clear()
        CONF.unregister_opt(COMMAND_OPT)


if __name__ == '__main__':
    sys.exit(main())
