# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A minimal application manager (VNFM) for Fenix.

It subscribes its project to ``maintenance.planned`` with an AODH event
alarm whose action is its own webhook, decodes every event AODH POSTs
there, and answers each one at the ``reply_url`` the event gives:

* MAINTENANCE, SCALE_IN, MAINTENANCE_COMPLETE: ``ACK_<state>``;
* PREPARE_MAINTENANCE, PLANNED_MAINTENANCE: ``ACK_<state>`` with an
  action for every instance the event is about (LIVE_MIGRATE when Fenix
  allows it, else MIGRATE);
* INSTANCE_ACTION_DONE: nothing (it is for information).

Credentials are keystoneauth's, of a member of the project: ``--os-*``
options or the ``OS_*`` variables of an openrc (``OS_AUTH_URL``,
``OS_USERNAME``, ``OS_PASSWORD``, ``OS_PROJECT_NAME``, the domains; or
``OS_AUTH_TYPE=v3applicationcredential`` with an application credential).
With ``--fenix-noauth`` (Fenix's ``[api] auth_strategy = noauth``, e.g.
the all-in-one) the identity headers that mode trusts are sent with the
token. The alarm is deleted on exit (SIGINT or SIGTERM).

Example::

    . ./app-openrc.sh
    python minimal_vnfm.py --listen 0.0.0.0:8765 \\
        --webhook-host vnfm.example.com
