# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix.client.progress: the progress line, the display and watch()."""
import io
import threading

from fenix.client import exceptions as exc
from fenix.client import progress
from fenix.tests import base


def detail(state, done=0, total=3, **extra):
    return dict({'session_id': 'S', 'state': state, 'hosts_done': done,
                 'hosts_total': total,
                 'percent_done': int(100 * done / total)}, **extra)


class FakeClient(object):
    """Answers each get_session_detail with the next item (the last one
    again when they run out); an exception item is raised."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = 0

    def get_session_detail(self, session_id):
        self.calls += 1
        item = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(item, Exception):
            raise item
        return item


class TestLine(base.TestCase):

    def test_line(self):
        line = progress.progress_line(detail(
            'PLANNED_MAINTENANCE', 1, seconds_left=40,
            eta='2030-01-01 10:00:00', projects=[
                {'project_id': 'p1234567890', 'event': 'PLANNED_MAINTENANCE',
                 'reply': 'ACK_PLANNED_MAINTENANCE', 'has_manager': True},
                {'project_id': 'p2', 'event': 'PLANNED_MAINTENANCE',
                 'reply': 'ACK_MAINTENANCE', 'has_manager': True},
                {'project_id': 'p3', 'has_manager': False}]))
        self.assertEqual(
            '[######..............] 1/3 hosts  33% PLANNED_MAINTENANCE'
            ' | ETA 2030-01-01 10:00:00 (~40s)'
            ' | p1234567=ACK_PLANNED_MAINTENANCE p2=PLANNED_MAINTENANCE?'
            ' p3=no-manager', line)

    def test_pausing_skipped_and_final(self):
        line = progress.progress_line(detail(
            'MAINTENANCE_DONE', 2, hosts_skipped=1, pause_requested=True,
            seconds_left=0))
        self.assertIn('(pausing) 1 skipped', line)
        self.assertNotIn('ETA', line)

    def test_outcome(self):
        lines = progress.outcome_lines(detail(
            'MAINTENANCE_FAILED', 1, failed_state='PLANNED_MAINTENANCE',
            error='migration of a failed',
            hosts=[{'hostname': 'c2', 'state': 'SKIPPED',
                    'maintained': False}]))
        self.assertEqual(['Session S: MAINTENANCE_FAILED',
                          '  hosts maintained: 1/3',
                          '  hosts skipped: c2',
                          '  failed in state: PLANNED_MAINTENANCE',
                          '  error: migration of a failed'], lines)


class TestDisplay(base.TestCase):

    def test_pipe_prints_changes_only(self):
        out = io.StringIO()
        display = progress.Display(out, tty=False)
        for d in (detail('MAINTENANCE'), detail('MAINTENANCE'),
                  detail('PLANNED_MAINTENANCE', 1)):
            display.show(d, 1)
        lines = out.getvalue().splitlines()
        self.assertEqual(2, len(lines))
        self.assertNotIn('\r', out.getvalue())

    def test_pipe_does_not_print_each_tick_of_the_time_left(self):
        out = io.StringIO()
        display = progress.Display(out, tty=False)
        for left in (120, 119, 118):
            display.show(dict(detail('PLANNED_MAINTENANCE', 1),
                              seconds_left=left, eta='12:00:00'), 1)
        display.show(dict(detail('PLANNED_MAINTENANCE', 2),
                          seconds_left=60, eta='12:00:00'), 2)
        lines = out.getvalue().splitlines()
        self.assertEqual(2, len(lines))
        self.assertIn('ETA 12:00:00 (~120s)', lines[0])
        self.assertIn('(~60s)', lines[1])

    def test_terminal_redraws(self):
        out = io.StringIO()
        display = progress.Display(out, tty=True)
        display.show(detail('MAINTENANCE'), 0)
        display.show(detail('MAINTENANCE_DONE', 3), 5)
        display.finish(progress.WatchResult(detail('MAINTENANCE_DONE', 3),
                                            False, 5))
        text = out.getvalue()
        frames = text.split('\n')[0].split('\r')[1:]
        self.assertEqual(2, len(frames))
        self.assertTrue(frames[1].endswith('| 5s' + progress.ERASE_LINE))
        self.assertIn('\nSession S: MAINTENANCE_DONE\n', text)


class TestWatch(base.TestCase):

    def test_to_done(self):
        client = FakeClient(detail('MAINTENANCE'),
                            detail('PLANNED_MAINTENANCE', 1),
                            detail('MAINTENANCE_DONE', 3))
        result = progress.watch(client, 'S', interval=0)
        self.assertEqual(0, result.exit_code)
        self.assertEqual(3, client.calls)

    def test_failed_is_1(self):
        result = progress.watch(FakeClient(detail('MAINTENANCE_FAILED')),
                                'S', interval=0)
        self.assertEqual(1, result.exit_code)

    def test_transient_errors_tolerated(self):
        unavailable = exc.ServiceUnavailable('down', status=503)
        client = FakeClient(unavailable, exc.ConnectionFailure('refused'),
                            detail('MAINTENANCE_DONE', 3))
        self.assertEqual(0, progress.watch(client, 'S',
                                           interval=0).exit_code)

    def test_too_many_errors(self):
        client = FakeClient(exc.ServiceUnavailable('down', status=503))
        result = progress.watch(client, 'S', interval=0)
        self.assertEqual(1, result.exit_code)
        self.assertEqual(progress.MAX_ERRORS, client.calls)
        self.assertIn('down', result.error)

    def test_deleted_session_ends_the_watch(self):
        client = FakeClient(detail('MAINTENANCE'),
                            exc.NotFound('Session S not found', status=404))
        result = progress.watch(client, 'S', interval=0)
        self.assertEqual((1, 'Session S not found'),
                         (result.exit_code, result.error))

    def test_timeout(self):
        ticks = iter(range(100))
        result = progress.watch(FakeClient(detail('MAINTENANCE')), 'S',
                                interval=0, timeout=3,
                                clock=lambda: next(ticks))
        self.assertTrue(result.timed_out)
        self.assertEqual(1, result.exit_code)

    def test_stop(self):
        stop = threading.Event()
        stop.set()
        result = progress.watch(FakeClient(detail('MAINTENANCE')), 'S',
                                interval=10, stop=stop)
        self.assertEqual('stopped', result.error)
