# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Managers whose every reply arrives again, late: many sessions.

Not a benchmark but a soak of SPEC 3.7 ("a reply answers one event"): the
scenario of ``fenix/tests/functional/replies_scenario.py`` (cells of three
computes, one sample VNFM per cell that answers after ``--reply-delay``
seconds and delivers every answer again ``--repeat`` seconds later), run
with as many sessions of each workflow as ``--sessions`` asks for,
``--cells`` of them at once in one ``fenix-all-in-one`` (rounds of one
session per cell, the workflows in turn).

Printed: sessions by how they ended, the move events the managers got,
``moved_without_reply`` (an instance of an event moved before that event
had its own manager's answer or its deadline passed; the managers'
checkers, fed at the end with the exact migration starts of the cloud's
record), the other findings of the checkers, the managers' errors (a copy
taken again is one) and Fenix's answers to the copies. ``--json`` adds one
JSON object as the last line. Exit 0 when no session failed, nothing moved
without its reply and every copy was refused.

Usage: python tools/bench/repeated_replies.py --sessions 20 [--cells 5]
"""
import argparse
import collections
import json
import logging
import sys

from fenix.tests.functional import replies_scenario as scenario


def run(args):
    cloud = scenario.fenix_cloud(args.cells, reply_window=args.reply_window)
    cloud.setUp()
    try:
        _storm, result = scenario.run(
            cloud, args.cells, rounds=-(-args.sessions // args.cells),
            workflows=args.workflows,
            log=lambda text: print(text, flush=True),
            behaviour_factory=lambda: scenario.behaviour(
                reply_delay=args.reply_delay, repeat_replies=args.repeat),
            session_timeout=args.timeout)
        return result
    finally:
        cloud.cleanUp()


def _delays(text):
    return tuple(float(d) for d in text.split(',') if d.strip())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sessions', type=int, default=20,
                   help='sessions of each workflow (at least; rounded up '
                        'to whole rounds of --cells)')
    p.add_argument('--cells', type=int, default=5,
                   help='sessions at once (cells of three computes)')
    p.add_argument('--workflow', dest='workflows', action='append',
                   choices=scenario.WORKFLOWS,
                   help='repeatable; default both')
    p.add_argument('--reply-delay', type=float,
                   default=scenario.REPLY_DELAY)
    p.add_argument('--repeat', type=_delays,
                   default=scenario.REPEAT_REPLIES,
                   help='seconds after each answer at which it is '
                        'delivered again (comma separated)')
    p.add_argument('--reply-window', type=int,
                   default=scenario.REPLY_WINDOW)
    p.add_argument('--timeout', type=float, default=300,
                   help='seconds one session may take')
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)
    args.workflows = args.workflows or list(scenario.WORKFLOWS)
    logging.basicConfig(level=logging.ERROR)
    result = run(args)
    moved = result['moved_without_reply']
    taken = [e for e in result['vnfm_errors']
             if 'taken again' in e['message']]
    print('sessions: %s in %ss' % (json.dumps(result['sessions'],
                                              sort_keys=True),
                                   result['seconds']))
    print('move events answered by the managers: %d'
          % result['move_events'])
    print('moved without their own reply: %d' % len(moved))
    for v in moved:
        print('  %s %s' % (v['vnfm'], v['detail']))
    print("Fenix's answers to the %d copies: %s" % (
        sum(result['repeats_by_status'].values()),
        json.dumps(result['repeats_by_status'], sort_keys=True)))
    print('copies taken again: %d' % len(taken))
    print('other checker findings: %s' % json.dumps(dict(
        collections.Counter(v['kind'] for v in
                            result['other_violations'])), sort_keys=True))
    print('other manager errors: %d' % (len(result['vnfm_errors']) -
                                        len(taken)))
    for failed in result['failed_sessions']:
        print('  failed: %s' % json.dumps(failed))
    if args.json:
        print(json.dumps(result, default=str))
    ok = (not moved and not taken and not result['failed_sessions'] and
          set(result['repeats_by_status']) <= {'409'})
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
