# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Managers whose every reply arrives more than once, and late (SPEC 3.7).

Used by ``test_replies`` (a few sessions) and by
``tools/bench/repeated_replies.py`` (as many as asked for).

The cloud is made of *cells*: cell ``c`` has three computes
``c<c>-0..2`` of three ``demo.half`` slots and a tenant ``cell<c>`` with
its own sample VNFM. Each VNFM boots its application (an active/standby pair
in an anti-affinity group and one more server) in its own cell: the other
cells' computes are disabled (by the admin, through Nova) while it does.
Every VNFM answers each event after ``reply_delay`` seconds and delivers
every reply again ``repeat_replies`` seconds later, as it was: a copy of
the answer to host A's PLANNED_MAINTENANCE often lands while host B's is
open and not answered yet, which is when a Fenix that matched replies by
the event's name only took it as B's answer and moved B's instances
before the manager had handled B's event.

A round runs one session per cell (its ``hosts`` are the cell's
computes), all at once in one Fenix. Instances may still move from one
cell to another (a session's targets are every enabled compute; nfv
prefers hosts outside its session), so a session may tell another cell's
manager about its instances: every event must still get its own answer;
and a target another session filled meanwhile is replaced
(``[workflow] migration_retries``). What is counted
(:meth:`ReplyStorm.report`): sessions and how they ended, the checker's
``moved_without_reply`` (an instance of an event moved before that event
had its manager's answer, or its deadline passed), the other checker
findings, the managers' errors (a copy taken again is one) and Fenix's
answers to the copies.
"""
import collections
import datetime
import time

from fenix.tests.functional import cloud_fixture as cf

from fenix_tools import common
from fenix_tools.vnfm import app as app_mod
from fenix_tools.vnfm import checker
from fenix_tools.vnfm import manager as vnfm_mod
from fenix_tools.vnfm import traits

HOSTS_PER_CELL = 3
FLAVOR = 'demo.half'
DISABLE_REASON = 'replies scenario: booting the application of another cell'
# Seconds each manager waits before it answers, and after which each
# answer is delivered again (copies land while the next event is open).
REPLY_DELAY = 1.0
REPEAT_REPLIES = (1.2, 2.5, 4.0)
# Seconds between a VNFM's checks of its servers (many VNFMs share the
# machine; moves are also seen by the host they end on).
CHECK_INTERVAL = 0.1
WORKFLOWS = ('default', 'nfv')
# Seconds each event gives its manager.
REPLY_WINDOW = 5
# Targets a move may try: sessions running at once do not know each
# other's reservations, so a target another session just filled is
# replaced (as Fenix does), not a failure of the run.
MIGRATION_RETRIES = 3


def cell_hosts(cell):
    return ['c%d-%d' % (cell, n) for n in range(HOSTS_PER_CELL)]


def topology(cells):
    """Cells of three computes of three slots (a third of them used, so
    that sessions moving instances into each other's cells still find
    room), a tenant and a member user
    (``vnfm-cell<c>`` / ``cell<c>pass``) per cell."""
    users = list(cf.ADMIN_USERS)
    projects = [{'name': 'admin'}, {'name': 'service'}]
    hosts = [{'name': 'controller-0', 'type': 'controller'}]
    for cell in range(cells):
        tenant = 'cell%d' % cell
        projects.append({'name': tenant})
        users.append({'name': 'vnfm-' + tenant, 'password': tenant + 'pass',
                      'roles': {tenant: ['member']}})
        hosts.append({'name': 'c%d-{n}' % cell, 'count': HOSTS_PER_CELL,
                      'type': 'compute', 'vcpus': 6, 'memory_mb': 12288,
                      'disk_gb': 120})
    return {
        'name': 'ft-replies',
        'projects': projects,
        'users': users,
        'hosts': hosts,
        'flavors': [{'name': FLAVOR, 'vcpus': 2, 'ram': 4096, 'disk': 40}],
        'timing': {'cold_migration': 0.1, 'live_migration': 0.1,
                   'confirm_resize': 0.0, 'boot': 0.05},
    }


def fenix_cloud(cells, reply_window=REPLY_WINDOW):
    """The :class:`cloud_fixture.FenixCloud` for ``cells`` cells (not set
    up): :func:`topology`, every cell's session at once."""
    return cf.FenixCloud(
        topology(cells), reply_window=reply_window,
        workflow={'migration_retries': MIGRATION_RETRIES},
        extra_config={'engine': {'max_sessions': cells}})


def application():
    """The pair and one more server; nothing to scale in; short notice."""
    return app_mod.get_app('seed004').updated(
        name='app', nonha_count=1, scale_in_count=0, lead_time=1,
        ha_recovery_time=0, nonha_recovery_time=0, flavor=FLAVOR)


def behaviour(reply_delay=REPLY_DELAY, repeat_replies=REPEAT_REPLIES):
    return app_mod.Behaviour(reply_delay=reply_delay,
                             repeat_replies=repeat_replies,
                             retry_interval=0.2)


class ReplyStorm(object):
    """The cells' managers on a :class:`cloud_fixture.FenixCloud` whose
    topology is :func:`topology`."""

    def __init__(self, cloud, cells, behaviour_factory=behaviour,
                 session_timeout=cf.SESSION_TIMEOUT):
        self.cloud = cloud
        self.cells = cells
        self.behaviour_factory = behaviour_factory
        self.session_timeout = session_timeout
        self.vnfms = []
        self.sessions = []     # (workflow, cell, session_id, final state)

    # --- setup ---------------------------------------------------------------

    def _set_enabled(self, hosts, enabled):
        nova = self.cloud.nova
        for host in hosts:
            svc = self.cloud.nova_service(host)
            if enabled:
                nova.services.enable(svc.id)
            else:
                nova.services.disable_log_reason(svc.id, DISABLE_REASON)

    def start(self):
        """Start the managers, each booting its servers in its cell."""
        everywhere = [h for c in range(self.cells) for h in cell_hosts(c)]
        for cell in range(self.cells):
            others = [h for h in everywhere if h not in cell_hosts(cell)]
            self._set_enabled(others, False)
            try:
                self.vnfms.append(self._start_vnfm(cell))
            finally:
                self._set_enabled(others, True)
        return self

    def _start_vnfm(self, cell):
        tenant = 'cell%d' % cell
        session = common.make_session(self.cloud.sim.auth_url,
                                      'vnfm-' + tenant, tenant + 'pass',
                                      tenant)
        vnfm = vnfm_mod.SampleVNFM(
            session=session, app=application(),
            behaviour=self.behaviour_factory(),
            check_interval=CHECK_INTERVAL, name='vnfm-' + tenant)
        vnfm.start()
        self.cloud.addCleanup(vnfm.stop)
        self.cloud.vnfms.append(vnfm)
        return vnfm

    # --- rounds --------------------------------------------------------------

    def run_round(self, workflow):
        """One session per cell, all at once; returns [(cell, session id,
        final state)] once every one ended."""
        started = [(cell, self.cloud.create_session(
            workflow=workflow, hosts=cell_hosts(cell)))
            for cell in range(self.cells)]
        ended = []
        for cell, sid in started:
            state = self.cloud.wait_final(sid, timeout=self.session_timeout,
                                          interval=0.2)
            ended.append((cell, sid, state))
            self.sessions.append((workflow, cell, sid, state))
        return ended

    def settle(self, timeout=30):
        """Every manager handled every event and delivered every copy;
        its checker looked once more."""
        for vnfm in self.vnfms:
            if not vnfm.wait_idle(timeout):
                return False
        for vnfm in self.vnfms:
            vnfm.checker.wait_checks(2, timeout=10)
        return True

    # --- what happened -------------------------------------------------------

    def check_with_the_cloud_record(self):
        """Give every manager's checker the exact start of every migration
        from the cloud's own record (its snapshots see a move a poll
        late; the managers and the simulated cloud share this process's
        clock)."""
        mono_now, utc_now = time.monotonic(), traits.utcnow()
        starts = [(e['server'], utc_now - datetime.timedelta(
            seconds=mono_now - e['t']))
            for e in self.cloud.sim.get_events(kind='migration.start')]
        created = self.cloud.sim.get_events(kind='server.create')
        for vnfm in self.vnfms:
            own = {e['server'] for e in created
                   if e.get('project') == vnfm.project_id}
            for server, at in starts:
                if server in own:
                    vnfm.reply_order.note_move(server, at)

    def report(self):
        """Counts over every round so far (plain data)."""
        by_workflow = collections.defaultdict(collections.Counter)
        for workflow, _cell, _sid, state in self.sessions:
            by_workflow[workflow][state] += 1
        moved, other, errors, events = [], [], [], 0
        repeats = collections.Counter()
        for vnfm in self.vnfms:
            for v in vnfm.violations():
                (moved if v['kind'] == checker.MOVED_WITHOUT_REPLY
                 else other).append(dict(v, vnfm=vnfm.name))
            errors += [dict(e, vnfm=vnfm.name) for e in vnfm.errors.list()]
            for r in vnfm.repeats.list():
                repeats[str(r['status'])] += 1
            events += sum(1 for e in vnfm.events.list()
                          if e.get('state') in vnfm_mod.MOVE_EVENTS and
                          not e.get('duplicate'))
        return {
            'sessions': {w: dict(c) for w, c in by_workflow.items()},
            'failed_sessions': [
                {'workflow': w, 'cell': c, 'session_id': s,
                 'error': self.cloud.summary(s).get('error')}
                for w, c, s, state in self.sessions
                if state != 'MAINTENANCE_DONE'],
            'move_events': events,
            'moved_without_reply': moved,
            'other_violations': other,
            'vnfm_errors': errors,
            'repeats_by_status': dict(repeats),
        }


def run(cloud, cells, rounds, workflows=WORKFLOWS, log=None,
        behaviour_factory=behaviour, session_timeout=cf.SESSION_TIMEOUT):
    """Start the managers and run ``rounds`` rounds of each workflow (in
    turn); returns (the :class:`ReplyStorm`, its :meth:`ReplyStorm.report`
    with the seconds taken). ``log(text)``: told after each round."""
    started = time.monotonic()
    storm = ReplyStorm(cloud, cells, behaviour_factory=behaviour_factory,
                       session_timeout=session_timeout).start()
    for n in range(rounds):
        for workflow in workflows:
            ended = storm.run_round(workflow)
            if log:
                log('round %d/%d %s: %s (%.0f s so far)' % (
                    n + 1, rounds, workflow, dict(collections.Counter(
                        s for _c, _i, s in ended)),
                    time.monotonic() - started))
    storm.settle()
    storm.check_with_the_cloud_record()
    result = storm.report()
    result['seconds'] = round(time.monotonic() - started, 1)
    return storm, result
