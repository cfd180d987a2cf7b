# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``default``: the rolling maintenance of SPEC 5 (OPNFV Doctor's case).

One host at a time is emptied and maintained; applications hear about
every step through their manager (VNFM) and choose how their instances
move. The states:

MAINTENANCE
    Discover the hosts (the requested ones, else every nova-compute host)
    and the instances on them (the engine fetched the session's downloads
    before the first step); tell every
    project with a manager (reply window; ``actions_at`` is
    ``maintenance_at``: Fenix never starts earlier); wait
    until every project answered or the deadline passed, and until
    ``maintenance_at``; then decide: an empty host -> START_MAINTENANCE,
    capacity to empty one -> PREPARE_MAINTENANCE, else SCALE_IN.
SCALE_IN
    Ask projects that allow it to scale in; re-read Nova; decide again.
    A round that frees nothing fails, naming what is missing.
PREPARE_MAINTENANCE
    Empty the cheapest host (the planner's ``serial`` policy,
    :mod:`fenix.workflow.serial`, over the model of the cloud). The
    host is disabled before its projects are told; ``actions_at`` is when
    the notice the instances' ``lead_time`` asks for ends, and Fenix waits
    for it even when the projects answered sooner.
START_MAINTENANCE
    ``pre`` plug-ins once; disable nova-compute on every host not yet
    maintained; maintain each empty one (IN_MAINTENANCE, ``host`` and
    per-type plug-ins, MAINTENANCE_COMPLETE, enable); controllers of the
    session after the computes; ``post`` plug-ins after the last host.
PLANNED_MAINTENANCE
    Move the instances of the next host onto maintained hosts.
MAINTENANCE_COMPLETE
    Projects may scale out again.

Decisions of note (all written to the session history):

* A silent project, or one without a manager, gets the default action for
  each instance: its constraint's ``migration_type``, else ``[workflow]
  default_migration_type``. OWN_ACTION is only a default for a project
  that has a manager (nobody else would act on it).
* A NACK follows ``nack_policy`` (session option, else ``[workflow]``):
  ``fail`` fails the session naming the project; ``skip_host`` defers the
  host(s) concerned to the end, and a host refused a second time is
  skipped (left unmaintained, recorded).
* A compute whose nova-compute an operator disabled is skipped when hosts
  were discovered; when the admin named it in ``hosts`` it is maintained
  (it is never a target and never enabled by Fenix).
* Instances move to hosts chosen by the serial policy; if Nova refuses
  that host, the move is tried once more with Nova's scheduler choosing.
* Moves run in parallel up to the ``max_concurrent_migrations`` session
  option (default :data:`DEFAULT_CONCURRENT_MIGRATIONS`).
* The host being emptied in PREPARE_MAINTENANCE is disabled first, so
  that nothing new lands on it.
* ``dry_run`` sessions discover, compute the plan into the session's
  ``plan`` and end without notifying anyone or touching a host.

