# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix-host-agent: the reference agent of Fenix's host agent flow.

An action plug-in of Fenix that hands its work to the host (``run()``
returns ASYNC; the ``agent`` plug-in does this with this program) gives
the agent the URL to report to and the *attempt* it runs::

    fenix-host-agent --report-url URL --attempt N [--timeout S] \\
        -- COMMAND [ARG...]

The agent runs the command (with ``FENIX_ATTEMPT`` and
``FENIX_REPORT_URL`` in its environment), then PUTs
``{"state": "DONE"|"FAILED", "message": ..., "attempt": N}`` to the URL
(a time-out or a non-zero exit is FAILED; the message is the last line of
the output). Fenix refuses (409) a report of another attempt than the
current one: the agent of an earlier attempt can never end a later one;
the agent then exits with :data:`EXIT_REFUSED`.

A hand-over may be repeated (an engine that restarted gives the same
attempt again): the agent takes each attempt once. It keeps, per report
URL and attempt, a marker in ``--state-dir``: an attempt already taken is
not run again; an attempt already finished has its saved report sent
again. A token for Fenix's API (keystone mode) comes from ``--token`` or
``FENIX_TOKEN``.
"""
import argparse
import collections
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import requests

EXIT_OK = 0
EXIT_FAILED = 1
# Fenix refused the report (409: another attempt is current, or the run
# already ended).
EXIT_REFUSED = 3
# The report could not be delivered.
EXIT_UNREACHABLE = 4
# This attempt was taken by another agent (a repeated hand-over).
EXIT_TAKEN = 0

MESSAGE_LIMIT = 2000


def build_parser():
    p = argparse.ArgumentParser(
        prog='fenix-host-agent',
        description='Run a command for a Fenix action plug-in and report '
                    'its outcome, naming the attempt it was given.')
    p.add_argument('--report-url', required=True,
                   help='Where to PUT the report (the plug-in\'s '
                        'report_url).')
    p.add_argument('--attempt', type=int, required=True,
                   help='The attempt this run is (the plug-in\'s attempt).')
    p.add_argument('--timeout', type=float, default=3600,
                   help='Seconds the command may run (default 3600).')
    p.add_argument('--state-dir', default=os.path.join(
        tempfile.gettempdir(), 'fenix-host-agent'),
        help='Where attempts taken and their reports are kept.')
    p.add_argument('--token', default=os.environ.get('FENIX_TOKEN'),
                   help='X-Auth-Token for Fenix\'s API (default: '
                        '$FENIX_TOKEN).')
    p.add_argument('--report-retries', type=int, default=5,
                   help='Tries to deliver the report when Fenix does not '
                        'answer (default 5).')
    p.add_argument('command', nargs=argparse.REMAINDER,
                   help='The command (after --).')
    return p


def job_key(report_url, attempt):
    return '%s-%d' % (hashlib.sha256(report_url.encode()).hexdigest()[:24],
                      attempt)


def run_command(command, env, timeout):
    """(ok, message) of running ``command``."""
    full_env = dict(os.environ, **env)
    try:
        proc = subprocess.run(command, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, env=full_env,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, 'timed out after %s seconds' % timeout
    except OSError as e:
        return False, 'cannot run %s: %s' % (command[0], e)
    lines = collections.deque(
        proc.stdout.decode(errors='replace').splitlines(), maxlen=1)
    last = lines[0] if lines else ''
    if proc.returncode != 0:
        return False, ('exit %d: %s' % (proc.returncode, last))[
            :MESSAGE_LIMIT]
    return True, last[:MESSAGE_LIMIT]


def send_report(url, body, token=None, retries=5, put=None, pause=None):
    """PUT ``body`` to ``url``; returns (exit code, text of the answer).
    Connection errors and 5xx answers are tried again (up to
    ``retries`` times, waiting 1, 2, 4... seconds)."""
    put = put or requests.put
    pause = pause or time.sleep
    headers = {'Content-Type': 'application/json'}
    if token:
        headers['X-Auth-Token'] = token
    answer = ''
    for i in range(max(1, retries)):
        try:
            resp = put(url, data=json.dumps(body), headers=headers,
                       timeout=30)
        except requests.RequestException as e:
            answer = str(e)
        else:
            answer = resp.text
            if resp.status_code == 409:
                return EXIT_REFUSED, answer
            if resp.status_code < 500:
                return (EXIT_OK if resp.status_code < 300 else EXIT_FAILED,
                        answer)
        if i + 1 < retries:
            pause(min(2 ** i, 30))
    return EXIT_UNREACHABLE, answer


def main(argv=None, out=None):
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    command = args.command[1:] if args.command[:1] == ['--'] else \
        args.command
    if not command:
        build_parser().error('a command is required (after --)')
    os.makedirs(args.state_dir, exist_ok=True)
    key = os.path.join(args.state_dir, job_key(args.report_url,
                                               args.attempt))
    if os.path.exists(key + '.report'):
        # A repeated hand-over of an attempt already done: report again.
        with open(key + '.report') as f:
            body = json.load(f)
        out.write('attempt %d already ran: sending its report again\n'
                  % args.attempt)
    else:
        try:
            os.close(os.open(key + '.taken',
                             os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            out.write('attempt %d is already being run: nothing to do\n'
                      % args.attempt)
            return EXIT_TAKEN
        ok, message = run_command(command, {
            'FENIX_ATTEMPT': str(args.attempt),
            'FENIX_REPORT_URL': args.report_url}, args.timeout)
        body = {'state': 'DONE' if ok else 'FAILED', 'message': message,
                'attempt': args.attempt}
        with open(key + '.report', 'w') as f:
            json.dump(body, f)
    code, answer = send_report(args.report_url, body, token=args.token,
                               retries=args.report_retries)
    out.write('report %s of attempt %d: %s\n' % (
        body['state'], args.attempt,
        {EXIT_OK: 'accepted', EXIT_REFUSED: 'refused (%s)' % answer,
         EXIT_UNREACHABLE: 'not delivered (%s)' % answer}.get(
            code, 'failed (%s)' % answer)))
    return code


if __name__ == '__main__':
    sys.exit(main())
