# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix-sample-vnfm: run the sample application manager for one project.

Runs until SIGTERM or Ctrl-C, then deletes what it created and prints what
it saw (events, replies, violations). ``GET /status`` on its port gives the
same as JSON while it runs.
"""
import argparse
import json
import logging
import os
import signal
import sys
import threading

from fenix_tools import common
from fenix_tools.vnfm import app as app_mod
from fenix_tools.vnfm import manager


def _instance_action(text):
    name, sep, action = text.partition('=')
    if not sep or action not in app_mod.INSTANCE_ACTIONS:
        raise argparse.ArgumentTypeError(
            '%r: want NAME_OR_ID=%s' % (text,
                                        '|'.join(app_mod.INSTANCE_ACTIONS)))
    return name, action


def _delays(text):
    """'1.2,2.5' -> (1.2, 2.5): seconds, each >= 0."""
    try:
        delays = tuple(float(d) for d in text.split(',') if d.strip())
    except ValueError:
        delays = None
    if not delays or any(d < 0 for d in delays):
        raise argparse.ArgumentTypeError(
            '%r: want seconds >= 0 separated by commas, e.g. 1.2,2.5'
            % text)
    return delays


def build_parser():
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog='fenix-sample-vnfm',
        description='Sample VNFM: runs an HA application in one project and '
                    'answers Fenix maintenance events.')
    auth = p.add_argument_group('Keystone (a member of the project)')
    auth.add_argument('--auth-url', default=env('OS_AUTH_URL'),
                      help='Keystone v3 URL (env OS_AUTH_URL).')
    auth.add_argument('--username', default=env('OS_USERNAME'),
                      help='env OS_USERNAME')
    auth.add_argument('--password', default=env('OS_PASSWORD'),
                      help='env OS_PASSWORD')
    auth.add_argument('--project', default=env('OS_PROJECT_NAME'),
                      help='Project name (env OS_PROJECT_NAME).')
    auth.add_argument('--user-domain',
                      default=env('OS_USER_DOMAIN_NAME', 'Default'))
    auth.add_argument('--project-domain',
                      default=env('OS_PROJECT_DOMAIN_NAME', 'Default'))
    auth.add_argument('--interface', default=env('OS_INTERFACE', 'public'))
    auth.add_argument('--region', default=env('OS_REGION_NAME'))

    p.add_argument('--listen', default='127.0.0.1:0',
                   help='HOST:PORT of the webhook and /status (port 0: '
                        'any free port; default 127.0.0.1:0).')
    p.add_argument('--webhook-host',
                   help='Host name AODH calls back (default: the listen '
                        'host).')
    p.add_argument('--fenix-url',
                   help='Fenix endpoint (default: the catalog\'s '
                        '"maintenance" endpoint).')
    p.add_argument('--event-type', dest='event_types', action='append',
                   choices=manager.EVENT_TYPES,
                   help='Project event type to subscribe to (repeatable; '
                        'default %s).' % manager.DEFAULT_EVENT_TYPE)
    p.add_argument('--nova-api-version', default='2.1')
    p.add_argument('--check-interval', type=float, default=0.1,
                   help='Seconds between service checks (default 0.1).')

    a = p.add_argument_group('application')
    a.add_argument('--app', default='seed004',
                   choices=sorted(app_mod.APPS),
                   help='Application profile (default seed004: 2 HA + 4 '
                        'non-HA servers).')
    a.add_argument('--name', help='Name prefix of the servers.')
    a.add_argument('--ha-count', type=int)
    a.add_argument('--nonha-count', type=int)
    a.add_argument('--flavor', help='Flavor name or id (default: the '
                                    'largest).')
    a.add_argument('--image', help='Image id.')
    a.add_argument('--scale-in-count', type=int,
                   help='Non-HA servers removed on SCALE_IN (default 2).')
    a.add_argument('--scale-in-policy', choices=('newest', 'colocated'))
    a.add_argument('--migration-type', choices=app_mod.INSTANCE_ACTIONS)
    a.add_argument('--lead-time', type=int)
    a.add_argument('--max-interruption-time', type=int)
    a.add_argument('--keep-servers', action='store_true',
                   help='Leave the servers in place on exit.')

    b = p.add_argument_group('behaviour (tests)')
    b.add_argument('--silent', action='append', default=[],
                   metavar='STATE', help='Never answer this event state '
                                         '("*" = all; repeatable).')
    b.add_argument('--nack', action='append', default=[], metavar='STATE',
                   help='NACK this event state (repeatable).')
    b.add_argument('--reply-delay', type=float, default=0.0,
                   help='Seconds to wait before each reply.')
    b.add_argument('--ignore-reply-at', action='store_true',
                   help='Do not cap the reply delay at reply_at.')
    b.add_argument('--instance-action', action='append', default=[],
                   type=_instance_action, metavar='NAME=ACTION',
                   help='Action for one server (repeatable).')
    b.add_argument('--ack-instance-action-done', action='store_true',
                   help='Answer INSTANCE_ACTION_DONE (as Tacker does).')
    b.add_argument('--no-switch-over', action='store_true',
                   help='Never move the active role (to see violations).')
    b.add_argument('--repeat-replies', type=_delays, default=(),
                   metavar='SECONDS[,SECONDS...]',
                   help='Deliver every reply again, as it was, this many '
                        'seconds after it (e.g. 1.2,2.5: two copies), as '
                        'an HTTP retry or a proxy would; Fenix must refuse '
                        'each copy (409, not counted as an error).')
    p.add_argument('--fail-on-violation', action='store_true',
                   help='Exit 1 if any violation was recorded.')
    p.add_argument('--verbose', '-v', action='store_true')
    return p


def make_vnfm(args, session=None):
    """A SampleVNFM from parsed arguments."""
    app = app_mod.get_app(args.app).updated(
        name=args.name, ha_count=args.ha_count,
        nonha_count=args.nonha_count, flavor=args.flavor, image=args.image,
        scale_in_count=args.scale_in_count,
        scale_in_policy=args.scale_in_policy,
        migration_type=args.migration_type, lead_time=args.lead_time,
        max_interruption_time=args.max_interruption_time)
    behaviour = app_mod.Behaviour(
        silent=args.silent, nack=args.nack, reply_delay=args.reply_delay,
        honour_reply_at=not args.ignore_reply_at,
        instance_actions=dict(args.instance_action),
        ack_instance_action_done=args.ack_instance_action_done,
        switch_over=not args.no_switch_over,
        repeat_replies=args.repeat_replies)
    if session is None:
        missing = [n for n in ('auth_url', 'username', 'password',
                               'project') if not getattr(args, n)]
        if missing:
            raise ValueError('missing %s' % ', '.join(
                '--' + m.replace('_', '-') for m in missing))
        session = common.make_session(args.auth_url, args.username,
                                      args.password, args.project,
                                      args.user_domain, args.project_domain)
    return manager.SampleVNFM(
        session=session, fenix_url=args.fenix_url, app=app,
        behaviour=behaviour, listen=common.parse_listen(args.listen),
        webhook_host=args.webhook_host,
        event_types=tuple(args.event_types or
                          (manager.DEFAULT_EVENT_TYPE,)),
        check_interval=args.check_interval,
        nova_api_version=args.nova_api_version, interface=args.interface,
        region_name=args.region, teardown=not args.keep_servers)


def summary_text(status):
    lines = ['%s (project %s): %d events, %d replies (%d repeated), %d '
             'violations'
             % (status['name'], status['project_id'], len(status['events']),
                len(status['replies']), len(status.get('repeats') or ()),
                len(status['violations']))]
    for event in status['events']:
        lines.append('  event %s %s%s' % (
            event['time'], event.get('state'),
            ' (duplicate)' if event.get('duplicate') else ''))
    for reply in status['replies']:
        lines.append('  reply %s %s %s' % (
            reply['time'], reply.get('state'),
            'ok' if reply.get('ok') else 'FAILED: %s' % reply.get('error')))
    for repeat in status.get('repeats') or ():
        lines.append('  repeat %s %s HTTP %s' % (
            repeat['time'], repeat.get('state'), repeat.get('status')))
    for v in status['violations']:
        lines.append('  VIOLATION %s..%s %s: %s' % (
            v['since'], v['until'] or 'now', v['kind'], v['detail']))
    return '\n'.join(lines)


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    for noisy in ('keystoneauth', 'urllib3', 'novaclient', 'aodhclient'):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        vnfm = make_vnfm(args)
    except ValueError as e:
        sys.stderr.write('fenix-sample-vnfm: %s\n' % e)
        return 2
    done = threading.Event()

    def _stop(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        vnfm.start()
    except manager.VNFMError as e:
        sys.stderr.write('fenix-sample-vnfm: %s\n' % e)
        return 1
    print('fenix-sample-vnfm: listening on %s (webhook %s)'
          % (vnfm.url, vnfm.webhook_url), flush=True)
    try:
        while not done.wait(3600):
            pass
    finally:
        status = vnfm.status()
        vnfm.stop()
    print(summary_text(status))
    print(json.dumps({'violations': status['violations']}))
    if args.fail_on_violation and status['violations']:
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