"""
import argparse
import ast
import datetime
import http.server
import json
import logging
import queue
import signal
import sys
import threading
import time

from keystoneauth1 import loading
import requests

LOG = logging.getLogger('minimal_vnfm')
MOVE_EVENTS = ('PREPARE_MAINTENANCE', 'PLANNED_MAINTENANCE')
ANSWERED_EVENTS = ('MAINTENANCE', 'SCALE_IN', 'MAINTENANCE_COMPLETE') + \
    MOVE_EVENTS


def decode(body):
    """An AODH event-alarm body -> {trait name: value}.

    Traits come as [name, type, value]; type 4 is a naive UTC datetime.
    Lists and dicts of Fenix's payload arrive as Python repr strings.
    """
    values = {}
    for name, type_code, value in body['reason_data']['event']['traits']:
        if type_code == 4:
            value = datetime.datetime.fromisoformat(value)
        elif name in ('instance_ids', 'allowed_actions', 'metadata') and \
                value[:1] in ('[', '{'):
            value = ast.literal_eval(value)
        values[name] = value
    return values


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class Manager(object):

    def __init__(self, session, noauth=False):
        self.session = session
        self.project_id = session.get_project_id()
        self.headers = {'Content-Type': 'application/json'}
        if noauth:
            self.headers.update({'X-Project-Id': self.project_id,
                                 'X-User-Id': session.get_user_id(),
                                 'X-Roles': 'member,reader'})
        self.answered = set()    # event ids, against repeated deliveries
        self.events = queue.Queue()

    def call(self, method, url, deadline, body=None):
        """One request to Fenix, tried again while Fenix is unavailable
        (503 or no connection) until ``deadline``; returns the response."""
        while True:
            headers = dict(self.headers,
                           **{'X-Auth-Token': self.session.get_token()})
            try:
                resp = requests.request(method, url, headers=headers,
                                        json=body, timeout=10)
                if resp.status_code != 503:
                    return resp
                LOG.warning('%s %s: Fenix unavailable, trying again',
                            method, url)
            except (requests.ConnectionError, requests.Timeout) as e:
                LOG.warning('%s %s: %s, trying again', method, url, e)
            if utcnow() >= deadline:
                raise RuntimeError('no answer from Fenix before %s'
                                   % deadline)
            time.sleep(1)

    def handle(self, event):
        state, event_id = event['state'], event.get('event_id')
        LOG.info('event %s %s of session %s', state, event_id,
                 event['session_id'])
        if state not in ANSWERED_EVENTS or event_id in self.answered:
            return
        deadline = event.get('reply_at') or \
            utcnow() + datetime.timedelta(seconds=60)
        # A real manager acts before it answers: scales in (SCALE_IN),
        # switches active roles away from the instances to be moved, or
        # moves them itself and answers OWN_ACTION (MOVE_EVENTS), scales
        # out again (MAINTENANCE_COMPLETE); and NACKs what it cannot do.
        reply = {'state': 'ACK_' + state}
        if state in MOVE_EVENTS:
            action = ('LIVE_MIGRATE'
                      if 'LIVE_MIGRATE' in event.get('allowed_actions', ())
                      else 'MIGRATE')
            ids = event['instance_ids']
            if isinstance(ids, list):
                # An event about one instance (nfv workflow): reply_url
                # is the instance's.
                reply['instance_action'] = action
            else:
                # Project-wide: the URL where Fenix lists the instances.
                ids = self.call('GET', ids, deadline).json()['instance_ids']
                reply['instance_actions'] = {i: action for i in ids}
        resp = self.call('PUT', event['reply_url'], deadline, reply)
        if resp.status_code == 409 and 'already answered' in resp.text:
            # A try whose answer was lost (time-out) got through.
            self.answered.add(event_id)
            LOG.info('reply %s taken earlier', reply['state'])
        elif resp.status_code == 409:
            # Not the current event any more, or past reply_at: Fenix
            # changed nothing. The message says which event is current.
            LOG.warning('reply %s refused: %s', reply['state'], resp.text)
        elif resp.ok:
            self.answered.add(event_id)
            LOG.info('reply %s taken', reply['state'])
        else:
            LOG.error('reply %s: HTTP %d %s', reply['state'],
                      resp.status_code, resp.text)

    def work(self):
        while True:
            event = self.events.get()
            try:
                self.handle(event)
            except Exception:
                LOG.exception('event %s failed', event.get('state'))

    def webhook(self):
        manager = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get('Content-Length', 0))
                try:
                    event = decode(json.loads(self.rfile.read(length)))
                except (ValueError, KeyError, TypeError, SyntaxError):
                    self.send_response(400)
                else:
                    # Answer AODH at once; the worker replies to Fenix.
                    manager.events.put(event)
                    self.send_response(200)
                self.send_header('Content-Length', '0')
                self.end_headers()

            def log_message(self, *args):
                pass
        return Handler

    def subscribe(self, webhook_url, event_type='maintenance.planned'):
        """Create the project's AODH event alarm; returns its id."""
        alarm = {
            'name': 'minimal-vnfm-%s' % self.project_id,
            'type': 'event',
            'severity': 'moderate',
            'event_rule': {
                'event_type': event_type,
                'query': [{'field': 'traits.project_id', 'op': 'eq',
                           'type': 'string', 'value': self.project_id}]},
            'alarm_actions': [webhook_url],
            # Fire for every event, not only for the first one.
            'repeat_actions': True,
        }
        resp = self.session.post(
            '/v2/alarms', json=alarm,
            endpoint_filter={'service_type': 'alarming',
                             'interface': 'public'})
        return resp.json()['alarm_id']

    def unsubscribe(self, alarm_id):
        self.session.delete(
            '/v2/alarms/%s' % alarm_id,
            endpoint_filter={'service_type': 'alarming',
                             'interface': 'public'})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--listen', default='127.0.0.1:0',
                        help='HOST:PORT of the webhook (port 0: any)')
    parser.add_argument('--webhook-host',
                        help='host name AODH reaches the webhook at '
                             '(default: the listen host)')
    parser.add_argument('--fenix-noauth', action='store_true',
                        help='send the identity headers of Fenix\'s noauth '
                             'mode')
    loading.register_session_argparse_arguments(parser)
    loading.register_auth_argparse_arguments(parser, argv,
                                             default='password')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format='%(asctime)s %(message)s')

    auth = loading.load_auth_from_argparse_arguments(args)
    session = loading.load_session_from_argparse_arguments(args, auth=auth)
    manager = Manager(session, noauth=args.fenix_noauth)

    host, port = args.listen.rsplit(':', 1)
    server = http.server.ThreadingHTTPServer((host, int(port)),
                                             manager.webhook())
    url = 'http://%s:%d/' % (args.webhook_host or host,
                             server.server_address[1])
    threading.Thread(target=manager.work, daemon=True).start()
    alarm_id = manager.subscribe(url)
    LOG.info('ready: webhook %s, alarm %s', url, alarm_id)

    def stop(signum, frame):
        # shutdown() waits for serve_forever(): call it from elsewhere.
        threading.Thread(target=server.shutdown).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever()
    finally:
        manager.unsubscribe(alarm_id)
        LOG.info('alarm %s deleted', alarm_id)
    return 0


if __name__ == '__main__':
    sys.exit(main())
