# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix-admin: create, watch, continue and delete maintenance sessions.

Works against any Fenix endpoint: ``--fenix-url`` (noauth, or with the
token of the Keystone options when they are given too), or Keystone
credentials alone (``--os-auth-url`` … or the OS_* environment), in which
case the endpoint of service type ``maintenance`` is taken from the
catalog.

Every call goes through the client library, ``fenix.client``
(:mod:`fenix_tools.admin.client`), as the ``openstack maintenance``
commands do.

Exit codes: 0 success (``follow``: MAINTENANCE_DONE); 1 the session
failed, or following it timed out; 2 bad usage or an API error.
"""
import argparse
import json
import os
import sys

from fenix.client import args as values
from fenix.client import progress as client_progress

from fenix_tools.admin import client as admin_client
from fenix_tools.admin import progress
from fenix_tools import common

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2


def _metadata(text):
    return values.json_object(text, '--metadata')


def _add_follow_options(parser):
    parser.add_argument('--interval', type=values.positive, default=1.0,
                        help='Seconds between polls (default 1).')
    parser.add_argument('--timeout', type=values.positive, default=3600,
                        help='Give up following after this many seconds '
                             '(default 3600); exit 1.')


def _add_common_options(parser):
    # Also accepted after the command; SUPPRESS keeps the value given
    # before it.
    parser.add_argument('--json', action='store_true',
                        default=argparse.SUPPRESS,
                        help='Print results as JSON.')


def build_parser():
    parser = argparse.ArgumentParser(
        prog='fenix-admin',
        description='Run and watch Fenix maintenance sessions.')
    parser.add_argument('--fenix-url',
                        default=os.environ.get('FENIX_URL'),
                        help='Fenix endpoint (env FENIX_URL). Default: the '
                             'catalog\'s "maintenance" endpoint with '
                             'Keystone options, else %s.'
                             % common.DEFAULT_FENIX_URL)
    parser.add_argument('--json', action='store_true',
                        help='Print results as JSON.')
    common.add_keystone_args(parser)
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True

    create = sub.add_parser('create', help='Create a session.')
    create.add_argument('--hosts', nargs='+', default=[],
                        metavar='HOST',
                        help='Hosts to maintain (commas also separate); '
                             'default every compute host.')
    create.add_argument('--workflow', default='default',
                        help='Workflow plug-in (default "default").')
    when = create.add_mutually_exclusive_group()
    when.add_argument('--maintenance-at', type=values.utc_time,
                      help='When to start: "YYYY-MM-DD HH:MM:SS" UTC or '
                           'ISO 8601.')
    when.add_argument('--in', dest='in_seconds', type=values.non_negative,
                      metavar='SECONDS',
                      help='Start this many seconds from now.')
    create.add_argument('--metadata', type=_metadata, default=None,
                        help='JSON object passed to the projects, e.g. '
                             '\'{"openstack_version": "Train"}\'.')
    create.add_argument('--action', dest='actions', type=values.action,
                        action='append', default=[],
                        metavar='PLUGIN:TYPE[:JSON]',
                        help='Action plug-in to run (repeatable), e.g. '
                             'dummy:host.')
    create.add_argument('--download', action='append', default=[],
                        metavar='URL', help='Package to download '
                                            '(repeatable).')
    create.add_argument('--follow', action='store_true',
                        help='Follow the session until it ends.')
    _add_follow_options(create)

    show = sub.add_parser('show', help='Show a session.')
    show.add_argument('session_id')
    show.add_argument('--detail', action='store_true',
                      help='Everything: hosts, projects, instances, '
                           'history.')

    follow = sub.add_parser('follow', help='Follow a session to its end.')
    follow.add_argument('session_id')
    _add_follow_options(follow)

    listing = sub.add_parser('list', help='List sessions.')

    delete = sub.add_parser('delete', help='Stop and delete a session.')
    delete.add_argument('session_id')

    cont = sub.add_parser('continue',
                          help='Continue a failed session: its step starts '
                               'afresh, projects are asked again.')
    cont.add_argument('session_id')
    cont.add_argument('--state', help='State to continue from.')
    cont.add_argument('--follow', action='store_true',
                      help='Follow the session until it ends.')
    _add_follow_options(cont)

    pause = sub.add_parser('pause',
                           help='Pause a session: steps in flight finish, '
                                'no new one starts.')
    pause.add_argument('session_id')
    pause.add_argument('--reason', help='Why (kept in the history).')
    resume = sub.add_parser('resume', help='Resume a paused session.')
    resume.add_argument('session_id')
    skip = sub.add_parser('skip', help='Skip a host of a session: it is '
                                       'left unmaintained and in service.')
    skip.add_argument('session_id')
    skip.add_argument('host')
    skip.add_argument('--reason', help='Why (shown on the host).')
    retry = sub.add_parser('retry',
                           help='Retry the failed step of a failed session, '
                                'keeping the answers projects gave.')
    retry.add_argument('session_id')
    for sp in (resume, retry):
        sp.add_argument('--follow', action='store_true',
                        help='Follow the session until it ends.')
        _add_follow_options(sp)
    for sp in (create, show, follow, listing, delete, cont, pause, resume,
               skip, retry):
        _add_common_options(sp)
    return parser


def create_body(hosts=(), workflow='default', maintenance_at=None,
                in_seconds=None, metadata=None, actions=(), download=(),
                now=None):
    """The POST /v1/maintenance body (upstream-shaped)."""
    if in_seconds is not None:
        maintenance_at = values.utc_in(in_seconds, now)
    body = {'state': 'MAINTENANCE', 'hosts': values.host_names(hosts),
            'workflow': workflow}
    if maintenance_at:
        body['maintenance_at'] = maintenance_at
    if metadata is not None:
        body['metadata'] = metadata
    if actions:
        body['actions'] = list(actions)
    if download:
        body['download'] = list(download)
    return body


def make_client(args):
    session = common.session_from_args(args)
    return admin_client.AdminClient(url=args.fenix_url, session=session,
                                    interface=args.os_interface,
                                    region_name=args.os_region_name)


def _print(out, args, data, text):
    if args.json:
        out.write(json.dumps(data, sort_keys=True) + '\n')
    else:
        out.write(text + '\n')


def _follow(client, session_id, args, out):
    display = None if args.json else client_progress.Display(out)
    result = progress.follow(client, session_id, interval=args.interval,
                             timeout=args.timeout, display=display)
    summary = progress.summarize(result.detail, result.elapsed)
    summary['timed_out'] = result.timed_out
    if result.error:
        summary['follow_error'] = result.error
    text = progress.render_summary(summary)
    if result.timed_out:
        text += '\n  gave up following after %.0f s' % result.elapsed
    if result.error:
        text += '\n  last API error: %s' % result.error
    _print(out, args, summary, text)
    return result.exit_code


def _session_line(s):
    done, total = progress.host_counts(s)
    return '%-36s  %-22s %3d/%-3d %s' % (
        progress.session_id_of(s), progress.state_of(s), done, total,
        progress.session_part(s).get('workflow', ''))


def run(args, out=sys.stdout, client=None):
    client = client or make_client(args)
    command = args.command
    if command == 'create':
        body = create_body(args.hosts, args.workflow, args.maintenance_at,
                           args.in_seconds, args.metadata, args.actions,
                           args.download)
        answer = client.create_session(body) or {}
        session_id = answer.get('session_id')
        _print(out, args, answer, 'Created session %s' % session_id)
        if args.follow:
            return _follow(client, session_id, args, out)
        return EXIT_OK
    if command == 'show':
        if args.detail:
            data = client.get_session_detail(args.session_id)
            text = json.dumps(data, indent=2, sort_keys=True)
        else:
            data = client.get_session(args.session_id)
            text = client_progress.progress_line(data)
        _print(out, args, data, text)
        return EXIT_OK
    if command == 'follow':
        return _follow(client, args.session_id, args, out)
    if command == 'list':
        sessions = client.list_sessions()
        header = ('SESSION', 'STATE', 'HOSTS', 'WORKFLOW')
        lines = ['%-36s  %-22s %-7s %s' % header]
        lines += [_session_line(s) for s in sessions]
        _print(out, args, {'sessions': sessions}, '\n'.join(lines))
        return EXIT_OK
    if command == 'delete':
        client.delete_session(args.session_id)
        _print(out, args, {'deleted': args.session_id},
               'Deleted session %s' % args.session_id)
        return EXIT_OK
    if command == 'continue':
        body = {}
        if args.state:
            body['state'] = args.state
        answer = client.update_session(args.session_id, body)
        _print(out, args, answer or {'session_id': args.session_id},
               'Continued session %s%s' % (
                   args.session_id,
                   ' from %s' % args.state if args.state else ''))
        if args.follow:
            return _follow(client, args.session_id, args, out)
        return EXIT_OK
    if command in CONTROL_COMMANDS:
        return _control(client, args, out)
    raise ValueError('unknown command %r' % command)


# fenix-admin command -> the action of POST /v1/maintenance/{id}.
CONTROL_COMMANDS = {'pause': 'pause', 'resume': 'resume',
                    'skip': 'skip_host', 'retry': 'retry'}


def _control(client, args, out):
    fields = {}
    if getattr(args, 'reason', None):
        fields['reason'] = args.reason
    if args.command == 'skip':
        fields['host'] = args.host
    answer = client.control_session(args.session_id,
                                    CONTROL_COMMANDS[args.command],
                                    **fields) or {}
    if args.command == 'pause':
        text = ('Session %s: pause requested; it shows PAUSED once the '
                'steps in flight are done' % args.session_id)
    elif args.command == 'skip':
        text = 'Session %s: host %s to be skipped' % (args.session_id,
                                                      args.host)
    else:
        text = 'Session %s: %s, now %s' % (
            args.session_id,
            'resumed' if args.command == 'resume' else 'retried',
            answer.get('state') or '?')
    _print(out, args, answer or {'session_id': args.session_id}, text)
    if getattr(args, 'follow', False):
        return _follow(client, args.session_id, args, out)
    return EXIT_OK


def main(argv=None, out=None, client=None):
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args, out=out, client=client)
    except common.FenixError as e:
        sys.stderr.write('fenix-admin: %s\n' % e)
        return EXIT_ERROR
    except ValueError as e:
        sys.stderr.write('fenix-admin: %s\n' % e)
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write('fenix-admin: interrupted\n')
        return 130


if __name__ == '__main__':
    sys.exit(main())
