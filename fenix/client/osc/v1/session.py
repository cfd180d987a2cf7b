# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``openstack maintenance session ...``: sessions (infrastructure admin).
"""
import argparse
import sys

from cliff import command
from cliff import lister
from cliff import show
from osc_lib.cli import parseractions

from fenix.client import args
from fenix.client.osc.v1 import common
from fenix.client import progress

SUMMARY_FIELDS = (
    'session_id', 'state', 'workflow', 'maintenance_at', 'hosts_total',
    'hosts_done', 'hosts_skipped', 'percent_done', 'estimated_duration',
    'seconds_left', 'eta', 'pause_requested', 'hold_state', 'dry_run',
    'error', 'failed_state', 'metadata', 'options', 'project_id', 'engine',
    'created_at', 'updated_at')
DETAIL_FORMATTERS = {
    'hosts': common.HostsColumn,
    'projects': common.ProjectsColumn,
}
PLAN_FIELDS = ('session_id', 'state', 'workflow', 'hosts_total',
               'estimated_duration', 'moves', 'waves', 'blocked',
               'controllers', 'error')
ESTIMATES = ('cold_migration', 'live_migration', 'live_interruption',
             'own_action', 'host_maintenance')
NACK_POLICIES = ('fail', 'skip_host')
SILENT_OWN_ACTION_POLICIES = ('move', 'skip_host')
DEFAULT_INTERVAL = 2.0


def _estimates(pairs):
    out = {}
    for key, value in common.key_values(pairs).items():
        if key not in ESTIMATES:
            raise argparse.ArgumentTypeError(
                '--estimate %s: not one of %s' % (key, ', '.join(ESTIMATES)))
        try:
            out[key] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                '--estimate %s=%s: not a number of seconds' % (key, value))
    return out


def add_watch_options(parser):
    parser.add_argument(
        '--interval', type=args.positive, default=DEFAULT_INTERVAL,
        metavar='<seconds>',
        help='Seconds between polls (default %s).' % DEFAULT_INTERVAL)
    parser.add_argument(
        '--timeout', type=args.positive, default=None, metavar='<seconds>',
        help='Stop watching after this many seconds (exit status 1); '
             'default: until the session ends.')


def watch_session(cmd, session_id, parsed_args, out):
    """Watch with a progress display on ``out``; the WatchResult."""
    display = progress.Display(out)
    result = progress.watch(common.client(cmd), session_id,
                            interval=parsed_args.interval,
                            timeout=parsed_args.timeout, display=display)
    display.finish(result)
    return result


def summary(record):
    return common.show(record, [f for f in SUMMARY_FIELDS if f in record])


def plan_view(detail):
    """The plan of a dry run as the command shows it."""
    plan = (detail.get('plan') or {}).get('dry_run') or {}
    waves = plan.get('waves') or []
    record = {
        'session_id': detail.get('session_id'),
        'state': detail.get('state'),
        'workflow': detail.get('workflow'),
        'hosts_total': detail.get('hosts_total'),
        'estimated_duration': plan.get('estimated_duration',
                                       detail.get('estimated_duration')),
        'moves': plan.get('moves', sum(len(w.get('moves') or ())
                                       for w in waves)),
        'waves': waves,
        'blocked': plan.get('blocked'),
        'controllers': plan.get('controllers'),
        'error': detail.get('error'),
    }
    return common.show(record, PLAN_FIELDS,
                       {'waves': common.WavesColumn})


class CreateSession(show.ShowOne):
    """Create a maintenance session (or, with --dry-run, plan one)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--hosts', action='append', default=[], metavar='<host>[,...]',
            help='Hosts to maintain (repeatable, commas also separate); '
                 'default every compute host.')
        parser.add_argument(
            '--workflow', metavar='<workflow>',
            help='Workflow plug-in (the API\'s default: "default").')
        parser.add_argument(
            '--maintenance-at', type=args.utc_time, metavar='<time>',
            help='When the rolling part may start: "YYYY-MM-DD HH:MM:SS" '
                 'UTC or ISO 8601; default now.')
        parser.add_argument(
            '--metadata', action=parseractions.KeyValueAction,
            metavar='<key=value>',
            help='Metadata passed to the projects (repeatable), e.g. '
                 'openstack_version=Train.')
        parser.add_argument(
            '--action', dest='actions', type=args.action, action='append',
            default=[], metavar='<plugin:type[:json]>',
            help='Action plug-in to run (repeatable), e.g. dummy:host or '
                 'dummy:host:\'{"upgrade": "SW1"}\'.')
        parser.add_argument(
            '--download', action='append', default=[], metavar='<url>',
            help='Package the session needs (repeatable).')
        parser.add_argument(
            '--max-parallel-hosts', type=args.positive_int, metavar='<n>',
            help='Hosts maintained at once.')
        parser.add_argument(
            '--max-concurrent-migrations', type=args.positive_int,
            metavar='<n>', help='Migrations at once.')
        parser.add_argument(
            '--nack-policy', choices=NACK_POLICIES,
            help='What a project\'s NACK does (default: the server\'s '
                 '[workflow] nack_policy).')
        parser.add_argument(
            '--silent-own-action', choices=SILENT_OWN_ACTION_POLICIES,
            help='What an OWN_ACTION instance of a silent manager gets.')
        parser.add_argument(
            '--reply-window', type=args.positive_int, metavar='<seconds>',
            help='Seconds projects have to answer an event.')
        parser.add_argument(
            '--estimate', action=parseractions.KeyValueAction,
            metavar='<name=seconds>',
            help='How long things take in this cloud, for the planner '
                 '(repeatable): %s.' % ', '.join(ESTIMATES))
        parser.add_argument(
            '--idempotency-key', metavar='<key>',
            help='Key of this intended session: a repeated create with the '
                 'same key makes no second session (default: a new UUID).')
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            '--dry-run', action='store_true',
            help='Plan only: nothing is changed and no project is told; '
                 'prints the plan (waves, moves, estimated duration) once '
                 'the dry run ended; exit status 0 when it made one.')
        mode.add_argument(
            '--wait', action='store_true',
            help='Watch the session until it ends, with a progress display '
                 'on stderr; exit status 0 only when it is '
                 'MAINTENANCE_DONE.')
        add_watch_options(parser)
        return parser

    def body(self, parsed_args):
        fields = {
            'hosts': args.host_names(parsed_args.hosts),
            'workflow': parsed_args.workflow,
            'maintenance_at': parsed_args.maintenance_at,
            'metadata': parsed_args.metadata or None,
            'actions': parsed_args.actions or None,
            'download': parsed_args.download or None,
            'max_parallel_hosts': parsed_args.max_parallel_hosts,
            'max_concurrent_migrations':
                parsed_args.max_concurrent_migrations,
            'nack_policy': parsed_args.nack_policy,
            'silent_own_action': parsed_args.silent_own_action,
            'reply_window': parsed_args.reply_window,
            'estimates': _estimates(parsed_args.estimate) or None,
        }
        if parsed_args.dry_run:
            fields['dry_run'] = True
        return {k: v for k, v in fields.items() if v is not None}

    def run(self, parsed_args):
        self._exit = 0
        result = super().run(parsed_args)
        return result or self._exit

    def take_action(self, parsed_args):
        fenix = common.client(self)
        answer = fenix.create_session(
            idempotency_key=parsed_args.idempotency_key,
            **self.body(parsed_args))
        session_id = answer['session_id']
        if parsed_args.dry_run:
            # A dry run plans and ends at once (it does not wait for
            # maintenance_at).
            result = progress.watch(
                fenix, session_id, interval=min(parsed_args.interval, 0.5),
                timeout=parsed_args.timeout)
            planned = (result.detail.get('plan') or {}).get('dry_run')
            self._exit = result.exit_code if planned else 1
            return plan_view(result.detail)
        if parsed_args.wait:
            result = watch_session(self, session_id, parsed_args,
                                   self.app.stderr)
            self._exit = result.exit_code
            return summary(result.detail or fenix.get_session(session_id))
        return summary(fenix.get_session(session_id))


