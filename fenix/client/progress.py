# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Following a session to its end, and what is shown while it runs.

:func:`watch` polls ``GET /v1/maintenance/{id}/detail`` until the session
is ``MAINTENANCE_DONE`` or ``MAINTENANCE_FAILED`` (or the time is up);
:class:`Display` draws one progress line per poll: redrawn in place on a
terminal, printed only when it changes otherwise.
"""
import threading
import time

from fenix.client import exceptions as exc

MAINTENANCE_DONE = 'MAINTENANCE_DONE'
MAINTENANCE_FAILED = 'MAINTENANCE_FAILED'
FINAL_STATES = (MAINTENANCE_DONE, MAINTENANCE_FAILED)

EXIT_DONE = 0
EXIT_NOT_DONE = 1

NO_MANAGER = 'no-manager'
BAR_WIDTH = 20
# Transient errors (503, connection failures) tolerated in a row.
MAX_ERRORS = 5
# Erases the rest of a terminal line.
ERASE_LINE = '\x1b[K'


def short(value, length=8):
    value = str(value or '?')
    return value if len(value) <= length else value[:length]


def bar(done, total, width=BAR_WIDTH):
    filled = int(width * done / total) if total else 0
    return '[%s%s]' % ('#' * filled, '.' * (width - filled))


def project_state(project):
    """A project's standing: its reply when it answers its current event,
    else the event followed by '?' (no answer yet); ``no-manager`` for a
    project nobody answers for."""
    if project.get('has_manager') is False:
        return NO_MANAGER
    event = project.get('event')
    reply = project.get('reply')
    if reply and (not event or str(reply).endswith(str(event))):
        return reply
    if event:
        return '%s?' % event
    return reply or '-'


def progress_line(detail, eta=True):
    """Bar, hosts done/total, percent, state, time left (unless not
    ``eta``), projects."""
    done = detail.get('hosts_done') or 0
    total = detail.get('hosts_total') or 0
    state = detail.get('state') or '?'
    line = '%s %d/%d hosts %3d%% %s' % (
        bar(done, total), done, total, detail.get('percent_done') or 0,
        state)
    if detail.get('pause_requested'):
        line += ' (pausing)'
    if detail.get('hosts_skipped'):
        line += ' %d skipped' % detail['hosts_skipped']
    if eta and detail.get('seconds_left') is not None and \
            state not in FINAL_STATES:
        line += ' | ETA %s (~%ds)' % (detail.get('eta') or '?',
                                      int(detail['seconds_left']))
    projects = detail.get('projects') or []
    if projects:
        line += ' | ' + ' '.join(
            '%s=%s' % (short(p.get('project_id')), project_state(p))
            for p in projects)
    return line


def outcome_lines(detail):
    """What a session ended with, a few lines."""
    lines = ['Session %s: %s' % (detail.get('session_id'),
                                 detail.get('state'))]
    hosts = detail.get('hosts') or []
    lines.append('  hosts maintained: %d/%d' % (
        detail.get('hosts_done') or 0, detail.get('hosts_total') or 0))
    skipped = [h['hostname'] for h in hosts
               if h.get('state') == 'SKIPPED' and not h.get('maintained')]
    if skipped:
        lines.append('  hosts skipped: %s' % ', '.join(skipped))
    for project in detail.get('projects') or []:
        lines.append('  project %s: %s' % (project.get('project_id'),
                                           project_state(project)))
    if detail.get('failed_state'):
        lines.append('  failed in state: %s' % detail['failed_state'])
    if detail.get('error'):
        lines.append('  error: %s' % detail['error'])
    return lines


class Display(object):
    """Shows the progress of a session on ``out``.

    On a terminal (``tty``, default ``out.isatty()``) the line is redrawn
    in place with a carriage return; otherwise a line is printed each
    time what it says changes.
    """

    def __init__(self, out, tty=None):
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self._last = None
        self._drawn = False

    def show(self, detail, elapsed):
        line = progress_line(detail)
        if self.tty:
            self.out.write('\r%s | %ds%s' % (line, int(elapsed), ERASE_LINE))
            self._drawn = True
        else:
            # A line when what it says changes, not at every tick of the
            # time left.
            key = progress_line(detail, eta=False)
            if key != self._last:
                self.out.write(line + '\n')
            self._last = key
        self.out.flush()

    def end_line(self):
        """Ends a line redrawn in place (so what follows starts on a line
        of its own)."""
        if self._drawn:
            self.out.write('\n')
            self.out.flush()
            self._drawn = False

    def finish(self, result):
        """Ends the display with the session's outcome."""
        self.end_line()
        lines = outcome_lines(result.detail)
        if result.timed_out:
            lines.append('  gave up watching after %ds' % int(result.elapsed))
        if result.error:
            lines.append('  last error: %s' % result.error)
        self.out.write('\n'.join(lines) + '\n')
        self.out.flush()


class WatchResult(object):
    def __init__(self, detail, timed_out, elapsed, error=None):
        self.detail = detail or {}
        self.timed_out = timed_out
        self.elapsed = elapsed
        self.error = error

    @property
    def state(self):
        return self.detail.get('state')

    @property
    def exit_code(self):
        """0 when the session is MAINTENANCE_DONE, else 1."""
        return EXIT_DONE if self.state == MAINTENANCE_DONE else EXIT_NOT_DONE


def watch(client, session_id, interval=2.0, timeout=None, display=None,
          stop=None, until=None, clock=time.monotonic):
    """Poll the session's detail until it is final (or ``until(detail)``
    is true, or ``timeout`` seconds passed, or ``stop`` is set).

    Up to :data:`MAX_ERRORS` 503s or connection failures in a row are
    tolerated; a 404 (the session was deleted) ends the watch.
    """
    stop = stop or threading.Event()
    start = clock()
    detail, error, errors = {}, None, 0
    while True:
        try:
            detail = client.get_session_detail(session_id)
            errors, error = 0, None
        except exc.NotFound as e:
            return WatchResult(detail, False, clock() - start, e.message)
        except (exc.ServiceUnavailable, exc.ConnectionFailure) as e:
            errors, error = errors + 1, str(e)
            if errors >= MAX_ERRORS:
                return WatchResult(detail, False, clock() - start, error)
        elapsed = clock() - start
        if display is not None and detail:
            display.show(detail, elapsed)
        if detail.get('state') in FINAL_STATES or \
                (until is not None and detail and until(detail)):
            return WatchResult(detail, False, elapsed, error)
        if timeout is not None and elapsed >= timeout:
            return WatchResult(detail, True, elapsed, error)
        wait = interval if timeout is None else min(interval,
                                                    timeout - elapsed)
        if stop.wait(max(wait, 0)):
            return WatchResult(detail, True, clock() - start, 'stopped')
