# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""How long a session still takes: the ETA of SPEC 3.7.

When a workflow makes its plan it also writes a few numbers of it into the
session's ``estimate`` column (:func:`of_plan`): how long the plan takes
from its first host to its last, how many computes it covers and the
seconds it plans for them, and the seconds of a controller. The ETA
(:func:`eta`) needs only those and the host rows, so ``GET
/v1/maintenance/{id}`` never reads the plan itself (the largest column).

The plan's seconds per host are corrected by what this session measured:
the mean real time of the hosts maintained so far (``started_at`` to
``finished_at`` of their rows) over the plan's mean. A cloud whose moves
take twice the estimates gets an ETA twice as far away after its first
host.

Pure functions over plain data (the plan dict, the rows): no database, no
clients.
"""
import datetime

from fenix.common import states as st
from fenix.common import timeutils

# Keys of the session's ``estimate``.
SOURCE = 'source'                    # the workflow that planned: nfv, default
MADE_AT = 'made_at'                  # when (UTC, the API's time format)
DURATION = 'duration'                # planned seconds, first host to last
HOST_SECONDS = 'host_seconds'        # planned seconds of every compute
HOSTS = 'hosts'                      # computes the plan covers
CONTROLLER_SECONDS = 'controller_seconds'    # planned seconds a controller


def summary(source, duration, host_seconds, hosts, controller_seconds,
            now=None):
    """The session's ``estimate`` from its numbers."""
    return {SOURCE: source,
            MADE_AT: timeutils.format_time(now or timeutils.utcnow()),
            DURATION: float(duration or 0),
            HOST_SECONDS: float(host_seconds or 0),
            HOSTS: int(hosts or 0),
            CONTROLLER_SECONDS: float(controller_seconds or 0)}


def controller_seconds(durations):
    """Planned seconds of a controller's maintenance (its plug-ins)."""
    return durations.by_host_type.get(st.CONTROLLER,
                                      durations.host_maintenance)


def of_plan(plan, durations, source, now=None):
    """The ``estimate`` of a plan dict (:meth:`planner.Plan.to_dict`, or
    the default workflow's waves of the same shape).

    A compute's planned seconds run from the start of its wave to the end
    of its maintenance window (to the end of its wave when the plan gives
    no window): its moves and its plug-ins.
    """
    host_seconds = 0.0
    hosts = 0
    for wave in plan.get('waves') or ():
        windows = {w['host']: w for w in wave.get('maintenance') or ()}
        for name in wave.get('hosts') or ():
            window = windows.get(name)
            end = window['end'] if window else wave['end']
            host_seconds += max(0.0, end - wave['start'])
            hosts += 1
    duration = plan.get('estimated_duration')
    if duration is None:
        duration = max([w['end'] for w in plan.get('waves') or ()] + [0])
    return summary(source, duration, host_seconds, hosts,
                   controller_seconds(durations), now=now)


def _seconds(start, end):
    return max(0.0, (end - start).total_seconds())


def eta(session, hosts, now=None):
    """``{'eta', 'seconds_left', 'estimated_duration'}`` of a session.

    ``session``: its row (``estimate``, ``state``, ``options``,
    ``maintenance_at``, ``updated_at``); ``hosts``: its host rows.

    * ``estimated_duration``: the plan's seconds from its first host to
      its last (null without a plan);
    * ``seconds_left``: for every compute left, the plan's seconds per
      host times the measured ratio (minus what a host under way has
      already spent), divided by the plan's parallelism (its seconds of
      all computes over its duration); every controller left, one after
      the other; plus the wait until ``maintenance_at``. Without a plan
      the mean measured seconds per host alone; with neither, null. Null
      for a dry run and a failed session; 0 once done;
    * ``eta``: now plus ``seconds_left``; when a session is done, when it
      ended; null while it is paused (nobody knows when it resumes; its
      ``seconds_left`` stands still).
    """
    now = now or timeutils.utcnow()
    state = session['state']
    plan = session.get('estimate') or {}
    duration = plan.get(DURATION)
    view = {'eta': None, 'seconds_left': None,
            'estimated_duration': duration if plan else None}
    if (session.get('options') or {}).get('dry_run') or \
            state == st.MAINTENANCE_FAILED:
        return view
    if state == st.MAINTENANCE_DONE:
        view['seconds_left'] = 0
        view['eta'] = timeutils.format_time(session.get('updated_at'))
        return view
    if state == st.PAUSED and session.get('updated_at'):
        # The session last changed when it was paused: count time up to
        # then only.
        now = min(now, session['updated_at'])
    computes = [h for h in hosts if h['type'] == st.COMPUTE]
    others = [h for h in hosts if h['type'] != st.COMPUTE]
    measured = [_seconds(h['started_at'], h['finished_at'])
                for h in computes if h['maintained'] and
                h.get('started_at') and h.get('finished_at')]
    planned_hosts = plan.get(HOSTS) or 0
    planned_seconds = plan.get(HOST_SECONDS) or 0.0
    if planned_hosts and planned_seconds > 0:
        per_host = planned_seconds / planned_hosts
        ratio = (sum(measured) / len(measured) / per_host) if measured \
            else 1.0
        parallel = max(1.0, planned_seconds / duration) if duration \
            else 1.0
    elif measured:
        per_host, ratio, parallel = sum(measured) / len(measured), 1.0, 1.0
    else:
        return view
    per_other = plan.get(CONTROLLER_SECONDS) or per_host
    work = 0.0
    for host in computes:
        if host['maintained'] or host['state'] == st.HOST_SKIPPED:
            continue
        need = ratio * per_host
        if host.get('started_at'):
            need = max(0.0, need - _seconds(host['started_at'], now))
        work += need
    left = work / parallel
    left += ratio * per_other * sum(
        1 for h in others
        if not h['maintained'] and h['state'] != st.HOST_SKIPPED)
    maintenance_at = session.get('maintenance_at')
    if maintenance_at and maintenance_at > now:
        left += _seconds(now, maintenance_at)
    view['seconds_left'] = int(round(left))
    if state != st.PAUSED:
        view['eta'] = timeutils.format_time(
            now + datetime.timedelta(seconds=view['seconds_left']))
    return view