Every step is safe to run again after an engine restart: the host chosen
is written as steps (:mod:`fenix.workflow.steps`) when it is chosen; the
host being emptied is the one whose move steps are not all over, its
exchange (event, deadline, the id of each project's event) is in its
``notify_project`` steps (an exchange about the whole session is in the
session's ``plan``), a move step RUNNING is watched again, not started,
moves already done are not repeated, plug-in runs already DONE are
skipped.

An admin's pause or host skip (SPEC 3.7) is honoured at the safe points
(:meth:`~fenix.workflow.base.BaseWorkflow.safe_point`): before every
exchange with projects, before a host is chosen, emptied or maintained,
before the ``pre`` and ``post`` plug-ins, and before every move (the
moves already requested from Nova finish first). Waiting for replies and
for ``maintenance_at`` gives way to a pause at once. A continued session
(PUT) asks the projects again (:meth:`restart_step`); a retried one keeps
their answers.
"""
import concurrent.futures
import threading

from oslo_config import cfg
from oslo_log import log as logging

from fenix.common import exception
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.workflow import base
from fenix.workflow import estimate
from fenix.workflow import model
from fenix.workflow import nfv_plan
from fenix.workflow import serial
from fenix.workflow import steps as plan_steps

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

DEFAULT_CONCURRENT_MIGRATIONS = 4
NACK_FAIL = 'fail'
NACK_SKIP_HOST = 'skip_host'
# What an OWN_ACTION instance of a silent manager gets ([workflow]
# silent_own_action, or the session option of that name).
SILENT_OWN_MOVE = 'move'
SILENT_OWN_SKIP_HOST = 'skip_host'
# A host refused this many times is skipped rather than deferred.
MAX_REFUSALS = 2
GONE_STATUSES = ('DELETED', 'SOFT_DELETED')
LIVE_VM_STATES = ('active', 'paused')


def disable_reason(session_id):
    return 'fenix maintenance %s' % session_id


def _alive(server):
    """Not on its way out (a VNFM scaling in deletes instances)."""
    return ((server.get('status') or '').upper() not in GONE_STATUSES and
            server.get('task_state') != 'deleting')


def _busy(server):
    return bool(server.get('task_state')) or \
        (server.get('status') or '').upper() == 'VERIFY_RESIZE'


class DefaultWorkflow(base.BaseWorkflow):
    """The ``default`` workflow plug-in."""

    # --- small helpers ------------------------------------------------------
    def _nack_policy(self):
        return self.options.get('nack_policy') or CONF.workflow.nack_policy

    def _silent_own_action(self):
        return (self.options.get('silent_own_action') or
                CONF.workflow.silent_own_action)

    def _dry_run(self):
        return bool(self.options.get('dry_run'))

    def _plan(self):
        return dict(db_api.session_get(self.session_id).get('plan') or {})

    def _plan_update(self, **values):
        """Set keys of the session's plan (None removes a key)."""
        plan = self._plan()
        for key, value in values.items():
            if value is None:
                plan.pop(key, None)
            else:
                plan[key] = value
        db_api.session_update(self.session_id, {'plan': plan})

    def _decision(self, message, **kwargs):
        self.record(st.EVENT_DECISION, message, **kwargs)

    def _wake(self, *args):
        """Wake the session's loop (a future's done-callback)."""
        wake = getattr(self.runner, 'wake', None)
        if wake:
            wake(st.WAKE_INTERNAL)

    def _host(self, hostname):
        return db_api.host_get(self.session_id, hostname)

    def _computes(self):
        return self.hosts(type=st.COMPUTE)

    def _open_computes(self):
        """Computes still to maintain (neither maintained nor skipped)."""
        return [h for h in self._computes()
                if not h['maintained'] and h['state'] != st.HOST_SKIPPED]

    def _deferred(self):
        return {h['hostname'] for h in self.hosts()
                if (h['details'] or {}).get('deferred')}

    def percent_done(self):
        hosts = [h for h in self.hosts() if h['state'] != st.HOST_SKIPPED]
        if not hosts:
            return 100 if self.session['state'] == st.MAINTENANCE_DONE \
                else 0
        done = sum(1 for h in hosts if h['maintained'])
        return int(100 * done / len(hosts))

    # --- discovery ----------------------------------------------------------
    def _discover(self):
        """Record the session's hosts (once; later calls keep the rows)."""
        requested = []
        for name in self.options.get('requested_hosts') or []:
            if name not in requested:
                requested.append(name)
        services = {s['host']: s for s in self.cloud.compute_services()}
        known = {h['hostname'] for h in self.hosts()}
        names = requested or sorted(h for h in services if h)
        controllers = set(self.cloud.controller_hosts()) if requested \
            else set()
        unknown = [n for n in names
                   if n not in services and n not in controllers]
        if unknown:
            raise exception.WorkflowError(
                reason='requested host(s) %s run neither nova-compute nor '
                       'a controller service known to Nova'
                       % ', '.join(unknown))
        new = []
        for name in names:
            if name in known:
                continue
            svc = services.get(name)
            values = {'hostname': name, 'state': st.HOST_PENDING,
                      'details': {}}
            if svc is None:
                values['type'] = st.CONTROLLER
                new.append(values)
                continue
            values['type'] = st.COMPUTE
            if name in controllers:
                values['details']['controller'] = True
            if svc['status'] == 'disabled':
                ours = (svc.get('disabled_reason') or '') == \
                    disable_reason(self.session_id)
                values['disabled_by_fenix'] = ours
                values['disabled_by_operator'] = not ours
                if not ours and not requested:
                    values['state'] = st.HOST_SKIPPED
                    values['details']['skipped'] = (
                        'nova-compute disabled by an operator (%s)'
                        % (svc.get('disabled_reason') or 'no reason given'))
            new.append(values)
        if new:
            db_api.hosts_create(self.session_id, new)
        for values in new:
            if values.get('disabled_by_operator'):
                if values['state'] == st.HOST_SKIPPED:
                    self._decision(
                        'host %s skipped: %s; name it in hosts to maintain '
                        'it anyway' % (values['hostname'],
                                       values['details']['skipped']),
                        host=values['hostname'])
                else:
                    self._decision(
                        'host %s was disabled by an operator: it is '
                        'maintained as requested, never used as a target '
                        'and left disabled' % values['hostname'],
                        host=values['hostname'])
        if not known:
            computes = [v['hostname'] for v in new
                        if v['type'] == st.COMPUTE]
            others = [v['hostname'] for v in new
                      if v['type'] != st.COMPUTE]
            self._decision('hosts of the session: computes %s; '
                           'controllers %s'
                           % (', '.join(computes) or 'none',
                              ', '.join(others) or 'none'))

    def _sync(self):
        """Read Nova: the instances on the session's computes.

        Instance rows are added or refreshed, rows of servers that are gone
        deleted; projects are added with whether they have a manager.
        Returns (servers, server groups), all of Nova's live servers.
        """
        servers = [s for s in self.cloud.servers() if _alive(s)]
        groups = self.cloud.server_groups()
        member_of = {}
        for group in groups:
            for member in group.get('members') or []:
                member_of[member] = group
        in_scope = {h['hostname'] for h in self._computes()}
        rows = {i['instance_id']: i
                for i in db_api.instances_get(self.session_id)}
        by_id = {s['id']: s for s in servers}
        changes = {}
        for srv in servers:
            row = rows.get(srv['id'])
            if srv['host'] not in in_scope:
                if row is not None and row['host'] != srv['host']:
                    changes[srv['id']] = {'host': srv['host']}
                continue
            details = dict((row or {}).get('details') or {})
            group = member_of.get(srv['id'])
            details.update({
                'flavor': {k: (srv.get('flavor') or {}).get(k) or 0
                           for k in ('vcpus', 'ram', 'disk')},
                'floating_ip': bool(srv.get('floating_ip')),
                'group': group['id'] if group else None,
                'group_policy': group['policy'] if group else None,
                'status': srv.get('status')})
            values = {'project_id': srv['project_id'],
                      'instance_name': srv.get('name'), 'host': srv['host'],
                      'vm_state': srv.get('vm_state'), 'details': details}
            if row is None or any(row.get(k) != v
                                  for k, v in values.items()):
                changes[srv['id']] = values
        gone = [iid for iid in rows if iid not in by_id]
        # One transaction for the whole cloud (10 000 instances are one
        # commit, not 10 000).
        if changes or gone:
            db_api.instances_put(self.session_id, changes, delete=gone)
        for iid in gone:
            row = rows[iid]
            self.record(st.EVENT_ACTION, 'instance %s (%s) of project %s '
                        'is gone' % (iid, row['instance_name'],
                                     row['project_id']),
                        instance_id=iid, project_id=row['project_id'])
        self._sync_projects()
        return servers, groups

    def _sync_projects(self):
        managers = self.cloud.projects_with_manager(
            CONF.workflow.project_event_types)
        existing = {p['project_id']: p
                    for p in db_api.projects_get(self.session_id)}
        in_scope = {h['hostname'] for h in self._computes()}
        wanted = {i['project_id']
                  for i in db_api.instances_get(self.session_id)
                  if i['host'] in in_scope}
        for pid in sorted(wanted | set(existing)):
            has = pid in managers
            row = existing.get(pid)
            if row is not None and bool(row['has_manager']) == has:
                continue
            db_api.project_create_or_update(self.session_id, pid,
                                            {'has_manager': has})
            if not has:
                self._decision(
                    'project %s has no manager (no enabled event alarm for '
                    '%s): its instances get the default action without '
                    'being asked' % (
                        pid, ' or '.join(CONF.workflow.project_event_types)),
                    project_id=pid)

    def _managed(self, project_ids=None):
        rows = db_api.projects_get(self.session_id)
        return [p['project_id'] for p in rows if p['has_manager'] and
                (project_ids is None or p['project_id'] in project_ids)]

    # --- capacity -----------------------------------------------------------
    def _topology(self, servers, groups):
        """The model of the cloud (:func:`nfv_plan.build_topology`) as the
        serial policy reads it."""
        constraints = {c['instance_id']: c
                       for c in db_api.instance_constraints_list()}
        group_rules = {g['group_id']: g
                       for g in db_api.instance_group_constraints_list()}
        hypervisors = [h for h in self.cloud.hypervisors()
                       if h.get('hostname')]
        return serial.Snapshot(nfv_plan.build_topology(
            hypervisors, self.cloud.compute_services(), self.hosts(),
            servers, groups, constraints, group_rules, self.options))

    def _targets(self):
        """Hosts Nova may schedule to now (enabled and up)."""
        return [s['host'] for s in self.cloud.compute_services()
                if s['status'] == 'enabled' and s['state'] == 'up' and
                not s.get('forced_down')]

    def _occupied(self, hostname):
        return bool(self.cloud.servers(host=hostname))

    def _decide(self, servers, groups, quiet_state=None):
        """The next state once projects were told: see the module doc.

        The reason goes to the history, unless the answer is
        ``quiet_state`` (the state the caller is in: nothing new).
        """
        state, message = self._next(servers, groups)
        if state != quiet_state:
            self._decision(message)
        return state

    def _next(self, servers, groups):
        open_hosts = [h['hostname'] for h in self._open_computes()]
        if not open_hosts:
            return (st.START_MAINTENANCE,
                    'no compute left to empty: start maintenance')
        empty = [h for h in open_hosts if not self._occupied(h)]
        if empty:
            return (st.START_MAINTENANCE,
                    '%s holds no instance: maintain it first'
                    % ', '.join(empty))
        if any(h['maintained'] for h in self._computes()):
            return (st.START_MAINTENANCE, 'some hosts are already '
                    'maintained: go on with the next host')
        topology = self._topology(servers, groups)
        targets = self._targets()
        choice = topology.choose_host_to_empty(open_hosts, targets,
                                               avoid=self._deferred())
        if choice is not None:
            return (st.PREPARE_MAINTENANCE,
                    'no host is empty, but %s can be emptied (%s)'
                    % (choice.hostname, choice.why))
        need = topology.scale_in_need(open_hosts, lambda h: targets)
        return st.SCALE_IN, 'scale-in needed: %s' % need.message

    def _usage(self, servers):
        in_scope = {h['hostname'] for h in self._computes()}
        return model.Resources.total(
            nfv_plan.instance_of(s, None, None).need() for s in servers
            if s['host'] in in_scope)

    # --- exchanges with projects ---------------------------------------------
    def _exchange(self, key, event, projects, hostname=None, **kwargs):
        """Send ``event`` to ``projects`` and wait for their replies.

        ``key`` names this exchange. It is kept in the session's plan, in
        the transaction that records the events, with its deadline and the
        id of each project's event: when the plan shows it already sent (an
        engine restart), nothing is sent again and a reply given meanwhile
        (to those ids) counts. Only a reply to an event of this exchange
        counts. ``hostname``: the host it is about (nothing is sent once an
        admin skipped it). Returns {project_id: reply or None}.
        """
        told = self._told(event, hostname) if hostname else None
        pending = self._plan().get('exchange') or {}
        if told:
            # Sent before a restart (the host's notify steps say so): the
            # replies to those events count, nothing is sent again.
            projects = sorted(told)
            deadline = max(plan_steps.parse(r['reply_at'])
                           for r in told.values())
            event_ids = {pid: r.get('event_id') for pid, r in told.items()}
        elif pending.get('key') == key:
            projects = pending['projects']
            deadline = timeutils.parse_time(pending['reply_at'])
            event_ids = pending.get('event_ids')
            if event_ids is None:
                # Kept by an engine that had no event ids: the rows have
                # them if they were written since.
                event_ids = {p['project_id']: p['event_id']
                             for p in db_api.projects_get(self.session_id)
                             if p['project_id'] in projects and
                             p['event'] == event and p['event_id']}
        else:
            if not projects or not self.safe_point(hostname):
                return {}

            def keep(sent):
                if hostname:
                    # The host's notify steps keep the exchange.
                    for pid in projects:
                        self.mark_step(
                            st.STEP_NOTIFY_PROJECT, hostname, event='done',
                            values={'result': plan_steps.event_result(
                                sent, pid, kwargs.get('actions_at'))},
                            project_id=pid, event_name=event)
                    return
                self._plan_update(exchange={
                    'key': key, 'event': event, 'projects': list(projects),
                    'reply_at': timeutils.format_time(sent.reply_at),
                    'event_ids': dict(sent.event_ids)})
                # The session-wide event, as a step (for the detail).
                if self.steps.state(st.STEP_ANNOUNCE,
                                    event_name=event) == st.STEP_DONE:
                    self.mark_step(st.STEP_ANNOUNCE, event='again',
                                   event_name=event)
                self.mark_step(st.STEP_ANNOUNCE, event='done',
                               event_name=event, values={'result': {
                                   'event': event,
                                   'projects': sorted(projects),
                                   'reply_at': timeutils.format_time(
                                       sent.reply_at)}})

            sent = self.notify_projects(event, projects, on_recorded=keep,
                                        **kwargs)
            deadline, event_ids = sent.reply_at, sent.event_ids
        return self.wait_project_replies(event, projects, deadline,
                                         event_ids=event_ids)

    def _told(self, event, hostname):
        """{project_id: result} of the events of ``event`` sent for
        ``hostname``, from its notify steps (only while its moves are not
        over: a host chosen again is told again)."""
        if not any(s['host'] == hostname for s in self._host_moves(event)):
            return {}
        return {s['project_id']: s['result']
                for s in self.steps.host_steps(hostname)
                if s['kind'] == st.STEP_NOTIFY_PROJECT and
                s['state'] == st.STEP_DONE and
                (s['inputs'] or {}).get('event') == event and
                (s['result'] or {}).get('reply_at')}

    def _exchange_done(self):
        self._plan_update(exchange=None)

    def _refused(self, event, replies):
        return sorted(p for p, r in replies.items() if r == st.nack(event))

    def _fail_on_nack(self, event, refused):
        raise exception.WorkflowError(
            reason='project(s) %s refused %s (%s); nack_policy is fail'
            % (', '.join(refused), event, st.nack(event)))

    def _defer_or_skip(self, hostname, why):
        """A refusal under skip_host: later first, skipped the next time."""
        host = self._host(hostname)
        details = dict(host['details'] or {})
        details['refusals'] = details.get('refusals', 0) + 1
        if details['refusals'] >= MAX_REFUSALS:
            details['skipped'] = why
            details.pop('deferred', None)
            with self.transaction():
                db_api.host_update(self.session_id, hostname,
                                   {'details': details,
                                    'state': st.HOST_SKIPPED})
                self.steps.cancel_pending(hostname, why=why)
            self._decision('host %s skipped (nack_policy skip_host): %s; '
                           'it stays unmaintained' % (hostname, why),
                           host=hostname)
            # Left as it is, in service: not held disabled for the session.
            self._enable(self._host(hostname), 'skipped')
        else:
            details['deferred'] = why
            db_api.host_update(self.session_id, hostname,
                               {'details': details})
            self._decision('host %s deferred (nack_policy skip_host): %s; '
                           'it is maintained after the others and skipped '
                           'if refused again' % (hostname, why),
                           host=hostname)

    def _note_silent(self, event, replies, what):
        for pid in sorted(p for p, r in replies.items() if r is None):
            self._decision('project %s did not answer %s: %s'
                           % (pid, event, what), project_id=pid)

    # --- MAINTENANCE --------------------------------------------------------
    def maintenance(self):
        session = self.session
        self._discover()
        servers, groups = self._sync()
        if self._dry_run():
            return self._dry_run_plan(servers, groups)
        if not session.get('estimate'):
            self._estimate(servers)
        if not self._plan().get('told'):
            self._tell_maintenance(session)
        left = (session['maintenance_at'] -
                timeutils.utcnow()).total_seconds()
        if left > 0:
            self._decision('waiting until %s to start'
                           % timeutils.format_time(
                               session['maintenance_at']))
            self.sleep(left, holdable=True)
        servers, groups = self._sync()
        return self._decide(servers, groups)

    def _tell_maintenance(self, session):
        managed = self._managed()
        replies = self._exchange(st.MAINTENANCE, st.MAINTENANCE, managed,
                                 actions_at=session['maintenance_at'])
        self._note_silent(st.MAINTENANCE, replies,
                          'its instances get the default behaviour')
        refused = self._refused(st.MAINTENANCE, replies)
        if refused:
            if self._nack_policy() == NACK_FAIL:
                self._fail_on_nack(st.MAINTENANCE, refused)
            open_hosts = {h['hostname'] for h in self._open_computes()}
            for pid in refused:
                hosts = sorted({i['host'] for i in db_api.instances_get(
                    self.session_id, project_id=pid)} & open_hosts)
                for hostname in hosts:
                    self._defer_or_skip(
                        hostname, 'project %s refused MAINTENANCE' % pid)
        self._plan_update(exchange=None, told=True)

    def _set_estimate(self, plan, source):
        """The session's ``estimate`` (for the ETA) of a plan dict."""
        db_api.session_update(self.session_id, {
            'estimate': estimate.of_plan(
                plan, nfv_plan.durations_of(self.options), source)})

    def _estimate(self, servers):
        """The ETA's estimate of a real run: every compute left, one after
        the other, its instances moved as a dry run would (see
        :meth:`_dry_run_waves`; the targets do not change the times)."""
        on_host = {}
        for srv in servers:
            on_host.setdefault(srv['host'], []).append(srv['id'])
        steps = [{'host': h['hostname'],
                  'moves': {iid: None for iid in
                            on_host.get(h['hostname'], ())}}
                 for h in self._open_computes()]
        self._set_estimate(
            self._dry_run_waves({'steps': steps, 'blocked': None},
                                self._topology(servers,
                                               self.cloud.server_groups())),
            'default')

    def _dry_run_plan(self, servers, groups):
        topology = self._topology(servers, groups)
        session_hosts = [h['hostname'] for h in self._open_computes()]
        maintained = [h['hostname'] for h in self._computes()
                      if h['maintained']]
        others = [h for h in self._targets()
                  if h not in {x['hostname'] for x in self.hosts()}]
        result = serial.rolling_plan(topology, session_hosts, others,
                                     maintained)
        result.update(self._dry_run_waves(result, topology))
        result['controllers'] = [
            h['hostname'] for h in self.hosts(type=st.CONTROLLER)
            if not h['maintained'] and h['state'] != st.HOST_SKIPPED]
        result['projects'] = {
            p['project_id']: {'has_manager': p['has_manager']}
            for p in db_api.projects_get(self.session_id)}
        self._plan_update(dry_run=result)
        self._set_estimate(result, 'default')
        order = ', '.join('%s (%s)' % (s['host'], s['step'])
                          for s in result['steps']) or 'no compute'
        self._decision('dry run: order %s%s; nothing was touched'
                       % (order, '; then blocked: %s' % result['blocked']
                          if result['blocked'] else ''))
        return st.MAINTENANCE_COMPLETE

    def _dry_run_waves(self, result, topology):
        """The steps of :func:`serial.rolling_plan` in the shape of the
        nfv planner's plan (:func:`serial.schedule`): one host per wave,
        each move with its source, target, kind (the action a silent
        project gets) and estimated times (the session's ``estimates``
        over the planner's defaults; moves of a host run
        ``max_concurrent_migrations`` at a time, within every group's
        budget and after every instance's notice)."""
        constraints = {c['instance_id']: c
                       for c in db_api.instance_constraints_list()}
        projects = {p['project_id']: p
                    for p in db_api.projects_get(self.session_id)}
        owners = {i['instance_id']: i['project_id']
                  for i in db_api.instances_get(self.session_id)}
        at_once = max(1, int(self.options.get('max_concurrent_migrations')
                             or DEFAULT_CONCURRENT_MIGRATIONS))
        kinds = {}
        for step in result['steps']:
            for iid in step['moves']:
                kinds[iid], _why = self._default_action(
                    projects.get(owners.get(iid)), constraints.get(iid))
        plan = serial.schedule(result['steps'], topology.topology, kinds,
                               at_once, owners)
        plan.update(feasible=result['blocked'] is None,
                    message=result['blocked'] or '')
        return plan

    # --- SCALE_IN -----------------------------------------------------------
    def _may_scale_in(self, project_id):
        """Projects that registered constraints must allow mitigation."""
        rules = db_api.instance_constraints_list(project_id=project_id) + \
            db_api.instance_group_constraints_list(project_id=project_id)
        if not rules:
            return True
        return any(r.get('resource_mitigation') for r in rules)

    def scale_in(self):
        servers, groups = self._sync()
        pending = (self._plan().get('exchange') or {}).get('key') == \
            st.SCALE_IN
        if not pending:
            nxt = self._decide(servers, groups, quiet_state=st.SCALE_IN)
            if nxt != st.SCALE_IN:
                return nxt
            open_hosts = [h['hostname'] for h in self._open_computes()]
            targets = self._targets()
            topology = self._topology(servers, groups)
            need = topology.scale_in_need(open_hosts, lambda h: targets)
            in_scope = {i['project_id']
                        for i in db_api.instances_get(self.session_id)
                        if i['host'] in set(open_hosts)}
            asked = []
            for pid in self._managed(in_scope):
                if self._may_scale_in(pid):
                    asked.append(pid)
                else:
                    self._decision('project %s not asked to scale in: its '
                                   'constraints forbid resource mitigation'
                                   % pid, project_id=pid)
            if not asked:
                raise exception.WorkflowError(
                    reason='%s, and no project with a manager allows '
                           'scale-in; free capacity or add hosts, then '
                           'continue the session' % need.message)
            self._plan_update(scale_in={
                'missing': need.message,
                'used_before': list(self._usage(servers))})
        else:
            asked = None
        replies = self._exchange(st.SCALE_IN, st.SCALE_IN, asked or [])
        self._note_silent(st.SCALE_IN, replies, 'no scale-in from it')
        refused = self._refused(st.SCALE_IN, replies)
        if refused:
            if self._nack_policy() == NACK_FAIL:
                self._fail_on_nack(st.SCALE_IN, refused)
            self._decision('project(s) %s refused to scale in: going on '
                           'with what the others freed'
                           % ', '.join(refused))
        servers, groups = self._sync()
        info = self._plan().get('scale_in') or {}
        before = model.Resources(*(info.get('used_before') or (0, 0, 0)))
        freed = before - self._usage(servers)
        self._exchange_done()
        nxt = self._decide(servers, groups)
        if nxt != st.SCALE_IN:
            self._plan_update(scale_in=None)
            return nxt
        if not any(part > 0 for part in freed):
            topology = self._topology(servers, groups)
            need = topology.scale_in_need(
                [h['hostname'] for h in self._open_computes()],
                lambda h: self._targets())
            answers = ', '.join('%s: %s' % (p, r or 'no reply')
                                for p, r in sorted(replies.items()))
            raise exception.WorkflowError(
                reason='%s; projects freed %s (%s)' % (
                    need.message, freed.clip().describe(skip_zero=False),
                    answers))
        self._decision('scale-in freed %s; not enough yet, asking again'
                       % freed.clip().describe(skip_zero=False))
        self._plan_update(scale_in=None)
        return st.SCALE_IN

    # --- PREPARE_MAINTENANCE / PLANNED_MAINTENANCE ---------------------------
    def _host_moves(self, event, live=True):
        """Move steps of hosts chosen for ``event``; only those not over
        (PENDING, RUNNING, FAILED) when ``live``."""
        return [s for s in self.steps.all()
                if s['kind'] in plan_steps.MOVE_KINDS and
                (s['inputs'] or {}).get('event') == event and
                (not live or s['state'] not in st.STEP_OVER)]

    def _pending_host(self, event):
        """The host being emptied for ``event`` (after a restart, a pause,
        a retry): the one whose move steps are not all over. Returns
        (hostname, {iid: target}) or (None, {}). A session whose host
        steps were never written (made before steps) keeps them in its
        plan."""
        moves = self._host_moves(event)
        if moves:
            hostname = moves[0]['host']
            return hostname, {s['instance_id']: s['inputs'].get('target')
                              for s in self.steps.host_steps(hostname)
                              if s['kind'] in plan_steps.MOVE_KINDS and
                              s['inputs'].get('target')}
        if self._host_moves(event, live=False):
            return None, {}
        plan = self._plan()
        current = plan.get('current') or {}
        if current.get('event') == event:
            return current.get('host'), plan.get('targets') or {}
        return None, {}

    def _write_host_steps(self, event, hostname, on_host, managed, moves):
        """The steps of the host chosen to empty (unless they are there:
        a restart), written with its disable_compute step done (it was
        disabled just before)."""
        live = [s for s in self.steps.host_steps(hostname)
                if s['kind'] in plan_steps.MOVE_KINDS and
                s['state'] not in st.STEP_OVER and
                (s['inputs'] or {}).get('event') == event]
        host = self._host(hostname)
        with self.transaction():
            if not live:
                self.steps.cancel_pending(hostname, why='chosen again')
                self.steps.add(plan_steps.host_steps(
                    hostname, event, managed,
                    [s for s in on_host if _alive(s)], moves,
                    db_api.action_plugins_get(self.session_id),
                    host['type'],
                    bool((host['details'] or {}).get('controller'))))
            if self.steps.state(st.STEP_DISABLE_COMPUTE, hostname) != \
                    st.STEP_DONE:
                self.mark_step(st.STEP_DISABLE_COMPUTE, hostname)

    def _choose(self, servers, groups, targets, event):
        """The next host to empty, or None; records why."""
        open_hosts = [h['hostname'] for h in self._open_computes()]
        topology = self._topology(servers, groups)
        choice = topology.choose_host_to_empty(open_hosts, targets,
                                               avoid=self._deferred())
        if choice is None:
            return None, topology.scale_in_need(open_hosts,
                                                lambda h: targets)
        self._decision('%s: host %s chosen to be emptied: %s'
                       % (event, choice.hostname, choice.why),
                       host=choice.hostname)
        return choice, None

    def _ask_and_empty(self, event, hostname, moves):
        """Tell the projects on ``hostname``, then empty it.

        Returns False when a refusal made the host deferred or skipped.
        """
        key = '%s:%s' % (event, hostname)
        if not self.safe_point(hostname):
            return self._skipped(hostname)
        if not self._host(hostname)['started_at']:
            # Fenix works on the host from now on (the ETA measures it).
            db_api.host_update(self.session_id, hostname,
                               {'started_at': timeutils.utcnow()})
        # Nothing new may land on the host once its instances are asked to
        # leave: disabled first, then read (a server Nova placed there a
        # moment ago is in the event too).
        self._disable(self._host(hostname))
        on_host = self.cloud.servers(host=hostname)
        ids = {}
        for srv in on_host:
            ids.setdefault(srv['project_id'], []).append(srv['id'])
        managed = self._managed(set(ids))
        self._write_host_steps(event, hostname, on_host, managed, moves)
        replies = self._exchange(
            key, event, managed, hostname=hostname,
            allowed_actions=base.ALL_ACTIONS,
            instance_ids={p: ids[p] for p in managed},
            actions_at=self._lead_until(on_host))
        if not self.safe_point(hostname):
            return self._skipped(hostname)
        refused = self._refused(event, replies)
        if refused:
            if self._nack_policy() == NACK_FAIL:
                self._fail_on_nack(event, refused)
            self._put_off(event, hostname, 'project(s) %s refused %s'
                          % (', '.join(refused), event))
            return False
        silent_own = self._silent_own_actions(on_host, replies)
        if silent_own and self._silent_own_action() == SILENT_OWN_SKIP_HOST:
            self._put_off(
                event, hostname, 'instance(s) %s must move by their '
                'manager\'s own action, but the manager was silent '
                '(silent_own_action skip_host)' % ', '.join(silent_own))
            return False
        self._wait_lead_time(managed)
        if not self.safe_point(hostname):
            return self._skipped(hostname)
        while not self._empty_host(hostname, event, replies, moves):
            # A pause (raises HoldRequested here: the exchange stays
            # recorded and the host is emptied on resume) or a skip.
            if not self.safe_point(hostname):
                return self._skipped(hostname)
        self._plan_update(exchange=None, current=None, targets=None)
        return True

    def _skipped(self, hostname):
        """An admin skipped ``hostname`` (safe_point applied it): forget
        its exchange and cancel its steps not started; the handler chooses
        again."""
        with self.transaction():
            self._plan_update(exchange=None, current=None, targets=None)
            self.steps.cancel_pending(hostname, why='skipped')
        return False

    def _lead_until(self, servers):
        """When the notice the instances' constraints ask for
        (``lead_time``) ends, counted from now (now without one: Fenix
        acts as soon as the projects answered)."""
        ids = {s['id'] for s in servers}
        leads = [c.get('lead_time') or 0 for c in
                 db_api.instance_constraints_list()
                 if c['instance_id'] in ids]
        return timeutils.after(max(leads or [0]))

    def _wait_lead_time(self, project_ids):
        """Never act before the ``actions_at`` the projects were told (it
        is on their rows, so a restart keeps it). Waiting is no step: it
        gives way to a pause."""
        times = [p['actions_at'] for p in db_api.projects_get(self.session_id)
                 if p['project_id'] in set(project_ids) and p['actions_at']]
        left = (max(times) - timeutils.utcnow()).total_seconds() \
            if times else 0
        if left > 0:
            self._decision('waiting %d s more: the notice the instances\' '
                           'lead_time asks for' % (left + 0.999))
            self.sleep(left, holdable=True)

    def _put_off(self, event, hostname, why):
        """The host is deferred or skipped (:meth:`_defer_or_skip`); one
        deferred before any host was maintained is in service again
        meanwhile (later, every host not yet maintained is disabled)."""
        self._defer_or_skip(hostname, why)
        # Not worked on until it is chosen again (the ETA measures it).
        with self.transaction():
            db_api.host_update(self.session_id, hostname,
                               {'started_at': None})
            self._plan_update(exchange=None, current=None, targets=None)
            self.steps.cancel_pending(hostname, why=why)
        if event == st.PREPARE_MAINTENANCE:
            self._enable(self._host(hostname), 'deferred')

    def prepare_maintenance(self):
        self.safe_point()
        servers, groups = self._sync()
        hostname, moves = self._pending_host(st.PREPARE_MAINTENANCE)
        if hostname is None:
            empty = [h['hostname'] for h in self._open_computes()
                     if not self._occupied(h['hostname'])]
            if empty:
                self._decision('%s became empty: maintain it'
                               % ', '.join(empty))
                return st.START_MAINTENANCE
            choice, need = self._choose(servers, groups, self._targets(),
                                        st.PREPARE_MAINTENANCE)
            if choice is None:
                self._decision('no host can be emptied any more: %s'
                               % need.message)
                return st.SCALE_IN
            hostname, moves = choice.hostname, choice.plan.moves
        if not self._ask_and_empty(st.PREPARE_MAINTENANCE, hostname, moves):
            return st.PREPARE_MAINTENANCE
        return st.START_MAINTENANCE

    def planned_maintenance(self):
        self.safe_point()
        self._disable_unmaintained()
        servers, groups = self._sync()
        hostname, moves = self._pending_host(st.PLANNED_MAINTENANCE)
        if hostname is None:
            open_hosts = [h['hostname'] for h in self._open_computes()]
            empty = [h for h in open_hosts if not self._occupied(h)]
            if not open_hosts or empty:
                return st.START_MAINTENANCE
            targets = self._targets()
            choice, need = self._choose(servers, groups, targets,
                                        st.PLANNED_MAINTENANCE)
            if choice is None:
                raise exception.WorkflowError(
                    reason='no host left to maintain can be emptied onto '
                           'the maintained hosts (%s): %s; scale in or add '
                           'capacity, then continue the session from '
                           'SCALE_IN' % (', '.join(sorted(targets)) or
                                         'none', need.message))
            hostname, moves = choice.hostname, choice.plan.moves
        if not self._ask_and_empty(st.PLANNED_MAINTENANCE, hostname, moves):
            return st.PLANNED_MAINTENANCE
        return st.START_MAINTENANCE

    # --- moving instances ---------------------------------------------------
    def _default_action(self, project, constraint):
        ctype = (constraint or {}).get('migration_type')
        if ctype in (st.MIGRATE, st.LIVE_MIGRATE):
            return ctype, 'its constraint migration_type'
        if ctype == st.OWN_ACTION and project and project['has_manager']:
            return ctype, 'its constraint migration_type'
        return (CONF.workflow.default_migration_type,
                '[workflow] default_migration_type')

    def _choose_action(self, srv, project, reply, event, constraint):
        """(action, note): note says why a default was used, else None."""
        pid, iid = srv['project_id'], srv['id']
        action = note = None
        if project and project['has_manager'] and reply == st.ack(event):
            chosen = (project.get('instance_actions') or {}).get(iid)
            if chosen in st.INSTANCE_ACTIONS:
                action = chosen
            else:
                note = 'project %s gave no action for it' % pid
        elif project and project['has_manager']:
            note = 'project %s did not answer %s' % (pid, event)
        else:
            note = 'project %s has no manager' % pid
        if action is None:
            action, source = self._default_action(project, constraint)
            if action == st.OWN_ACTION and reply is None:
                # Nobody would act: Fenix moves it ([workflow]
                # silent_own_action move; skip_host never gets here, see
                # _silent_own_actions).
                action = CONF.workflow.default_migration_type
                source = ('its constraint says OWN_ACTION but its manager '
                          'was silent: silent_own_action move, [workflow] '
                          'default_migration_type')
            note += ': default %s (%s)' % (action, source)
        vm_state = (srv.get('vm_state') or '').lower()
        if action == st.LIVE_MIGRATE and vm_state and \
                vm_state not in LIVE_VM_STATES:
            note = ((note + '; ') if note else '') + (
                'it is %s, so it is cold-migrated instead of live-migrated'
                % vm_state)
            action = st.MIGRATE
        return action, note

    def _silent_own_actions(self, servers, replies):
        """Ids of ``servers`` whose manager is silent although only it
        would move them (OWN_ACTION by their constraint)."""
        projects = {p['project_id']: p
                    for p in db_api.projects_get(self.session_id)}
        constraints = {c['instance_id']: c
                       for c in db_api.instance_constraints_list()}
        return sorted(
            srv['id'] for srv in servers
            if replies.get(srv['project_id']) is None and
            self._default_action(projects.get(srv['project_id']),
                                 constraints.get(srv['id']))[0] ==
            st.OWN_ACTION)

    def _interrupted_moves(self, hostname):
        """The instance rows of the moves from ``hostname`` under way when
        the engine stopped: their move steps RUNNING (the rows
        IN_PROGRESS from that host, for a session without steps)."""
        running = [s['instance_id'] for s in self.steps.host_steps(hostname)
                   if s['kind'] in plan_steps.MOVE_KINDS and
                   s['state'] == st.STEP_RUNNING]
        if running or self.steps.host_steps(hostname):
            if not running:
                return []
            rows = db_api.instances_get(self.session_id,
                                        instance_ids=running)
            found = {r['instance_id'] for r in rows}
            for iid in sorted(set(running) - found):
                # No row: nothing is left to watch.
                with self.transaction():
                    self.mark_step(st.STEP_MOVE, hostname, iid, 'done',
                                   values={'message': 'no instance row'})
            return rows
        return [row for row in db_api.instances_get(self.session_id)
                if row['action_state'] == st.ACTION_IN_PROGRESS and
                (row['details'] or {}).get('move_from') == hostname]

    def _finish_interrupted(self, hostname):
        """Moves from ``hostname`` that ended while no engine watched."""
        for row in self._interrupted_moves(hostname):
            srv = self.cloud.server(row['instance_id'])
            if srv is None:
                with self.transaction():
                    db_api.instance_update(
                        self.session_id, row['instance_id'], {
                            'action_state': st.ACTION_DONE,
                            'action_message': 'the instance no longer '
                                              'exists'})
                    self.mark_step(st.STEP_MOVE, hostname,
                                   row['instance_id'], 'done',
                                   values={'message': 'the instance no '
                                                      'longer exists'})
            elif srv['host'] != hostname:
                if _busy(srv):
                    # E.g. a cold migration that reached VERIFY_RESIZE while
                    # no engine watched: see it through (confirm it).
                    result = self.cloud.wait_for_move(
                        row['instance_id'], hostname, row['action'])
                    if not result['ok']:
                        with self.transaction():
                            db_api.instance_update(
                                self.session_id, row['instance_id'], {
                                    'action_state': st.ACTION_FAILED,
                                    'action_message': result['message']})
                            self.mark_step(
                                st.STEP_MOVE, hostname, row['instance_id'],
                                'fail', values={'message':
                                                result['message']})
                        raise exception.WorkflowError(
                            reason='%s of instance %s from %s, interrupted '
                                   'by a restart, failed: %s'
                            % (row['action'], row['instance_id'], hostname,
                               result['message']))
                    srv = dict(srv, host=result['host'] or srv['host'])
                with self.transaction():
                    db_api.instance_update(
                        self.session_id, row['instance_id'], {
                            'action_state': st.ACTION_DONE,
                            'host': srv['host'],
                            'action_message': 'now on %s' % srv['host']})
                    self.mark_step(st.STEP_MOVE, hostname,
                                   row['instance_id'], 'done', values={
                                       'result': {'action': row['action'],
                                                  'host': srv['host']}})
                    self.record(st.EVENT_ACTION, '%s of instance %s from %s '
                                'done (seen after a restart): now on %s'
                                % (row['action'], row['instance_id'],
                                   hostname, srv['host']),
                                instance_id=row['instance_id'],
                                host=hostname)
                    self._action_done(row)

    def _action_done(self, row):
        """INSTANCE_ACTION_DONE, to a project that has a manager."""
        try:
            project = db_api.project_get(self.session_id, row['project_id'])
        except exception.NotFound:
            return
        if project['has_manager']:
            self.instance_action_done(row)

    def _empty_host(self, hostname, event, replies, moves):
        """Move every instance off ``hostname``; raise if one fails.

        Returns False when a pause or a skip of the host stopped it
        (the moves in flight finished; the others were not started).
        """
        db_api.host_update(self.session_id, hostname,
                           {'state': st.HOST_EMPTYING})
        self._finish_interrupted(hostname)
        projects = {p['project_id']: p
                    for p in db_api.projects_get(self.session_id)}
        constraints = {c['instance_id']: c
                       for c in db_api.instance_constraints_list()}
        rows = {i['instance_id']: i
                for i in db_api.instances_get(self.session_id)}
        todo, waits = [], {}
        for srv in self.cloud.servers(host=hostname):
            iid = srv['id']
            row = rows.get(iid)
            if row is None:
                row = db_api.instance_create_or_update(
                    self.session_id, iid,
                    {'project_id': srv['project_id'],
                     'instance_name': srv.get('name'), 'host': hostname,
                     'vm_state': srv.get('vm_state')})
            if not _alive(srv):
                waits[iid] = 'it is being deleted'
                continue
            action, note = self._choose_action(
                srv, projects.get(srv['project_id']),
                replies.get(srv['project_id']), event, constraints.get(iid))
            if note:
                self._decision('instance %s (%s) on %s: %s'
                               % (iid, srv.get('name'), hostname, note),
                               instance_id=iid,
                               project_id=srv['project_id'], host=hostname)
            details = dict(row['details'] or {}, move_from=hostname)
            step = self.steps.get(st.STEP_MOVE, hostname, iid)
            if step is not None:
                # A move under way when the engine stopped is watched.
                resume = step['state'] == st.STEP_RUNNING and _busy(srv)
            else:
                resume = (row['action_state'] == st.ACTION_IN_PROGRESS and
                          (row['details'] or {}).get('move_from') ==
                          hostname and _busy(srv))
            values = {'action': action, 'details': details}
            if not resume:
                values.update(action_state=st.ACTION_PENDING,
                              action_message=None, action_attempts=0)
            row = db_api.instance_update(self.session_id, iid, values)
            if action == st.OWN_ACTION:
                waits[iid] = 'project %s chose OWN_ACTION' % (
                    srv['project_id'])
                db_api.instance_update(
                    self.session_id, iid,
                    {'action_state': st.ACTION_IN_PROGRESS})
            else:
                todo.append((row, srv, action, moves.get(iid), resume))
        failures = self._run_moves(hostname, todo, waits)
        if hostname in self.skip_requests():
            # Skipped: its failed moves (recorded) fail nothing.
            return False
        if failures:
            db_api.host_update(self.session_id, hostname,
                               {'state': st.HOST_FAILED})
            raise exception.WorkflowError(
                reason='could not empty host %s: %s'
                % (hostname, '; '.join(failures)))
        if not self.may_start(hostname):
            return False
        # Rows of instances that left by other means (the manager).
        for row in db_api.instances_get(self.session_id, host=hostname):
            srv = self.cloud.server(row['instance_id'])
            if srv is not None and srv['host'] != hostname:
                db_api.instance_update(self.session_id, row['instance_id'],
                                       {'host': srv['host']})
        db_api.host_update(self.session_id, hostname,
                           {'state': st.HOST_PENDING})
        return True

    def _move(self, srv, action, target, resume, cancelled,
              nova_may_choose=True):
        """One move, in a worker thread. Returns the Cloud's result.

        ``cancelled`` is set when the session stops: no new request is
        then sent to Nova. ``nova_may_choose``: when the move to
        ``target`` fails, try once more with Nova's scheduler choosing.
        """
        if resume:
            result = self.cloud.wait_for_move(srv['id'], srv['host'],
                                              action)
            result.setdefault('attempts', 0)
            if result['ok']:
                return result
        result = self.cloud.move(srv['id'], action, host=target)
        if result['ok'] or not target or cancelled.is_set() or \
                not nova_may_choose:
            return result
        retry = self.cloud.move(srv['id'], action, host=None)
        retry['attempts'] = retry.get('attempts', 1) + \
            result.get('attempts', 1)
        if retry['ok']:
            retry['message'] += (' (to %s it failed: %s; Nova chose '
                                 'another host)' % (target,
                                                    result['message']))
        else:
            retry['message'] = ('to %s: %s; to a host Nova chose: %s'
                                % (target, result['message'],
                                   retry['message']))
        return retry

    def _move_finished(self, hostname, row, action, future, failures):
        iid = row['instance_id']
        try:
            result = future.result()
        except Exception as e:  # noqa - a bug must fail the move, loudly
            LOG.exception('Move of %s failed', iid)
            result = {'ok': False, 'host': None, 'attempts': 1,
                      'message': '%s: %s' % (e.__class__.__name__, e)}
        attempts = (row['action_attempts'] or 0) + \
            (result.get('attempts') or 0)
        if result['ok']:
            # The move recorded done and INSTANCE_ACTION_DONE together.
            with self.transaction():
                self.update_instance(
                    iid, {'action_state': st.ACTION_DONE,
                          'host': result['host'],
                          'action_attempts': attempts,
                          'action_message': result.get('message')},
                    st.EVENT_ACTION, '%s of instance %s from %s done: now '
                    'on %s' % (action, iid, hostname, result['host']),
                    project_id=row['project_id'], host=hostname,
                    state=st.ACTION_DONE)
                self.mark_step(st.STEP_MOVE, hostname, iid, 'done', values={
                    'message': result.get('message'),
                    'result': {'action': action, 'host': result['host']}})
                self._action_done(row)
            return
        message = result.get('message') or 'no reason given'
        with self.transaction():
            self.update_instance(
                iid, {'action_state': st.ACTION_FAILED,
                      'action_attempts': attempts,
                      'action_message': message},
                st.EVENT_ERROR, '%s of instance %s from %s failed: %s'
                % (action, iid, hostname, message),
                project_id=row['project_id'], host=hostname,
                state=st.ACTION_FAILED)
            self.mark_step(st.STEP_MOVE, hostname, iid, 'fail',
                           values={'message': message})
        failures.append('%s of instance %s (%s) failed after %d attempt(s):'
                        ' %s' % (action, iid, row['instance_name'],
                                 attempts, message))

    def _wait_computes_up(self, hostnames, source=None):
        """Wait, bounded, until nova-compute is up on every host a move
        leaves from or goes to (from ``source``).

        Real Nova puts a server it tries to move from or to a compute that
        is down (restarting) in ERROR; waiting costs nothing but time.
        Raises WorkflowError when one stays down past
        ``[workflow] migration_timeout``; nothing was moved then.
        """
        deadline = timeutils.after(CONF.workflow.migration_timeout)
        noted = set()
        while True:
            if not self.may_start(source):
                # A pause or a skip of the host: no move starts anyway.
                return
            states = {s['host']: s['state']
                      for s in self.cloud.compute_services()}
            down = sorted(h for h in hostnames if states.get(h) == 'down')
            if not down:
                return
            for host in sorted(set(down) - noted):
                self._decision('nova-compute on %s is down: its moves wait '
                               'until it is up' % host, host=host)
                noted.add(host)
            if timeutils.utcnow() >= deadline:
                raise exception.WorkflowError(
                    reason='nova-compute stayed down on %s for %s seconds; '
                           'nothing was moved from or to it'
                           % (', '.join(down),
                              CONF.workflow.migration_timeout))
            self.runner.wait(CONF.workflow.nova_poll_interval)

    def _run_moves(self, hostname, todo, waits):
        """Run the moves (in parallel) and wait for the rest to leave.

        Moves are submitted ``max_concurrent_migrations`` at a time, each
        at a safe point, and a move of a group member only while its group
        has fewer than ``max_impacted_members`` members moving or
        recovering (:class:`serial.Budgets`; the queue's order otherwise):
        once a pause or a skip of the host is requested
        no new one starts (their rows stay PENDING; instances that leave
        by their manager's action are watched again on resume), and this
        returns when the moves in flight are done.

        Returns the failures as sentences.
        """
        if todo:
            self._wait_computes_up({hostname} | {
                target for _r, _s, _a, target, _res in todo if target},
                source=hostname)
        failures = []
        futures = {}
        workers = max(1, int(self.options.get('max_concurrent_migrations')
                             or DEFAULT_CONCURRENT_MIGRATIONS))
        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix='move-%s' % self.session_id[:8])
        own_deadline = timeutils.after(CONF.workflow.own_action_timeout)
        cancelled = threading.Event()
        queue = list(todo)
        budgets = self._budgets() if todo else None

        def next_move():
            """Index in ``queue`` of the next move its group allows."""
            now = timeutils.utcnow().timestamp()
            for index, item in enumerate(queue):
                if item[4] or budgets.may_start(item[0]['instance_id'],
                                                now):
                    return index
            return None

        try:
            while True:
                mark = self.runner.mark()
                if (queue or waits) and not self.may_start(hostname):
                    queue, waits = [], {}
                while queue and len(futures) < workers:
                    index = next_move()
                    if index is None:
                        break
                    item = queue.pop(index)
                    budgets.started(item[0]['instance_id'])
                    self._submit_move(pool, futures, hostname, cancelled,
                                      *item)
                for future in [f for f in futures if f.done()]:
                    row, action = futures.pop(future)
                    budgets.ended(row['instance_id'],
                                  timeutils.utcnow().timestamp())
                    self._move_finished(hostname, row, action, future,
                                        failures)
                for iid in list(waits):
                    srv = self.cloud.server(iid)
                    if srv is not None and srv['host'] == hostname:
                        continue
                    reason = waits.pop(iid)
                    where = ('now on %s' % srv['host'] if srv
                             else 'deleted')
                    values = {'action_state': st.ACTION_DONE,
                              'action_message': where}
                    if srv:
                        values['host'] = srv['host']
                    with self.transaction():
                        db_api.instance_update(self.session_id, iid, values)
                        self.mark_step(st.STEP_MOVE, hostname, iid, 'done',
                                       values={'message': where})
                        self.record(st.EVENT_ACTION, 'instance %s left %s '
                                    '(%s): %s' % (iid, hostname, reason,
                                                  where),
                                    instance_id=iid, host=hostname,
                                    state=st.ACTION_DONE)
                if waits and timeutils.utcnow() >= own_deadline:
                    for iid, reason in sorted(waits.items()):
                        message = ('still on %s after %s s (%s)'
                                   % (hostname,
                                      CONF.workflow.own_action_timeout,
                                      reason))
                        with self.transaction():
                            db_api.instance_update(self.session_id, iid, {
                                'action_state': st.ACTION_FAILED,
                                'action_message': message})
                            self.mark_step(st.STEP_MOVE, hostname, iid,
                                           'fail', values={'message':
                                                           message})
                        failures.append('instance %s %s' % (iid, message))
                    waits = {}
                if not futures and not waits and not queue:
                    break
                if queue and len(futures) < workers and \
                        next_move() is not None:
                    # A move just ended: submit the next one at once.
                    continue
                self.runner.wait(CONF.workflow.nova_poll_interval,
                                 since=mark)
        finally:
            cancelled.set()
            pool.shutdown(wait=False, cancel_futures=True)
        return failures

    def _budgets(self):
        """The group budgets of the moves (:class:`serial.Budgets`): Nova's
        server groups and the registered group constraints, as
        :func:`nfv_plan.groups_of` reads them."""
        group_rules = {g['group_id']: g
                       for g in db_api.instance_group_constraints_list()}
        groups, member_of = nfv_plan.groups_of(self.cloud.server_groups(),
                                               group_rules)
        for c in db_api.instance_constraints_list():
            if c.get('group_id') in groups:
                member_of.setdefault(c['instance_id'], c['group_id'])
        return serial.Budgets(groups, member_of)

    def _submit_move(self, pool, futures, hostname, cancelled, row, srv,
                     action, target, resume):
        """Record one move as started (its step with it) and hand it to a
        worker."""
        with self.transaction():
            db_api.instance_update(self.session_id, row['instance_id'], {
                'action_state': st.ACTION_IN_PROGRESS})
            self.mark_step(st.STEP_MOVE, hostname, row['instance_id'],
                           'start', bump_attempt=not resume,
                           values={'result': {'action': action,
                                              'target': target}},
                           create={'project_id': row['project_id']})
            self.record(st.EVENT_ACTION, '%s of instance %s from %s%s %s'
                        % (action, row['instance_id'], hostname,
                           ' to %s' % target if target else '',
                           'watched again' if resume else 'started'),
                        instance_id=row['instance_id'],
                        project_id=row['project_id'], host=hostname,
                        state=st.ACTION_IN_PROGRESS)
        future = pool.submit(self._move, srv, action, target, resume,
                             cancelled)
        future.add_done_callback(self._wake)
        futures[future] = (row, action)

    # --- START_MAINTENANCE --------------------------------------------------
    def _disable(self, host, services=None):
        """Disable nova-compute on one host unless it is already.

        The DB says it is ours before Nova is asked, so that cleanup after
        a crash enables it.
        """
        hostname = host['hostname']
        if host['disabled_by_operator']:
            return
        if services is None:
            services = {s['host']: s for s in
                        self.cloud.compute_services(host=hostname)}
        svc = services.get(hostname)
        if svc is None:
            return
        if svc['status'] == 'disabled':
            if host['disabled_by_fenix']:
                return
            if (svc.get('disabled_reason') or '') == \
                    disable_reason(self.session_id):
                db_api.host_update(self.session_id, hostname,
                                   {'disabled_by_fenix': True})
                return
            db_api.host_update(self.session_id, hostname,
                               {'disabled_by_operator': True})
            self._decision('host %s was disabled by someone else (%s): '
                           'left as it is and never enabled by Fenix'
                           % (hostname, svc.get('disabled_reason') or
                              'no reason given'), host=hostname)
            return
        db_api.host_update(self.session_id, hostname,
                           {'disabled_by_fenix': True})
        self.cloud.disable_compute(hostname, disable_reason(self.session_id))
        self.record(st.EVENT_HOST, 'nova-compute disabled on %s' % hostname,
                    host=hostname)

    def _disable_unmaintained(self):
        services = {s['host']: s for s in self.cloud.compute_services()}
        for host in self._computes():
            if not host['maintained'] and host['state'] != st.HOST_SKIPPED:
                self._disable(host, services)

    def _enable(self, host, why):
        """Enable a host this session disabled (never an operator's)."""
        if not host['disabled_by_fenix']:
            return
        self.cloud.enable_compute(host['hostname'])
        with self.transaction():
            db_api.host_update(self.session_id, host['hostname'],
                               {'disabled_by_fenix': False})
            if host['maintained']:
                self.mark_step(st.STEP_ENABLE_COMPUTE, host['hostname'])
            self.record(st.EVENT_HOST, 'nova-compute enabled on %s again '
                        '(%s)' % (host['hostname'], why),
                        host=host['hostname'])

    def _maintain(self, host):
        """IN_MAINTENANCE, the host's plug-ins, MAINTENANCE_COMPLETE, enable.

        Resumable: a host whose IN_MAINTENANCE was announced already is
        not announced again, plug-in runs DONE are skipped and a run found
        RUNNING is resumed (see BaseWorkflow.run_action_plugins).
        MAINTENANCE_COMPLETE is announced with the write that marks the
        host maintained; enabling it comes after (see
        :meth:`_enable_maintained` for a restart in between).
        """
        hostname = host['hostname']
        self.begin_host_maintenance(host)
        try:
            self.run_action_plugins(st.PLUGIN_HOST, host)
            self.run_action_plugins(host['type'], host)
            if host['type'] == st.COMPUTE and \
                    (host['details'] or {}).get('controller'):
                self.run_action_plugins(st.PLUGIN_CONTROLLER, host)
        except Exception:
            # Stopped by an engine shutdown, the host is still in
            # maintenance: the next engine resumes it.
            if not self.stopping():
                db_api.host_update(self.session_id, hostname,
                                   {'state': st.HOST_FAILED})
            raise
        self.end_host_maintenance(hostname)
        host = self._host(hostname)
        if host['disabled_by_fenix']:
            self.cloud.enable_compute(hostname)
            with self.transaction():
                db_api.host_update(self.session_id, hostname,
                                   {'disabled_by_fenix': False})
                self.mark_step(st.STEP_ENABLE_COMPUTE, hostname)
                self.record(st.EVENT_HOST, 'nova-compute enabled on %s'
                            % hostname, host=hostname)
        elif self.steps.state(st.STEP_ENABLE_COMPUTE, hostname) == \
                st.STEP_PENDING:
            with self.transaction():
                self.mark_step(st.STEP_ENABLE_COMPUTE, hostname,
                               values={'message': 'not disabled by Fenix'})

    def _enable_maintained(self):
        """Enable maintained hosts this session still holds disabled.

        Only an engine that stopped between a host's MAINTENANCE_COMPLETE
        and enabling it leaves one so; a maintained host is a target for
        the moves to come.
        """
        for host in self.hosts():
            if host['maintained'] and host['disabled_by_fenix']:
                self._enable(host, 'maintained before the engine restarted')

    def start_maintenance(self):
        self._enable_maintained()
        self.safe_point()
        self.run_action_plugins(st.PLUGIN_PRE)
        self._disable_unmaintained()
        for host in self._open_computes():
            if not self.safe_point(host['hostname']) or \
                    self._occupied(host['hostname']):
                continue
            self._maintain(host)
        if self._open_computes():
            return st.PLANNED_MAINTENANCE
        self._maintain_controllers()
        self.safe_point()
        self.run_action_plugins(st.PLUGIN_POST)
        return st.MAINTENANCE_COMPLETE

    def _maintain_controllers(self):
        """The session's controllers, after the computes, one at a time."""
        for host in self.hosts(type=st.CONTROLLER):
            if not host['maintained'] and host['state'] != st.HOST_SKIPPED \
                    and self.safe_point(host['hostname']):
                self._maintain(host)

    # --- MAINTENANCE_COMPLETE -----------------------------------------------
    def maintenance_complete(self):
        if self._dry_run():
            return st.MAINTENANCE_DONE
        # Projects may scale out now: nothing may still be held disabled.
        for host in self.hosts():
            self._enable(host, 'maintenance complete')
        managed = self._managed()
        replies = self._exchange(st.MAINTENANCE_COMPLETE,
                                 st.MAINTENANCE_COMPLETE, managed)
        self._note_silent(st.MAINTENANCE_COMPLETE, replies,
                          'maintenance is complete all the same')
        refused = self._refused(st.MAINTENANCE_COMPLETE, replies)
        if refused:
            if self._nack_policy() == NACK_FAIL:
                self._fail_on_nack(st.MAINTENANCE_COMPLETE, refused)
            self._decision('project(s) %s refused MAINTENANCE_COMPLETE; '
                           'every host is done, so the session ends'
                           % ', '.join(refused))
        self._exchange_done()
        return st.MAINTENANCE_DONE

    # --- cleanup ------------------------------------------------------------
    def restart_step(self):
        """A continued session (PUT) asks the projects again: forget the
        exchange under way and the host it was about. (A retry keeps
        them: the answers given stand.)"""
        plan = self._plan()
        if any(k in plan for k in ('exchange', 'current', 'targets')):
            self._plan_update(exchange=None, current=None, targets=None)
        # The host being emptied is chosen again, with new steps.
        self.steps.reload()
        for event in (st.PREPARE_MAINTENANCE, st.PLANNED_MAINTENANCE):
            for hostname in sorted({s['host']
                                    for s in self._host_moves(event)}):
                ids = [s['id'] for s in self.steps.host_steps(hostname)
                       if s['state'] in (st.STEP_PENDING, st.STEP_FAILED)]
                db_api.steps_transition(self.session_id, ids, 'cancel',
                                        values={'message': 'continued: '
                                                'the projects are asked '
                                                'again'})
        self.steps.reload()

    def cleanup(self, why):
        """Enable every host this session disabled, each on its own.

        One failure does not keep the others disabled.
        """
        errors = []
        for host in self.hosts():
            if not host['disabled_by_fenix']:
                continue
            try:
                self._enable(host, why)
            except Exception as e:  # noqa - go on with the other hosts
                LOG.exception('Could not enable %s', host['hostname'])
                errors.append('%s: %s' % (host['hostname'], e))
        if errors:
            raise exception.WorkflowError(
                reason='could not enable nova-compute again on %s'
                % '; '.join(errors))
