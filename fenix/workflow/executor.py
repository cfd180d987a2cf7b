# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The executor of the ``nfv`` workflow's plan (the ``parallel`` policy of
:class:`~fenix.workflow.session_flow.SessionFlow`;
:mod:`fenix.workflow.workflows.nfv` plans and drives it in
PLANNED_MAINTENANCE).

It executes the plan adaptively: hosts are taken in the planner's order,
as many at once as the plan's waves (and the ``max_parallel_hosts``
option) allow, each as soon as its instances fit on the hosts available
*now*; every instance gets its own PREPARE_MAINTENANCE (nothing
maintained yet) or PLANNED_MAINTENANCE event when its group's budget
(``max_impacted_members``) has room; it is moved once the manager
answered (or its reply window passed) and its ``lead_time`` passed; a
member holds its group's budget from its event until ``recovery_time``
after its move (members other live sessions move, or moved less than
``recovery_time`` ago, count too). A host goes down as soon as it is
empty; maintained hosts are the preferred targets. After a restart it
goes on from the step rows (:mod:`fenix.workflow.steps`).

An admin's pause or host skip (SPEC 3.7) is honoured before it starts a
host, sends an instance event, starts a move or takes a host down
(:meth:`~fenix.workflow.base.BaseWorkflow.may_start`): on a pause, what
is in flight (moves requested from Nova, events being sent, hosts being
disabled or maintained) finishes and the handler gives way (the next run
resumes from the rows, as after a restart); a skipped host's pending
jobs are cancelled and, once its moves in flight are done, it is skipped
and the others go on.

