# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``default``: the rolling maintenance of SPEC 5 (OPNFV Doctor's case).

The ``serial`` policy of the session :class:`~fenix.workflow.session_flow.
SessionFlow` runs (discovery, the exchanges with projects, SCALE_IN,
maintaining a host and MAINTENANCE_COMPLETE are there). One host at a
time is emptied and maintained; applications hear about every step
through their manager (VNFM) and choose how their instances move. What
this policy decides:

MAINTENANCE (its end)
    An empty host -> START_MAINTENANCE, capacity to empty one ->
    PREPARE_MAINTENANCE, else SCALE_IN.
PREPARE_MAINTENANCE
    Empty the cheapest host (the planner's ``serial`` policy,
    :mod:`fenix.workflow.serial`, over the model of the cloud). The
    host is disabled before its projects are told; ``actions_at`` is when
    the notice the instances' ``lead_time`` asks for ends, and Fenix waits
    for it even when the projects answered sooner.
START_MAINTENANCE
    ``pre`` plug-ins once; disable nova-compute on every host not yet
    maintained; maintain each empty one; controllers of the session after
    the computes; ``post`` plug-ins after the last host.
PLANNED_MAINTENANCE
    Move the instances of the next host onto maintained hosts.

Decisions of note (all written to the session history):

* A silent project, or one without a manager, gets for each instance its
  constraint's ``migration_type``, else ``[workflow]
  default_migration_type``. OWN_ACTION is only a default for a project
  that has a manager (nobody else would act on it); a silent manager's
  OWN_ACTION instance follows ``silent_own_action``.