class ListSession(lister.Lister):
    """List maintenance sessions."""

    FIELDS = ('session_id', 'state', 'workflow', 'hosts_done',
              'hosts_total', 'dry_run', 'created_at')

    def take_action(self, parsed_args):
        return common.listing(common.client(self).list_sessions(),
                              self.FIELDS)


class _OneSession(show.ShowOne):

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_session(parser)
        return parser


class ShowSession(_OneSession):
    """Show a maintenance session: state, progress, why it failed."""

    def take_action(self, parsed_args):
        return summary(common.client(self).get_session(parsed_args.session))


class DetailSession(_OneSession):
    """Show everything about a session: hosts, projects, instances,
    plug-in runs, plan steps and history."""

    def take_action(self, parsed_args):
        detail = common.client(self).get_session_detail(parsed_args.session)
        return common.show(detail, formatters=DETAIL_FORMATTERS)


class ContinueSession(_OneSession):
    """Continue a failed session: the failed step starts afresh and the
    projects are asked again."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--state', metavar='<state>',
            help='State to continue from (default: where it failed).')
        return parser

    def take_action(self, parsed_args):
        return summary(common.client(self).continue_session(
            parsed_args.session, state=parsed_args.state))


class PauseSession(_OneSession):
    """Pause a session: steps in flight finish, no new one starts."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--reason', metavar='<text>',
                            help='Why (kept in the history).')
        return parser

    def take_action(self, parsed_args):
        return summary(common.client(self).pause_session(
            parsed_args.session, reason=parsed_args.reason))


class ResumeSession(_OneSession):
    """Resume a paused (or pausing) session."""

    def take_action(self, parsed_args):
        return summary(common.client(self).resume_session(
            parsed_args.session))


class SkipHost(_OneSession):
    """Skip a host of a session: it is left unmaintained and in service."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('host', metavar='<host>', help='Host to skip.')
        parser.add_argument('--reason', metavar='<text>',
                            help='Why (shown on the host).')
        return parser

    def take_action(self, parsed_args):
        return summary(common.client(self).skip_host(
            parsed_args.session, parsed_args.host,
            reason=parsed_args.reason))


class RetrySession(_OneSession):
    """Retry the failed step of a failed session, keeping the answers the
    projects gave."""

    def take_action(self, parsed_args):
        return summary(common.client(self).retry_session(
            parsed_args.session))


class DeleteSession(command.Command):
    """Stop and delete maintenance session(s)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('sessions', metavar='<session>', nargs='+',
                            help='Session id(s).')
        return parser

    def take_action(self, parsed_args):
        fenix = common.client(self)
        for session_id in parsed_args.sessions:
            fenix.delete_session(session_id)


class WatchSession(command.Command):
    """Watch a session until it ends: hosts done/total, state, ETA and the
    projects' replies. Exit status 0 when it ends MAINTENANCE_DONE, else
    1."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_session(parser)
        add_watch_options(parser)
        return parser

    def take_action(self, parsed_args):
        return watch_session(self, parsed_args.session, parsed_args,
                             getattr(self.app, 'stdout', sys.stdout)
                             ).exit_code