A move from a host whose nova-compute is down waits until it is up again
(the computes' state is read every second and when a host starts), at
most ``[workflow] migration_timeout``, then the run fails with nothing
more moved from it; down computes are never targets.

Move kind: the manager's ``instance_action``; a silent manager, or a
project without one, gets the planner's choice from ``migration_type``
and ``max_interruption_time`` (:func:`planner.choose_move_kind`).
OWN_ACTION: Fenix waits (``[workflow] own_action_timeout``) until the
manager moved or removed the instance.
"""
import collections
import concurrent.futures
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging

from fenix.common import exception
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.workflow import base
from fenix.workflow import nfv_plan
from fenix.workflow import planner
from fenix.workflow import session_flow as flow
from fenix.workflow import steps as plan_steps

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# Seconds between re-reads of the constraints while executing.
CONSTRAINTS_REFRESH = 1.0
# Seconds after a constraint's change during which the constraints are
# read whole on every refresh (see Executor._constraints_known).
CONSTRAINTS_SETTLE = 3.0
# Seconds between checks of OWN_ACTION instances and of host emptiness.
OWN_POLL = 0.5
# Longest sleep of the executor when nothing is due (moves, replies,
# constraint changes and host maintenance ends wake it at once).
IDLE_WAIT = 2.0
# Shortest time between two passes of the executor over its jobs.
MIN_PASS = 0.02
# Workers sending per-instance events.
NOTIFY_WORKERS = 8
# Hosts being started (disabled, their rows written) at once, by their own
# workers: instance events and moves are never queued behind host starts.
START_WORKERS = 4

# What _decide returns for a host to put off (silent_own_action).
SKIP_HOST = 'skip_host'
# What a move's worker returns when its target failed and another may be
# tried (Executor._may_retarget).
RETARGET = 'retarget'

# Phases of one instance to move.
WAIT_SLOT = 'wait_slot'
NOTIFYING = 'notifying'
NOTIFIED = 'notified'
READY = 'ready'
MOVING = 'moving'
OWN = 'own'
DONE = 'done'

# Hosts in the executor.
H_PENDING = 'pending'
H_STARTING = 'starting'    # chosen: being disabled, jobs not yet stepped
H_EMPTYING = 'emptying'
H_DOWN = 'down'
H_DONE = 'done'


class _Job(object):
    """One instance to take off an emptying host."""

    def __init__(self, iid, server, host):
        self.iid = iid
        self.server = server
        self.host = host
        self.phase = WAIT_SLOT
        self.target = None
        self.kind = None
        self.action = None
        self.notified = None
        self.reply_at = None
        self.act_at = None
        self.deadline = None
        self.resume = False
        self.event = None
        # Targets a move of this instance failed to reach.
        self.failed_targets = set()
        # The id of the event sent for it: only a reply to that counts.
        self.event_id = None

    @property
    def project_id(self):
        return self.server.get('project_id')


class Executor(object):
    """Runs the plan of one session, adaptively (see the module doc)."""

    def __init__(self, wf):
        self.wf = wf
        self.sid = wf.session_id
        self.options = wf.options
        self.max_hosts = int(self.options.get('max_parallel_hosts') or 0)
        self.max_moves = int(self.options.get('max_concurrent_migrations')
                             or 0)
        self.cancelled = threading.Event()
        self.failures = []
        self.moves = {}        # future -> job
        self.downs = {}        # future -> hostname
        self.starts = {}       # future -> hostname (being disabled)
        self.notes = {}        # future -> job (events being sent)
        self.jobs = {}         # hostname -> {iid: job}
        self.hstate = {}       # hostname -> H_*
        self.started = []      # hostnames in the order they were started
        self.holders = {}      # gid -> set of iids holding its budget
        self.recovering = {}   # gid -> [(until, iid)]
        # gid -> members other live sessions impact (read every
        # CONSTRAINTS_REFRESH while a member waits for its budget).
        self.elsewhere = {}
        self.elsewhere_at = None
        self.own_checked = 0
        self.constraints_at = 0
        self.last_pass = 0
        self.projects = None
        # Bumped whenever room, a group's count or a host's state may have
        # changed: a host that did not fit is tried again only then.
        self.epoch = 0
        self.tried = {}        # hostname -> epoch of its failed start
        self.group_key = None  # what the group counts were made from
        self.reply_mark = None  # reply wake-ups when the rows were read
        self.rows = {}
        self.new_notified = set()   # iids NOTIFIED since the rows were read
        self.n_ready = self.n_own = 0
        # Futures of the workers, as they complete (the completion queue:
        # a pass looks at what finished, not at everything in flight).
        self.completed = collections.deque()

    # --- the model of the cloud ----------------------------------------------
    def _load_model(self):
        """Nova's view, the plan (made and stored if the session has none
        yet), the constraints and the session's hosts."""
        wf = self.wf
        # MAINTENANCE (or SCALE_IN) already wrote the instance rows; here
        # only Nova's view is needed (a row missing for an instance that
        # appeared since is created when the instance gets its event).
        servers = [s for s in wf.cloud.servers() if flow.alive(s)]
        groups = wf.cloud.server_groups()
        self.servers = {s['id']: s for s in servers}
        plan = wf._plan().get('nfv')
        if not plan:
            _, plan = wf._make_plan(servers, groups)
            wf._store_plan(plan)
        self.plan = plan
        self.planned = nfv_plan.planned_moves(plan)
        hyper = {h['hostname']: h for h in wf.cloud.hypervisors()
                 if h.get('hostname')}
        self.capacity = {n: (h.get('vcpus') or 0, h.get('memory_mb') or 0,
                             h.get('local_gb') or 0)
                         for n, h in hyper.items()}
        self.services = {s['host']: s for s in wf.cloud.compute_services()}
        self.server_groups = groups
        self._refresh_constraints(force=True)
        self.session_hosts = {h['hostname']: h for h in wf._computes()}
        self.any_maintained = any(h['maintained']
                                  for h in self.session_hosts.values())
        order = [h for h, _w in nfv_plan.host_order(plan)]
        wave_of = dict(nfv_plan.host_order(plan))
        rest = sorted(h for h, row in self.session_hosts.items()
                      if h not in wave_of and not row['maintained'] and
                      row['state'] != st.HOST_SKIPPED)
        last = max(wave_of.values()) + 1 if wave_of else 0
        for h in rest:
            wave_of[h] = last
        self.order = [h for h in order + rest if h in self.session_hosts]
        self.wave_of = wave_of
        self.reserved = {}     # target host -> [iids reserved]
        self._recount()

    def _load_hosts(self):
        """Where each host stands, from its rows and its steps."""
        book = self.wf.steps
        for name, row in self.session_hosts.items():
            maintain = book.state(st.STEP_MAINTAIN_HOST, name)
            if maintain is not None and not row['maintained'] and \
                    row['state'] != st.HOST_SKIPPED:
                # Where the host stands, from its steps.
                self.hstate[name] = self._host_from_steps(name, maintain)
            elif row['maintained']:
                self.hstate[name] = H_DONE
            elif row['state'] == st.HOST_SKIPPED:
                self.hstate[name] = H_DONE
            elif row['state'] in (st.HOST_IN_MAINTENANCE, st.HOST_FAILED) \
                    and row['started_at'] and not self._occupied(name):
                self.hstate[name] = H_DOWN
            elif row['state'] == st.HOST_EMPTYING:
                self.hstate[name] = H_PENDING
                self._resume.append(name)
            else:
                self.hstate[name] = H_PENDING

    def _host_from_steps(self, name, maintain):
        """The executor's state of a host, from its steps: maintained;
        in maintenance (running, or failed there: resumed, never
        announced again) when empty; being emptied once it was disabled
        for it; else pending."""
        if maintain == st.STEP_DONE:
            return H_DONE
        if maintain in (st.STEP_RUNNING, st.STEP_FAILED) and \
                not self._occupied(name):
            return H_DOWN
        if self.wf.steps.state(st.STEP_DISABLE_COMPUTE, name) == \
                st.STEP_DONE:
            self._resume.append(name)
        return H_PENDING

    def _reload_cloud(self):
        """Nova's view again: servers, capacity and compute services."""
        wf = self.wf
        self.servers = {s['id']: s for s in wf.cloud.servers()
                        if flow.alive(s)}
        self.capacity.update(
            (h['hostname'], (h.get('vcpus') or 0, h.get('memory_mb') or 0,
                             h.get('local_gb') or 0))
            for h in wf.cloud.hypervisors() if h.get('hostname'))
        self.services = {s['host']: s for s in wf.cloud.compute_services()}
        self._recount()

    def _refresh_constraints(self, force=False):
        now = time.monotonic()
        if not force and now - self.constraints_at < CONSTRAINTS_REFRESH:
            return False
        self.constraints_at = now
        self.session = self.wf.session
        if hasattr(self, 'services'):
            # Which computes are up (a move from a down one waits).
            self.services = {s['host']: s
                             for s in self.wf.cloud.compute_services()}
        # The constraints' rows and the groups built from them are read
        # again only when a constraint changed (or Nova's groups were
        # read again): every row each second grows with the session.
        version = db_api.constraints_version()
        if self._constraints_known(version):
            return True
        self.constraints_version = (version, self.server_groups)
        self.constraints = {c['instance_id']: c
                            for c in db_api.instance_constraints_list()}
        rules = {g['group_id']: g
                 for g in db_api.instance_group_constraints_list()}
        self.groups, self.member_of = nfv_plan.groups_of(
            self.server_groups, rules)
        # The counts per group change only with the groups (a pass must
        # not recount every server of a large cloud each second).
        key = (dict(self.member_of),
               {i: c.get('group_id') for i, c in self.constraints.items()},
               {g: (grp.anti_affinity, grp.max_instances_per_host)
                for g, grp in self.groups.items()})
        if hasattr(self, 'used') and key != self.group_key:
            self._recount()
        self.group_key = key
        return True

    def _constraints_known(self, version):
        """The constraints read last are still those of ``version`` (see
        :func:`fenix.db.api.constraints_version`) and of the same Nova
        groups. A change in the last CONSTRAINTS_SETTLE seconds is never
        trusted to show in the version (a database may keep whole seconds
        only: a second change within the same second would not)."""
        known = getattr(self, 'constraints_version', None)
        if known is None or known[0] != version or \
                known[1] is not self.server_groups:
            return False
        times = [t for table in version for t in table[1:] if t]
        return not times or max(times) < timeutils.after(
            -CONSTRAINTS_SETTLE)

    def _group(self, iid):
        gid = self.member_of.get(iid) or \
            (self.constraints.get(iid) or {}).get('group_id')
        return self.groups.get(gid) if gid else None

    def _size(self, iid):
        flavor = (self.servers.get(iid) or {}).get('flavor') or {}
        return (flavor.get('vcpus') or 0, flavor.get('ram') or 0,
                flavor.get('disk') or 0)

    def _recount(self):
        """Usage of every host (servers where they are, plus the room
        reserved for moves), kept up to date incrementally afterwards."""
        used = {}
        groups = {}
        on_host = {}
        for iid, srv in self.servers.items():
            self._count(used, groups, srv['host'], iid, 1)
            on_host.setdefault(srv['host'], set()).add(iid)
        self.on_host = on_host
        self.epoch += 1
        for target, iids in self.reserved.items():
            for iid in iids:
                self._count(used, groups, target, iid, 1)
        self.used, self.gcount = used, groups

    def _usage(self):
        return self.used, self.gcount

    def _set_server(self, srv):
        """Nova says where ``srv`` is: keep the usage right."""
        old = self.servers.get(srv['id'])
        if old is not None and old.get('host') == srv.get('host'):
            self.servers[srv['id']] = srv
            return
        if old is not None and old.get('host'):
            self._count(self.used, self.gcount, old['host'], srv['id'], -1)
            self.on_host.get(old['host'], set()).discard(srv['id'])
            self.epoch += 1
        self.servers[srv['id']] = srv
        if srv.get('host'):
            self._count(self.used, self.gcount, srv['host'], srv['id'], 1)
            self.on_host.setdefault(srv['host'], set()).add(srv['id'])

    def _drop_server(self, iid):
        old = self.servers.pop(iid, None)
        if old is not None and old.get('host'):
            self.servers[iid] = old
            self._count(self.used, self.gcount, old['host'], iid, -1)
            self.on_host.get(old['host'], set()).discard(iid)
            self.epoch += 1
            del self.servers[iid]

    def _count(self, used, groups, host, iid, sign):
        size = self._size(iid)
        u = used.setdefault(host, [0, 0, 0])
        for k in range(3):
            u[k] += sign * size[k]
        group = self._group(iid)
        if group is not None:
            c = groups.setdefault(host, {})
            c[group.group_id] = c.get(group.group_id, 0) + sign

    def _targets(self):
        """Hosts that may receive instances now, preferred first."""
        good, later = [], []
        for name in sorted(self.capacity):
            svc = self.services.get(name) or {}
            if svc.get('state', 'up') != 'up' or svc.get('forced_down'):
                continue
            row = self.session_hosts.get(name)
            if row is None:
                if svc.get('status', 'enabled') == 'enabled':
                    good.append(name)
                continue
            if row['disabled_by_operator'] or \
                    row['state'] == st.HOST_SKIPPED:
                continue
            state = self.hstate.get(name)
            if state == H_DONE:
                good.append(name)
            elif state == H_PENDING:
                later.append(name)
        return good, later

    def _fits(self, iid, target, used, gcount):
        size = self._size(iid)
        cap = self.capacity.get(target)
        if cap is None:
            return False
        u = used.get(target, (0, 0, 0))
        if any(u[k] + size[k] > cap[k] for k in range(3)):
            return False
        group = self._group(iid)
        if group is not None:
            n = gcount.get(target, {}).get(group.group_id, 0)
            if group.anti_affinity and n >= 1:
                return False
            if group.max_instances_per_host and \
                    n >= group.max_instances_per_host:
                return False
        return True

    def _place(self, iid, used, gcount, good, later, avoid=()):
        """A target for ``iid``: the planned one when it still fits, else
        the best fit (fewest free vCPUs that fit), maintained first; never
        one of the hosts in ``avoid``."""
        source = (self.servers.get(iid) or {}).get('host')
        planned = (self.planned.get((iid, source)) or {}).get('target')
        if planned and planned not in avoid and \
                (planned in good or planned in later) and \
                self._fits(iid, planned, used, gcount):
            return planned
        for candidates in (good, later):
            best = None
            for name in candidates:
                if name in avoid or not self._fits(iid, name, used, gcount):
                    continue
                free = self.capacity[name][0] - used.get(name, (0,))[0]
                if best is None or free < best[0]:
                    best = (free, name)
            if best:
                return best[1]
        return None

    def _occupied(self, hostname):
        return bool(self.wf.cloud.servers(host=hostname))

    def _source_down(self, hostname):
        """True while nova-compute on ``hostname`` is down: its moves wait
        (real Nova puts a server moved from a down compute in ERROR), at
        most ``[workflow] migration_timeout`` seconds, then the run fails
        with nothing moved from it."""
        svc = self.services.get(hostname) or {}
        if svc.get('state', 'up') == 'up':
            self.down_since.pop(hostname, None)
            return False
        if hostname not in self.down_since:
            self.down_since[hostname] = time.monotonic()
            self.wf._decision('nova-compute on %s is down: its moves wait '
                              'until it is up' % hostname, host=hostname)
        elif time.monotonic() - self.down_since[hostname] > \
                CONF.workflow.migration_timeout and \
                hostname not in self.gave_up:
            self.gave_up.add(hostname)
            self.failures.append(
                'nova-compute stayed down on %s for %s seconds; nothing '
                'more was moved from it' % (hostname,
                                            CONF.workflow.migration_timeout))
        return True

    # --- starting hosts ------------------------------------------------------
    def _in_progress(self):
        return [h for h in self.started
                if self.hstate.get(h) in (H_STARTING, H_EMPTYING, H_DOWN)]

    def _targeted(self, hostname):
        return bool(self.reserved.get(hostname))

    def _try_start(self, hostname, resume=False):
        """Start emptying ``hostname`` if all its instances fit now."""
        if self._targeted(hostname):
            return False
        on_host = [self.servers[i] for i in self.on_host.get(hostname, ())
                   if i in self.servers]
        if not resume:
            # The model first: a host whose instances do not fit now is
            # not worth a read of Nova.
            if self._place_all(hostname, on_host, keep=False) is None:
                return False
            # Nova is the truth for what is on the host.
            on_host = self.wf.cloud.servers(host=hostname)
            for srv in on_host:
                self._set_server(srv)
        placed = self._place_all(hostname, on_host)
        if placed is None:
            return False
        jobs = {}
        for srv in on_host:
            job = _Job(srv['id'], srv, hostname)
            if srv['id'] in placed:
                job.target = placed[srv['id']]
                self.reserved.setdefault(job.target, []).append(srv['id'])
            else:
                job.phase = OWN     # being deleted: wait until it is gone
                job.action = 'deleted'
                job.deadline = timeutils.after(
                    CONF.workflow.own_action_timeout)
            jobs[srv['id']] = job
        self.jobs[hostname] = jobs
        self.started.append(hostname)
        self.rechecked = False
        if resume:
            self._begin_host(hostname, jobs)
            self._resume_jobs(hostname, jobs)
            self.hstate[hostname] = H_EMPTYING
            return True
        # Disabling the service and the rows are a worker's (many hosts
        # start at once); the jobs are stepped once it is done.
        self.hstate[hostname] = H_STARTING
        future = self.spool.submit(self._begin_host, hostname, jobs)
        future.add_done_callback(self._completed)
        self.starts[future] = hostname
        return True

    def _place_all(self, hostname, on_host, keep=True):
        """{iid: target} for every live instance of ``on_host`` (counted
        in the usage when ``keep``), or None when one fits nowhere."""
        used, gcount = self._usage()
        good, later = self._targets()
        later = [h for h in later if h != hostname]
        busy_free = not self._in_progress()
        placed = {}
        for srv in sorted(on_host, key=lambda s: self._size(s['id']),
                          reverse=True):
            if not flow.alive(srv):
                continue
            # A host not yet maintained is a target only where the plan
            # says so, or when nothing else is under way.
            move = self.planned.get((srv['id'], hostname)) or {}
            allowed = later if (move.get('again') or busy_free) else []
            target = self._place(srv['id'], used, gcount, good, allowed)
            if target is None:
                break
            placed[srv['id']] = target
            self._count(used, gcount, target, srv['id'], 1)
        else:
            if keep:
                return placed
        for iid, placed_on in placed.items():
            self._count(used, gcount, placed_on, iid, -1)
        return None if len(placed) < sum(
            1 for srv in on_host if flow.alive(srv)) else placed

    def _begin_host(self, hostname, jobs):
        row = self.wf._host(hostname)
        self.wf._disable(row)
        with self.wf.transaction():
            db_api.host_update(self.sid, hostname, {
                'state': st.HOST_EMPTYING,
                'started_at': row['started_at'] or timeutils.utcnow()})
            self.wf.mark_step(st.STEP_DISABLE_COMPUTE, hostname, None,
                              'done')
        self.wf._decision(
            'host %s (wave %s) started: %s' % (
                hostname, self.wave_of.get(hostname),
                '; '.join('%s -> %s' % (j.iid, j.target or '-')
                          for j in list(jobs.values())) or 'already empty'),
            host=hostname)

    def _resume_jobs(self, hostname, jobs):
        """After a restart: keep the events already sent and moves under
        way (the steps say so; the rows of a session without steps)."""
        self.wf._finish_interrupted(hostname)
        if self.wf.steps.host_steps(hostname):
            return self._resume_from_steps(hostname, jobs)
        rows = {r['instance_id']: r
                for r in db_api.instances_get(self.sid, host=hostname)}
        for iid, job in jobs.items():
            row = rows.get(iid)
            if row is None or job.phase != WAIT_SLOT:
                continue
            if row['action_state'] == st.ACTION_IN_PROGRESS and \
                    (row['details'] or {}).get('move_from') == hostname:
                self._resume_move(iid, job, row['action'])
            elif row['event'] in (st.PREPARE_MAINTENANCE,
                                  st.PLANNED_MAINTENANCE) and \
                    row['reply_at']:
                job.phase = NOTIFIED
                job.event = row['event']
                job.event_id = row['event_id']
                job.notified = row['event_at'] or timeutils.utcnow()
                job.reply_at = row['reply_at']
                job.act_at = row['actions_at'] or row['reply_at']
                self._hold(iid)

    def _resume_move(self, iid, job, action):
        """A move under way when the engine stopped is watched again (an
        OWN_ACTION waits for its manager anew); it holds its group."""
        job.action = action
        job.resume = flow.busy(job.server)
        if action == st.OWN_ACTION:
            job.phase = OWN
            job.deadline = timeutils.after(CONF.workflow.own_action_timeout)
        else:
            job.phase = READY
        self._hold(iid)

    def _resume_from_steps(self, hostname, jobs):
        """After a restart, from the host's steps: a move RUNNING is
        watched again (not started again), an instance whose event was
        sent (its notify step DONE) waits for the reply to that event."""
        book = self.wf.steps
        for iid, job in jobs.items():
            if job.phase != WAIT_SLOT:
                continue
            move = book.get(st.STEP_MOVE, hostname, iid)
            note = book.get(st.STEP_NOTIFY_INSTANCE, hostname, iid)
            if move is not None and move['state'] == st.STEP_RUNNING:
                self._resume_move(iid, job,
                                  (move['result'] or {}).get('action') or
                                  (move['inputs'] or {}).get('action'))
            elif note is not None and note['state'] == st.STEP_DONE and \
                    (move is None or move['state'] == st.STEP_PENDING) and \
                    (note['result'] or {}).get('reply_at'):
                sent = note['result']
                job.phase = NOTIFIED
                job.event = sent.get('event')
                job.event_id = sent.get('event_id')
                job.notified = note['finished_at'] or timeutils.utcnow()
                job.reply_at = plan_steps.parse(sent['reply_at'])
                job.act_at = plan_steps.parse(sent.get('actions_at')) or \
                    job.reply_at
                self._hold(iid)

    def _start_hosts(self):
        progress = self._in_progress()
        pending = [h for h in self.order if self.hstate.get(h) == H_PENDING]
        if not pending:
            return
        while self._resume:
            name = self._resume.pop(0)
            if self.hstate.get(name) == H_PENDING and \
                    self.wf.may_start(name):
                self._try_start(name, resume=True)
        progress = self._in_progress()
        # Hosts of earlier waves first; a later host may start only when
        # every earlier one has.
        for name in pending:
            if self.hstate.get(name) != H_PENDING:
                continue
            if not self.wf.may_start(name):
                continue
            if self.max_hosts and len(progress) >= self.max_hosts:
                return
            if len(self.starts) >= START_WORKERS * 2:
                # Enough being started: the next pass starts more (events
                # and moves are not queued behind host starts).
                return
            # A host that did not fit is tried again only once something
            # changed (room freed, a host done, the groups re-read).
            if self.tried.get(name) == self.epoch or \
                    not self._try_start(name):
                self.tried[name] = self.epoch
                if progress:
                    return
                # Nothing in progress and the head does not fit: try the
                # others rather than stop.
                continue
            progress.append(name)

    # --- budgets -------------------------------------------------------------
    def _expire(self):
        now = time.monotonic()
        for gid, items in list(self.recovering.items()):
            keep = [(until, iid) for until, iid in items if until > now]
            if keep:
                self.recovering[gid] = keep
            else:
                del self.recovering[gid]

    def _slot_free(self, iid):
        group = self._group(iid)
        if group is None:
            return True
        used = len(self.holders.get(group.group_id, ())) + \
            len(self.recovering.get(group.group_id, ()))
        if used >= max(1, group.max_impacted_members):
            return False
        used += self._impacted_elsewhere().get(group.group_id, 0)
        return used < max(1, group.max_impacted_members)

    def _impacted_elsewhere(self):
        """{group_id: members} that other live sessions are moving, or
        moved less than the group's ``recovery_time`` ago: a group's
        budget is shared by every session at once. Read from the
        database at most every CONSTRAINTS_REFRESH seconds, and only
        while a member waits for its budget.

        Bounded: a move recorded in progress for longer than ``[workflow]
        migration_timeout`` (its session fails it, or its engine is gone)
        holds no budget here, so no session waits for another for good.
        """
        now = time.monotonic()
        if self.elsewhere_at is not None and \
                now - self.elsewhere_at < CONSTRAINTS_REFRESH:
            return self.elsewhere
        self.elsewhere_at = now
        utcnow = timeutils.utcnow()
        longest = max([g.recovery_time for g in self.groups.values()] + [0])
        counts = {}
        for row in db_api.instances_moving_elsewhere(
                self.sid, timeutils.after(-longest - 1, utcnow)):
            group = self._group(row['instance_id'])
            if group is None:
                continue
            # A database may keep whole seconds: a second more of
            # recovery, never less.
            recovery = group.recovery_time + 1 if group.recovery_time else 0
            if row['action_state'] == st.ACTION_DONE and \
                    timeutils.after(recovery,
                                    row['updated_at'] or utcnow) <= utcnow:
                continue
            if row['action_state'] == st.ACTION_IN_PROGRESS and \
                    timeutils.after(CONF.workflow.migration_timeout,
                                    row['updated_at'] or utcnow) <= utcnow:
                continue
            counts[group.group_id] = counts.get(group.group_id, 0) + 1
        self.elsewhere = counts
        return counts

    def _hold(self, iid):
        group = self._group(iid)
        if group is not None:
            self.holders.setdefault(group.group_id, set()).add(iid)

    def _release(self, iid, recover=True):
        for gid, iids in self.holders.items():
            if iid in iids:
                iids.discard(iid)
                group = self.groups.get(gid)
                rt = group.recovery_time if group else 0
                if recover and rt > 0:
                    self.recovering.setdefault(gid, []).append(
                        (time.monotonic() + rt, iid))
                return

    # --- one instance --------------------------------------------------------
    def _notify(self, job):
        projects = self.projects
        project = projects.get(job.project_id)
        constraint = self.constraints.get(job.iid) or {}
        lead = float(constraint.get('lead_time') or 0)
        self._hold(job.iid)
        if project is None or not project['has_manager']:
            job.phase = READY
            job.act_at = None
            return
        event = (st.PLANNED_MAINTENANCE if self.any_maintained
                 else st.PREPARE_MAINTENANCE)
        window = max(base.reply_window(event, {'options': self.options}),
                     lead)
        now = timeutils.utcnow()
        job.notified = now
        job.act_at = timeutils.after(lead, now)
        job.event = event
        job.phase = NOTIFYING
        # Sent by a worker: a pass over the jobs is not held up by the
        # notifications (database rows and HTTP) of many instances.
        future = self.npool.submit(self._send_event, job, event,
                                   int(window + 0.999))
        future.add_done_callback(self._completed)
        self.notes[future] = job

    def _send_event(self, job, event, window):
        row = {'instance_id': job.iid, 'project_id': job.project_id}
        kwargs = dict(allowed_actions=base.ALL_ACTIONS, window=window,
                      session=self.session, actions_at=job.act_at)
        try:
            return self._notify_and_mark(job, event, row, kwargs)
        except exception.NotFound:
            db_api.instance_create_or_update(self.sid, job.iid, {
                'project_id': job.project_id, 'host': job.host,
                'instance_name': job.server.get('name')})
            return self._notify_and_mark(job, event, row, kwargs)

    def _notify_and_mark(self, job, event, row, kwargs):
        """The event, and its notify step done with what a restart needs
        (the event's id and times), in one transaction."""
        wf = self.wf
        with wf.transaction():
            sent = wf.notify_instance(event, row, **kwargs)
            if wf.steps.state(st.STEP_NOTIFY_INSTANCE, job.host,
                              job.iid) == st.STEP_DONE:
                # A second event for the instance (it came back).
                wf.mark_step(st.STEP_NOTIFY_INSTANCE, job.host, job.iid,
                             'again')
            wf.mark_step(st.STEP_NOTIFY_INSTANCE, job.host, job.iid, 'done',
                         values={'result': plan_steps.event_result(
                             sent, job.iid, job.act_at)},
                         create={'project_id': job.project_id})
        return sent

    def _sent(self, future, job):
        """A worker sent the event of ``job``: it waits for the reply to
        that event; a failed event fails the run."""
        try:
            sent = future.result()
            job.reply_at = sent.reply_at
            job.event_id = sent.event_ids[job.iid]
            job.phase = NOTIFIED
            self.new_notified.add(job.iid)
        except Exception as e:  # noqa - a failed event fails the run
            LOG.exception('Event for %s failed', job.iid)
            self.failures.append('could not send %s for instance %s: '
                                 '%s' % (job.event, job.iid, e))
            self._release(job.iid, recover=False)
            self._unreserve(job)
            job.phase = DONE

    def _read_rows(self, emptying):
        """The rows of the jobs of the ``emptying`` hosts that may act in
        this pass (replies, and the details a move keeps), in one read;
        read again only after a reply came (a wake-up) or for jobs told
        since the last read."""
        mark = self.wf.runner.mark(st.WAKE_REPLY)
        if mark != self.reply_mark:
            wanted = [j.iid for h in emptying
                      for j in self.jobs[h].values()
                      if j.phase in (NOTIFIED, READY)]
        else:
            wanted = [i for i in self.new_notified if i not in self.rows]
        self.new_notified = set()
        if mark != self.reply_mark or wanted:
            rows = {r['instance_id']: r for r in db_api.instances_get(
                self.sid, instance_ids=wanted)} if wanted else {}
            if mark != self.reply_mark:
                self.rows = rows
            else:
                self.rows.update(rows)
            self.reply_mark = mark

    def _on_notified(self, job, now):
        """A job told of its event: once it is answered (or its reply
        window passed) and its ``lead_time`` passed, its move is decided
        (READY), or it is refused (DONE). Returns the seconds until it
        may act while it waits, else None."""
        row = self.rows.get(job.iid) or {}
        answered = self._answers(job, row)
        ready_at = job.act_at
        if not answered:
            ready_at = max(job.act_at, job.reply_at)
            if now >= ready_at:
                # Silent until now: look once more, with a lock (a reply
                # stored this moment counts; a later one is refused as
                # late).
                try:
                    row = self.wf.instance_reply_final(job.iid)
                except exception.NotFound:
                    row = {}
                self.rows[job.iid] = row
                if self._answers(job, row):
                    ready_at = job.act_at
        if now < ready_at:
            return (ready_at - now).total_seconds()
        action = self._decide(job, row)
        if action is None:
            self._refused(job)
            return None
        if action == SKIP_HOST:
            self._refused(job, why=(
                'instance %s must move by its manager\'s own action, but '
                'the manager was silent (silent_own_action skip_host)'
                % job.iid))
            return None
        job.action = action
        job.phase = READY
        return None

    @staticmethod
    def _answers(job, row):
        """The instance's row holds a reply to the event sent for ``job``
        (not to an earlier or a later one)."""
        if not row or not row.get('reply'):
            return False
        if job.event_id:
            return row.get('event_id') == job.event_id
        return row.get('event') == job.event

    def _decide(self, job, row):
        """The move of ``job`` once answered (or silent)."""
        wf = self.wf
        inst = nfv_plan.instance_of(job.server,
                                    self.constraints.get(job.iid),
                                    None)
        planned_kind, warn = planner.choose_move_kind(
            inst, nfv_plan.durations_of(self.options))
        project = self.projects.get(job.project_id)
        if row and not self._answers(job, row):
            row = None
        reply = (row or {}).get('reply')
        event = getattr(job, 'event', None) or (row or {}).get('event')
        action = note = None
        if project and project['has_manager']:
            if reply and event and reply == st.nack(event):
                return None
            if reply and event and reply == st.ack(event):
                chosen = (row or {}).get('action')
                if chosen in st.INSTANCE_ACTIONS:
                    action = chosen
                else:
                    note = 'no instance_action in the reply'
            else:
                note = 'project %s did not answer %s' % (job.project_id,
                                                         event)
        else:
            note = 'project %s has no manager' % job.project_id
        if action is None:
            action = planned_kind
            if action == st.OWN_ACTION and not (project and
                                                project['has_manager']):
                action = CONF.workflow.default_migration_type
            elif action == st.OWN_ACTION and not reply:
                # Its manager was asked to act and was silent: nobody
                # would move it.
                if wf._silent_own_action() == flow.SILENT_OWN_SKIP_HOST:
                    return SKIP_HOST
                action, warn = planner.choose_move_kind(
                    nfv_plan.instance_of(
                        dict(job.server), dict(
                            self.constraints.get(job.iid) or {},
                            migration_type=None), None),
                    nfv_plan.durations_of(self.options))
                warn = ('its constraint says OWN_ACTION but its manager '
                        'was silent: silent_own_action move') + (
                    '; ' + warn if warn else '')
            note += ': %s (its constraints%s)' % (
                action, '; ' + warn if warn else '')
        vm_state = (job.server.get('vm_state') or '').lower()
        if action == st.LIVE_MIGRATE and vm_state and \
                vm_state not in flow.LIVE_VM_STATES:
            note = ((note + '; ') if note else '') + (
                'it is %s, so it is cold-migrated' % vm_state)
            action = st.MIGRATE
        if note:
            wf._decision('instance %s on %s: %s' % (job.iid, job.host, note),
                         instance_id=job.iid, project_id=job.project_id,
                         host=job.host)
        return action

    def _start_own(self, job, hostname):
        """``job``'s manager moves it (OWN_ACTION): recorded, then watched
        (:meth:`_check_own`) until ``[workflow] own_action_timeout``."""
        job.phase = OWN
        job.deadline = timeutils.after(CONF.workflow.own_action_timeout)
        with self.wf.transaction():
            db_api.instance_update(self.sid, job.iid, {
                'action': st.OWN_ACTION,
                'action_state': st.ACTION_IN_PROGRESS,
                'details': dict(
                    (self.rows.get(job.iid) or {}).get('details') or {},
                    move_from=hostname)})
            self._mark_move(job, 'start')

    def _start_move(self, job, used, gcount, good, later):
        # The target must still be right (an own action or a new server
        # may have taken its room or broken a group's placement).
        if job.target:
            self._count(used, gcount, job.target, job.iid, -1)
        if not job.target or job.target not in good + later or \
                not self._fits(job.iid, job.target, used, gcount):
            new = self._place(job.iid, used, gcount, good, later,
                              avoid={job.host} | job.failed_targets)
            if job.target and job.iid in self.reserved.get(job.target, ()):
                self.reserved[job.target].remove(job.iid)
            if new is None:
                job.target = None
                return False
            job.target = new
            self.reserved.setdefault(new, []).append(job.iid)
        self._count(used, gcount, job.target, job.iid, 1)
        details = dict((self.rows.get(job.iid) or {}).get('details') or {},
                       move_from=job.host)
        values = {'action': job.action, 'details': details,
                  'action_state': st.ACTION_IN_PROGRESS}
        if not job.resume:
            values.update(action_message=None, action_attempts=0)
        row = dict(self.rows.get(job.iid) or {
            'instance_id': job.iid, 'project_id': job.project_id,
            'instance_name': job.server.get('name'), 'action_attempts': 0},
            **values)
        job.phase = MOVING
        # The rows, the move and its INSTANCE_ACTION_DONE are the worker's:
        # the loop is not held up by the database and HTTP of many moves.
        future = self.pool.submit(self._run_move, job, row, values)
        future.add_done_callback(self._completed)
        self.moves[future] = job
        return True

    def _run_move(self, job, row, values):
        """In a worker: record the move, run it, record its outcome.

        Returns (the move's future, failures as sentences).
        """
        wf = self.wf
        message = '%s of instance %s from %s to %s %s' % (
            job.action, job.iid, job.host, job.target,
            'watched again' if job.resume else 'started')
        history = dict(project_id=job.project_id, host=job.host,
                       state=st.ACTION_IN_PROGRESS)
        with wf.transaction():
            try:
                wf.update_instance(job.iid, values, st.EVENT_ACTION,
                                   message, **history)
            except exception.NotFound:
                db_api.instance_create_or_update(self.sid, job.iid, dict(
                    values, project_id=job.project_id, host=job.host,
                    instance_name=job.server.get('name')))
                wf.record(st.EVENT_ACTION, message, instance_id=job.iid,
                          **history)
            # A move watched again is the same attempt; a new request to
            # Nova (a first one, another target) is a new one.
            self._mark_move(job, 'start', bump_attempt=not job.resume)
        moved = concurrent.futures.Future()
        try:
            # Never Nova's choice: it could take room reserved for another
            # instance. A target that failed is replaced by the model's.
            result = self._nova_move(job)
            if self._may_retarget(job, result):
                return RETARGET, result['message']
            moved.set_result(result)
        except Exception as e:  # noqa - reported by _move_finished
            moved.set_exception(e)
        failures = []
        wf._move_finished(job.host, row, job.action, moved, failures)
        return moved, failures

    def _nova_move(self, job):
        """The move of ``job`` in Nova (in a worker), to ``job.target``
        only: never Nova's choice, it could take room reserved for another
        instance. The server is not read before the request: the model
        knows its host (it was listed this pass); a retry reads it."""
        cloud = self.wf.cloud
        if job.resume:
            result = cloud.wait_for_move(job.iid, job.server['host'],
                                         job.action)
            result.setdefault('attempts', 0)
            if result['ok']:
                return result
        return cloud.move(job.iid, job.action, host=job.target,
                          source=job.host)

    def _mark_move(self, job, event, **kwargs):
        """The move step of ``job`` (in the caller's transaction)."""
        result = {'action': job.action, 'target': job.target}
        return self.wf.mark_step(
            st.STEP_MOVE, job.host, job.iid, event,
            values={'result': result}, create={
                'project_id': job.project_id,
                'inputs': {'target': job.target, 'action': job.action}},
            **kwargs)

    def _may_retarget(self, job, result):
        """Whether a failed move to ``job.target`` may go to another target
        of the model's choosing: the instance is still on its host, whole
        (not in ERROR), nothing is stopping, and fewer than
        ``[workflow] migration_retries`` targets failed already."""
        if result['ok'] or not job.target or self.cancelled.is_set() or \
                len(job.failed_targets) >= CONF.workflow.migration_retries:
            return False
        srv = self.wf.cloud.server(job.iid)
        return (srv is not None and srv['host'] == job.host and
                (srv.get('vm_state') or '').lower() != 'error' and
                not srv.get('task_state'))

    def _move_finished(self, future, job):
        try:
            moved, failures = future.result()
        except Exception as e:  # noqa - a bug in recording: fail the move
            LOG.exception('Move of %s failed', job.iid)
            moved, failures = None, ['%s of instance %s failed: %s' % (
                job.action, job.iid, e)]
        if moved == RETARGET:
            reason = failures
            self._unreserve(job)
            job.failed_targets.add(job.target)
            self.wf._decision(
                '%s of instance %s from %s to %s failed: %s; it is placed '
                'again on another host (never where Nova chooses: that '
                'room may be reserved for another instance)'
                % (job.action, job.iid, job.host, job.target, reason),
                instance_id=job.iid, project_id=job.project_id,
                host=job.host)
            job.target = None
            job.resume = False
            job.phase = READY
            return
        self._unreserve(job)
        self._release(job.iid)
        if failures:
            self.failures.extend(failures)
            job.phase = DONE
            return
        self._set_server(dict(job.server,
                              host=moved.result().get('host') or job.target))
        job.phase = DONE

    def _check_own(self, job):
        srv = self.wf.cloud.server(job.iid)
        if srv is not None and srv['host'] == job.host:
            if timeutils.utcnow() >= job.deadline:
                message = ('still on %s after %s s (%s)'
                           % (job.host, CONF.workflow.own_action_timeout,
                              job.action))
                with self.wf.transaction():
                    db_api.instance_update(self.sid, job.iid, {
                        'action_state': st.ACTION_FAILED,
                        'action_message': message})
                    self.wf.mark_step(st.STEP_MOVE, job.host, job.iid,
                                      'fail', values={'message': message})
                self.failures.append('instance %s %s' % (job.iid, message))
                self._unreserve(job)
                self._release(job.iid, recover=False)
                job.phase = DONE
            return
        where = 'now on %s' % srv['host'] if srv else 'deleted'
        values = {'action_state': st.ACTION_DONE, 'action_message': where}
        if srv:
            values['host'] = srv['host']
            self._set_server(srv)
        else:
            self._drop_server(job.iid)
        with self.wf.transaction():
            try:
                db_api.instance_update(self.sid, job.iid, values)
            except exception.NotFound:
                pass
            self.wf.mark_step(st.STEP_MOVE, job.host, job.iid, 'done',
                              values={'message': where, 'result': {
                                  'action': job.action,
                                  'host': srv['host'] if srv else None}})
            self.wf.record(st.EVENT_ACTION, 'instance %s left %s (%s): %s'
                           % (job.iid, job.host, job.action, where),
                           instance_id=job.iid, host=job.host,
                           state=st.ACTION_DONE)
        self._unreserve(job)
        self._release(job.iid)
        job.phase = DONE
        self.resync = True

    def _unreserve(self, job):
        if job.target and job.iid in self.reserved.get(job.target, ()):
            self.reserved[job.target].remove(job.iid)
            self._count(self.used, self.gcount, job.target, job.iid, -1)
            self.epoch += 1

    def _refused(self, job, why=None):
        """A NACK: follow nack_policy. With ``why``: the host is put off
        for that reason whatever nack_policy says."""
        wf = self.wf
        self._release(job.iid, recover=False)
        if why is None and wf._nack_policy() == flow.NACK_FAIL:
            self.failures.append('project %s refused %s for instance %s '
                                 '(nack_policy is fail)'
                                 % (job.project_id, job.event, job.iid))
            job.phase = DONE
            return
        hostname = job.host
        for other in self.jobs[hostname].values():
            if other.phase in (WAIT_SLOT, NOTIFIED, READY):
                self._unreserve(other)
                if other is not job:
                    self._release(other.iid, recover=False)
                other.phase = DONE
        self.skip[hostname] = why or (
            'project %s refused %s for instance %s'
            % (job.project_id, job.event, job.iid))

    # --- hosts ---------------------------------------------------------------
    def _started(self, future, hostname):
        """A host's start (its disabling, its rows) is done: its jobs are
        stepped from now on; a failed start fails the run."""
        try:
            future.result()
        except Exception as e:  # noqa - a failed start fails the run
            LOG.exception('Starting %s failed', hostname)
            self.failures.append('could not start host %s: %s'
                                 % (hostname, e))
            for job in self.jobs.get(hostname, {}).values():
                self._unreserve(job)
                job.phase = DONE
            self.hstate[hostname] = H_DONE
            return
        self.hstate[hostname] = H_EMPTYING
        # Read the computes' state again before its first move.
        self.constraints_at = 0

    def _host_emptied(self, hostname):
        jobs = self.jobs.get(hostname, {})
        if any(j.phase != DONE for j in jobs.values()):
            return
        if not self.wf.may_start(hostname):
            # No host goes down while a pause or its skip is requested.
            return
        jobs.clear()
        if hostname in self.skip:
            return self._skip_host(hostname)
        left = self.wf.cloud.servers(host=hostname)
        if left:
            # Something came in before the host was disabled: move it too.
            for srv in left:
                if srv['id'] in jobs and jobs[srv['id']].phase == DONE and \
                        self.failures:
                    continue
                self._set_server(srv)
                used, gcount = self._usage()
                good, later = self._targets()
                job = _Job(srv['id'], srv, hostname)
                job.target = self._place(srv['id'], used, gcount, good,
                                         later, avoid=hostname)
                if job.target:
                    self.reserved.setdefault(job.target, []).append(
                        srv['id'])
                    self._count(used, gcount, job.target, srv['id'], 1)
                jobs[srv['id']] = job
            return
        self.hstate[hostname] = H_DOWN
        future = self.hpool.submit(self._maintain, hostname)
        future.add_done_callback(self._completed)
        self.downs[future] = hostname

    def _skip_host(self, hostname):
        wf = self.wf
        wf._defer_or_skip(hostname, self.skip.pop(hostname))
        row = wf._host(hostname)
        # A SKIPPED row is no target (see _targets), though done here.
        self.session_hosts[hostname] = row
        if row['state'] != st.HOST_SKIPPED:
            # Deferred: start again after the others.
            self.order.remove(hostname)
            self.order.append(hostname)
            self.hstate[hostname] = H_PENDING
        else:
            self.hstate[hostname] = H_DONE
        if row['disabled_by_fenix']:
            wf.cloud.enable_compute(hostname)
            db_api.host_update(self.sid, hostname,
                               {'disabled_by_fenix': False})
        if row['state'] != st.HOST_SKIPPED:
            db_api.host_update(self.sid, hostname,
                               {'state': st.HOST_PENDING})
        self.jobs.pop(hostname, None)

    def _maintain(self, hostname):
        wf = self.wf
        if wf._occupied(hostname):
            raise exception.WorkflowError(
                reason='host %s is not empty: not maintained' % hostname)
        wf._maintain(wf._host(hostname))

    def _maintained(self, future, hostname):
        try:
            future.result()
        except Exception as e:  # noqa - reported as the session's error
            LOG.warning('Maintenance of %s failed: %s', hostname, e)
            self.failures.append(str(e))
            self.hstate[hostname] = H_DONE
            return
        self.hstate[hostname] = H_DONE
        self.any_maintained = True
        self.jobs.pop(hostname, None)

    # --- the loop ------------------------------------------------------------
    def run(self):
        self._resume = []
        self.skip = {}
        self.resync = False
        self.rechecked = False
        self.down_since = {}   # hostname -> when its compute was seen down
        self.gave_up = set()
        # Where the session stands is in its steps, as the database has
        # them now (another engine may have run it).
        self.wf.steps.reload()
        self._load_model()
        self._load_hosts()
        workers = self.max_moves or 64
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix='nfv-move-%s' % self.sid[:8])
        self.hpool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, self.max_hosts or 64),
            thread_name_prefix='nfv-host-%s' % self.sid[:8])
        self.npool = concurrent.futures.ThreadPoolExecutor(
            max_workers=NOTIFY_WORKERS,
            thread_name_prefix='nfv-event-%s' % self.sid[:8])
        self.spool = concurrent.futures.ThreadPoolExecutor(
            max_workers=START_WORKERS,
            thread_name_prefix='nfv-start-%s' % self.sid[:8])
        for name, state in list(self.hstate.items()):
            if state == H_DOWN:
                future = self.hpool.submit(self._maintain, name)
                future.add_done_callback(self._completed)
                self.downs[future] = name
                self.started.append(name)
        try:
            self._loop()
        finally:
            self.cancelled.set()
            self.spool.shutdown(wait=True)
            self.npool.shutdown(wait=True)
            self.pool.shutdown(wait=True)
            self.hpool.shutdown(wait=True)
        if self.failures:
            raise exception.WorkflowError(reason='; '.join(self.failures))

    def _in_flight(self):
        """Anything handed to a worker and not collected yet."""
        return bool(self.moves or self.downs or self.notes or self.starts)

    def _skip_requested(self):
        """Hosts an admin asked to skip: their pending jobs are cancelled
        (no event, no move); once nothing of a host is in flight (moves
        from it, its start or its maintenance) it is skipped."""
        skips = self.wf.skip_requests()
        if not skips:
            return
        starting = set(self.starts.values())
        going_down = set(self.downs.values())
        for hostname in sorted(skips):
            jobs = self.jobs.get(hostname) or {}
            for job in jobs.values():
                if job.phase in (WAIT_SLOT, NOTIFIED, READY, OWN):
                    self._unreserve(job)
                    self._release(job.iid, recover=False)
                    job.phase = DONE
            if hostname in starting or hostname in going_down or any(
                    j.phase in (NOTIFYING, MOVING) for j in jobs.values()):
                continue
            self.wf.skip_host(hostname, skips[hostname])
            self.jobs.pop(hostname, None)
            if hostname in self.hstate:
                self.hstate[hostname] = H_DONE
                # SKIPPED: no target (see _targets), though done here.
                self.session_hosts[hostname] = self.wf._host(hostname)

    def _completed(self, future):
        """A worker's future is done (in the worker's thread): queue it
        and wake the loop."""
        self.completed.append(future)
        self.wf._wake(future)

    def _collect(self):
        done = []
        while self.completed:
            done.append(self.completed.popleft())
        if not done:
            return
        # Room or hosts may have changed: hosts that did not fit may be
        # tried again.
        self.epoch += 1
        for future in [f for f in done if f in self.starts]:
            self._started(future, self.starts.pop(future))
        for future in [f for f in done if f in self.notes]:
            self._sent(future, self.notes.pop(future))
        for future in [f for f in done if f in self.moves]:
            self._move_finished(future, self.moves.pop(future))
        for future in [f for f in done if f in self.downs]:
            self._maintained(future, self.downs.pop(future))

    def _loop(self):
        wf = self.wf
        poll = CONF.workflow.nova_poll_interval
        while True:
            # Wake-ups during the pass (replies, moves ending) end the
            # wait below at once.
            mark = wf.runner.mark()
            self._collect()
            if self.failures:
                # Let what runs finish (bounded by the move time-outs),
                # start nothing new.
                if not self._in_flight():
                    return
                wf.runner.wait(poll, since=mark)
                continue
            if wf.held():
                # A pause: the same, then give way (HoldRequested); the
                # next run resumes from the rows.
                if not self._in_flight():
                    wf.safe_point()
                wf.runner.wait(poll, since=mark)
                continue
            # Bursts of wake-ups (moves ending together, replies) are
            # handled in one pass: at most one pass per MIN_PASS seconds.
            since = time.monotonic() - self.last_pass
            if since < MIN_PASS:
                time.sleep(MIN_PASS - since)
            self.last_pass = time.monotonic()
            self._collect()
            refreshed = self._refresh_constraints()
            self._expire()
            if self.resync:
                self.resync = False
                self.servers.update({s['id']: s for s in wf.cloud.servers()
                                     if flow.alive(s)})
                self._recount()
            if refreshed or self.projects is None:
                self.projects = {p['project_id']: p
                                 for p in db_api.projects_get(self.sid)}
            self._skip_requested()
            self._start_hosts()
            wake_at = self._step()
            for hostname in list(self.started):
                if self.hstate.get(hostname) == H_EMPTYING:
                    self._host_emptied(hostname)
            self._collect()
            if all(self.hstate.get(h) == H_DONE for h in self.hstate) \
                    and not (self.moves or self.downs or self.notes or
                             self.starts):
                return
            if self._stalled():
                continue
            wait = IDLE_WAIT if wake_at is None else min(IDLE_WAIT, wake_at)
            if self.n_own:
                wait = min(wait, max(poll, OWN_POLL))
            if self.recovering:
                soonest = min(u for items in self.recovering.values()
                              for u, _i in items) - time.monotonic()
                wait = min(wait, soonest)
            if self.n_ready:
                wait = min(wait, poll)
            wf.runner.wait(max(wait, 0.01), since=mark)

    def _stalled(self):
        """Whether nothing in flight can make progress any more: the
        model is read again once (returns True: pass again), then the
        run fails. Returns False while progress is possible."""
        # Matters only when nothing is in flight.
        open_jobs = [] if self.moves or self.downs else [
            j for jobs in self.jobs.values()
            for j in jobs.values() if j.phase != DONE]
        homeless = [j for j in open_jobs
                    if j.phase == READY and j.target is None]
        if homeless and not self.moves and not self.downs and \
                not self.recovering and not self.elsewhere and \
                all(j.phase == WAIT_SLOT or
                    (j.phase == READY and j.target is None)
                    for j in open_jobs):
            # Nothing in flight can free room or a group's budget: the
            # members without a target hold their budgets for good and
            # the others wait for them.
            if not self.rechecked:
                self.rechecked = True
                self._reload_cloud()
                return True
            raise exception.WorkflowError(
                reason='instance(s) %s fit on no available host any '
                       'more%s' % (
                           ', '.join(sorted(j.iid for j in homeless)),
                           '; %s wait(s) for their group\'s budget '
                           'held by them' % ', '.join(sorted(
                               j.iid for j in open_jobs
                               if j.phase == WAIT_SLOT))
                           if len(homeless) < len(open_jobs) else ''))
        if not self.moves and not self.downs and not open_jobs and \
                not self._in_progress():
            stuck = [h for h in self.order
                     if self.hstate.get(h) == H_PENDING]
            if stuck and not self.rechecked:
                # The model may lag behind Nova (a server that just
                # moved or went): read Nova again and try once more
                # before calling the session stuck.
                self.rechecked = True
                self._reload_cloud()
                return True
            if stuck:
                raise exception.WorkflowError(
                    reason='no instance of host(s) %s fits on the hosts '
                           'available (%s); free capacity or scale in, '
                           'then continue the session'
                           % (', '.join(stuck), ', '.join(
                               sum(self._targets(), [])) or 'none'))
        return False

    def _step(self):
        """Advance every job; returns seconds until the next deadline."""
        now = timeutils.utcnow()
        soonest = None
        emptying = [h for h in self.started
                    if self.hstate.get(h) == H_EMPTYING]
        self._read_rows(emptying)
        n_ready = n_own = 0
        used = gcount = None
        own_due = time.monotonic() - self.own_checked >= OWN_POLL
        if own_due:
            self.own_checked = time.monotonic()
        for hostname in emptying:
            if self.hstate.get(hostname) != H_EMPTYING:
                continue
            jobs = self.jobs[hostname]
            for iid in [i for i, j in jobs.items() if j.phase == DONE]:
                del jobs[iid]
            may_start = self.wf.may_start(hostname)
            for job in list(jobs.values()):
                if job.phase == WAIT_SLOT and may_start and \
                        self._slot_free(job.iid):
                    self._notify(job)
                if job.phase == NOTIFIED:
                    left = self._on_notified(job, now)
                    if left is not None:
                        soonest = left if soonest is None else \
                            min(soonest, left)
                        continue
                    if job.phase != READY:
                        continue
                if job.phase == READY and job.action is None:
                    job.action = self._decide(job, None)
                if job.phase == READY:
                    if job.action == st.OWN_ACTION:
                        self._start_own(job, hostname)
                        continue
                    if self.max_moves and len(self.moves) >= self.max_moves:
                        continue
                    if not may_start or self._source_down(hostname):
                        continue
                    if used is None:
                        used, gcount = self._usage()
                        good, later = self._targets()
                    self._start_move(job, used, gcount, good, later)
                elif job.phase == OWN and own_due:
                    self._check_own(job)
                if job.phase == READY:
                    n_ready += 1
                elif job.phase == OWN:
                    n_own += 1
        self.n_ready, self.n_own = n_ready, n_own
        return soonest