* Instances move to hosts chosen by the serial policy, never where Nova's
  scheduler chooses (that room may be reserved for another instance). A
  target that refuses the move at once (disabled, down or full: "No valid
  host") is not asked again: the model places the instance again on
  another host at once; a move that failed otherwise is placed again at
  most ``[workflow] migration_retries`` times; with no host left the move
  fails with that reason (see :meth:`fenix.workflow.serial_runner.
  HostEmptier._again`).
* Moves run in parallel up to the ``max_concurrent_migrations`` session
  option (default :data:`DEFAULT_CONCURRENT_MIGRATIONS`), within every
  group's budget (:class:`fenix.workflow.serial.Budgets`); the moves of
  one host are run by a :class:`fenix.workflow.serial_runner.HostEmptier`
  made for it.
* ``dry_run``: the order host by host (:func:`serial.rolling_plan`) in the
  ``nfv`` plan's format.

After an engine restart the host chosen is in its steps
(:mod:`fenix.workflow.steps`), written when it is chosen: the host being
emptied is the one whose move steps are not all over, its exchange is in
its ``notify_project`` steps, and moves already done are not repeated.

An admin's pause or host skip (SPEC 3.7) is honoured at the safe points
(:meth:`~fenix.workflow.base.BaseWorkflow.safe_point`): before every
exchange with projects, before a host is chosen, emptied or maintained,
before the ``pre`` and ``post`` plug-ins, and before every move (the
moves already requested from Nova finish first). Waiting for replies and
for ``maintenance_at`` gives way to a pause at once.
"""
from oslo_config import cfg

from fenix.common import exception
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.workflow import base
from fenix.workflow import serial
from fenix.workflow import serial_runner
from fenix.workflow import session_flow as flow
from fenix.workflow import steps as plan_steps

CONF = cfg.CONF

DEFAULT_CONCURRENT_MIGRATIONS = serial_runner.DEFAULT_CONCURRENT_MIGRATIONS


class DefaultWorkflow(flow.SessionFlow):
    """The ``default`` workflow plug-in: the ``serial`` policy."""

    # --- choosing the next host ---------------------------------------------
    def _deferred(self):
        return {h['hostname'] for h in self.hosts()
                if (h['details'] or {}).get('deferred')}

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

    def _pending_host(self, event):
        """The host being emptied for ``event`` (after a restart, a pause,
        a retry): the one whose move steps are not all over. Returns
        (hostname, {iid: target}) or (None, {}). A session whose host
        steps were never written (made before steps) keeps them in its
        plan."""
        moves = self._host_moves(event)
        if moves:
            hostname = moves[0]['host']
            return hostname, {s['instance_id']: s['target']
                              for s in self.steps.host_steps(hostname)
                              if s['kind'] in plan_steps.MOVE_KINDS and
                              s['target']}
        if self._host_moves(event, live=False):
            return None, {}
        plan = self._plan()
        current = plan.get('current') or {}
        if current.get('event') == event:
            return current.get('host'), plan.get('targets') or {}
        return None, {}

    def _told(self, event, hostname):
        """{project_id: result} of the events of ``event`` sent for
        ``hostname``, from its notify steps (only while its moves are not
        over: a host chosen again is told again)."""
        if not any(s['host'] == hostname for s in self._host_moves(event)):
            return {}
        return {s['project_id']: plan_steps.sent_of(s)
                for s in self.steps.host_steps(hostname)
                if s['kind'] == st.STEP_NOTIFY_PROJECT and
                s['state'] == st.STEP_DONE and
                (s['inputs'] or {}).get('event') == event and
                plan_steps.sent_of(s)}

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
                    [s for s in on_host if flow.alive(s)], moves,
                    db_api.action_plugins_get(self.session_id),
                    host['type'],
                    bool((host['details'] or {}).get('controller'))))
            if self.steps.state(st.STEP_DISABLE_COMPUTE, hostname) != \
                    st.STEP_DONE:
                self.mark_step(st.STEP_DISABLE_COMPUTE, hostname)

    # --- estimate and dry run -----------------------------------------------
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

    # --- PREPARE_MAINTENANCE / PLANNED_MAINTENANCE --------------------------
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
            told=self._told(event, hostname),
            allowed_actions=base.ALL_ACTIONS,
            instance_ids={p: ids[p] for p in managed},
            actions_at=self._lead_until(on_host))
        if not self.safe_point(hostname):
            return self._skipped(hostname)
        refused = self._refused(event, replies)
        if refused:
            if self._nack_policy() == flow.NACK_FAIL:
                self._fail_on_nack(event, refused)
            self._put_off(event, hostname, 'project(s) %s refused %s'
                          % (', '.join(refused), event))
            return False
        silent_own = self._silent_own_actions(on_host, replies)
        if silent_own and \
                self._silent_own_action() == flow.SILENT_OWN_SKIP_HOST:
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
        self._forget_legacy_host()
        return True

    def _skipped(self, hostname):
        """An admin skipped ``hostname`` (safe_point applied it): forget
        its exchange and cancel its steps not started; the handler chooses
        again."""
        with self.transaction():
            self._forget_legacy_host()
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
            self._forget_legacy_host()
            self.steps.cancel_pending(hostname, why=why)
        if event == st.PREPARE_MAINTENANCE:
            self._enable(self._host(hostname), 'deferred')

    # --- moving the instances of one host -----------------------------------
    def _default_action(self, project, constraint):
        ctype = (constraint or {}).get('migration_type')
        if ctype in (st.MIGRATE, st.LIVE_MIGRATE):
            return ctype, 'its constraint migration_type'
        if ctype == st.OWN_ACTION and project and project['has_manager']:
            return ctype, 'its constraint migration_type'
        return (CONF.workflow.default_migration_type,
                '[workflow] default_migration_type')

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

    def _empty_host(self, hostname, event, replies, moves):
        """Move every instance off ``hostname``
        (:class:`serial_runner.HostEmptier`); raise if one fails.

        Returns False when a pause or a skip of the host stopped it
        (the moves in flight finished; the others were not started).
        """
        return serial_runner.HostEmptier(self, hostname, event, replies,
                                         moves).run()

    # --- START_MAINTENANCE --------------------------------------------------
    def _disable_unmaintained(self):
        services = {s['host']: s for s in self.cloud.compute_services()}
        for host in self._computes():
            if not host['maintained'] and host['state'] != st.HOST_SKIPPED:
                self._disable(host, services)

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
        return self._after_computes()
