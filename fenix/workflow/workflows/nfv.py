# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``nfv`` (also ``vnf``): rolling maintenance driven by the constraints
(SPEC 6, ETSI FEAT03).

The ``parallel`` policy of the session
:class:`~fenix.workflow.session_flow.SessionFlow` runs: discovery, the
Nova sync, the MAINTENANCE and MAINTENANCE_COMPLETE exchanges, SCALE_IN,
disabling, maintaining a host and moving one instance are shared with the
``default`` workflow (the ``serial`` policy) there. What this policy
decides:

MAINTENANCE
    As ``default``; then the planner (:mod:`fenix.workflow.planner`) plans
    the whole session from the registered constraints; the plan is kept in
    the session's ``plan`` (key ``nfv``) and, in the same transaction, as
    steps (:mod:`fenix.workflow.steps`): a restarted executor goes on from
    the step rows. Infeasible -> SCALE_IN. A
    ``dry_run`` session stores the plan (key ``dry_run``), records that it
    was a dry run and ends without touching anything.
START_MAINTENANCE
    ``pre`` plug-ins; computes left -> PLANNED_MAINTENANCE; else the
    controllers, ``post`` plug-ins -> MAINTENANCE_COMPLETE.
PLANNED_MAINTENANCE
    Executes the plan adaptively (:class:`fenix.workflow.executor.Executor`,
    whose module doc says how: waves, per-instance events within every
    group's budget, lead times, pauses and skips, computes down).
"""
from fenix.common import states as st
from fenix.db import api as db_api
from fenix.workflow import executor
from fenix.workflow import nfv_plan
from fenix.workflow import planner
from fenix.workflow import session_flow as flow
from fenix.workflow import steps as plan_steps


class NFVWorkflow(flow.SessionFlow):
    """The ``nfv`` workflow plug-in: the ``parallel`` policy."""

    # --- planning ------------------------------------------------------------
    def _plan_topology(self, servers=None, groups=None, limits=True):
        if servers is None:
            servers = [s for s in self.cloud.servers() if flow.alive(s)]
        if groups is None:
            groups = self.cloud.server_groups()
        constraints = {c['instance_id']: c
                       for c in db_api.instance_constraints_list()}
        rules = {g['group_id']: g
                 for g in db_api.instance_group_constraints_list()}
        return nfv_plan.build_topology(
            self.cloud.hypervisors(), self.cloud.compute_services(),
            self._computes(), servers, groups, constraints, rules,
            self.options if limits else {})

    def _make_plan(self, servers, groups):
        topo = self._plan_topology(servers, groups)
        plan = planner.plan_maintenance(topo)
        data = plan.to_dict()
        data['controllers'] = [
            h['hostname'] for h in self.hosts(type=st.CONTROLLER)
            if not h['maintained'] and h['state'] != st.HOST_SKIPPED]
        return plan, data

    def _next(self, servers, groups):
        open_hosts = [h['hostname'] for h in self._open_computes()]
        if not open_hosts:
            return (st.START_MAINTENANCE,
                    'no compute left to empty: start maintenance')
        plan, data = self._make_plan(servers, groups)
        self._store_plan(data)
        if plan.feasible:
            return (st.START_MAINTENANCE,
                    'plan: %d host(s) in %d wave(s), %d move(s), estimated '
                    '%ss (lower bound %ss)'
                    % (data['hosts'], len(data['waves']), data['moves'],
                       planner._num(round(plan.estimated_duration, 1)),
                       planner._num(round(plan.lower_bound, 1))))
        return st.SCALE_IN, 'no plan reaches every host: %s' % plan.message

    def _store_plan(self, data):
        """Keep the plan (the executor runs it) and its steps, in one
        transaction (steps of an earlier plan not started yet are
        cancelled), and its estimate (the ETA)."""
        hosts = {h['hostname']: h for h in self._computes()}
        plugins = db_api.action_plugins_get(self.session_id)
        with self.transaction():
            self._plan_update(nfv=data)
            self.steps.cancel_pending(why='planned again')
            self.steps.add(plan_steps.nfv_plan_steps(data, hosts, plugins))
        self._set_estimate(data, 'nfv')

    def _dry_run_plan(self, servers, groups):
        plan, data = self._make_plan(servers, groups)
        data['projects'] = {
            p['project_id']: {'has_manager': p['has_manager']}
            for p in db_api.projects_get(self.session_id)}
        self._plan_update(dry_run=data)
        self._set_estimate(data, 'nfv')
        order = '; '.join('wave %d: %s' % (w['index'], ', '.join(w['hosts']))
                          for w in data['waves']) or 'no compute'
        self._decision('dry run: %s; %d move(s), estimated %ss, lower bound '
                       '%ss%s; nothing was touched'
                       % (order, data['moves'],
                          planner._num(round(plan.estimated_duration, 1)),
                          planner._num(round(plan.lower_bound, 1)),
                          '' if plan.feasible else
                          '; not feasible: %s' % plan.message))
        return st.MAINTENANCE_COMPLETE

    # --- states --------------------------------------------------------------
    def prepare_maintenance(self):
        # Not entered by this workflow; a continued session goes on.
        return st.START_MAINTENANCE

    def start_maintenance(self):
        self._enable_maintained()
        self.safe_point()
        self.run_action_plugins(st.PLUGIN_PRE)
        return self._after_computes()

    def planned_maintenance(self):
        self._enable_maintained()
        executor.Executor(self).run()
        return st.START_MAINTENANCE

    # --- per-instance events ------------------------------------------------
    def _instance_event(self):
        if any(h['maintained'] for h in self._computes()):
            return st.PLANNED_MAINTENANCE
        return st.PREPARE_MAINTENANCE
