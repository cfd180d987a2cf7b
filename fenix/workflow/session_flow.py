# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""SessionFlow: the maintenance session both workflow policies run.

``default`` (:mod:`fenix.workflow.workflows.default`, the ``serial``
policy: one host at a time) and ``nfv`` (:mod:`fenix.workflow.workflows.
nfv`, the ``parallel`` policy: the planner's waves, run by its executor)
are two policies of one session. What they share is here; each adds only
how hosts are chosen and emptied. Neither imports the other.

This is a module of its own rather than part of :mod:`fenix.workflow.base`:
``BaseWorkflow`` is what *every* workflow plug-in gets (events, replies,
plug-in runs, admin control; ``wait_reply`` uses it alone), while this is
one shape of session built on it (discovery, the Nova sync, the exchanges
with projects, SCALE_IN, maintaining a host). Kept apart, each stays one
concern and a readable size.

The shared phases:

MAINTENANCE
    Discover the hosts (the requested ones, else every nova-compute host)
    and the instances on them (the engine fetched the session's downloads
    before the first step); tell every project with a manager (reply
    window; ``actions_at`` is ``maintenance_at``: Fenix never starts
    earlier); wait until every project answered or the deadline passed,
    and until ``maintenance_at``; then the policy decides (:meth:`_next`).
    A ``dry_run`` session has the policy compute its plan into the
    session's ``plan`` (:meth:`_dry_run_plan`) and ends without notifying
    anyone or touching a host.
SCALE_IN
    Ask projects that allow it to scale in; re-read Nova; decide again.
    A round that frees nothing fails, naming what is missing.
MAINTENANCE_COMPLETE
    Every host this session disabled is enabled; projects may scale out
    again.

Also shared: disabling and enabling nova-compute, maintaining one host
(IN_MAINTENANCE, its plug-ins, MAINTENANCE_COMPLETE, enable), the
controllers after the computes, moving one instance (and finishing, after
a restart, the moves no engine watched) and cleanup.

Decisions of note (all written to the session history):

* A silent project, or one without a manager, gets the default action for
  each instance (the policy's choice; see each workflow).
* A NACK follows ``nack_policy`` (session option, else ``[workflow]``):
  ``fail`` fails the session naming the project; ``skip_host`` defers the
  host(s) concerned to the end, and a host refused a second time is
  skipped (left unmaintained, recorded).
* A compute whose nova-compute an operator disabled is skipped when hosts
  were discovered; when the admin named it in ``hosts`` it is maintained
  (it is never a target and never enabled by Fenix).

Every phase is safe to run again after an engine restart: an exchange
sent (event, deadline, the id of each project's event) is kept in its
``notify_project`` steps (the session's, or a host's) and not sent again,
the MAINTENANCE exchange weighed in ``sessions.told`` and the usage
before a scale-in round in the session's ``scale_in_used_*`` columns; a
move step RUNNING is watched again, not started; a host whose
IN_MAINTENANCE was announced is not announced again and plug-in runs
already DONE are skipped. A continued session (PUT) asks the projects
again (:meth:`restart_step`); a retried one keeps their answers.
"""
from oslo_config import cfg
from oslo_log import log as logging

from fenix.common import estimate
from fenix.common import exception
from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.workflow import base
from fenix.workflow import model
from fenix.workflow import nfv_plan
from fenix.workflow import serial
from fenix.workflow import steps as plan_steps

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

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
# The session's columns of the usage before a scale-in round (vCPUs, RAM,
# disk: the order of model.Resources).
SCALE_IN_USED = ('scale_in_used_vcpus', 'scale_in_used_ram_mb',
                 'scale_in_used_disk_gb')


def disable_reason(session_id):
    return 'fenix maintenance %s' % session_id


def alive(server):
    """Not on its way out (a VNFM scaling in deletes instances)."""
    return ((server.get('status') or '').upper() not in GONE_STATUSES and
            server.get('task_state') != 'deleting')


def busy(server):
    """A move or another task of Nova's is under way on ``server``."""
    return bool(server.get('task_state')) or \
        (server.get('status') or '').upper() == 'VERIFY_RESIZE'


class SessionFlow(base.BaseWorkflow):
    """The session phases shared by the ``default`` and ``nfv`` policies.

    A policy implements :meth:`_next`, :meth:`_dry_run_plan` and the
    handlers of START_MAINTENANCE, PREPARE_MAINTENANCE (if it enters it)
    and PLANNED_MAINTENANCE; it may give :meth:`_estimate`.
    """

    HOSTS_FROM_NOVA = True

    # --- what a policy decides ----------------------------------------------
    def _next(self, servers, groups):
        """(next state, why) once projects were told (MAINTENANCE, and
        SCALE_IN after each round)."""
        raise NotImplementedError()

    def _dry_run_plan(self, servers, groups):
        """Compute the plan into the session's ``plan`` (key
        ``dry_run``) and its estimate, touching nothing; returns the next
        state."""
        raise NotImplementedError()

    def _estimate(self, servers):
        """The session's ``estimate`` (the ETA) of a real run, set before
        the projects are told. None here: a policy whose plan is made
        after the exchange brings its estimate with its plan."""

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

    def _forget_legacy_host(self):
        """Drop what a session made by an older engine kept in its plan
        of the host being emptied (``current``, ``targets``); written only
        when there is something to drop."""
        if any(k in self._plan() for k in ('current', 'targets')):
            self._plan_update(current=None, targets=None)

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
        servers = [s for s in self.cloud.servers() if alive(s)]
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

    def _usage(self, servers):
        in_scope = {h['hostname'] for h in self._computes()}
        return model.Resources.total(
            nfv_plan.instance_of(s, None, None).need() for s in servers
            if s['host'] in in_scope)

    # --- exchanges with projects --------------------------------------------
    def _exchange(self, key, event, projects, hostname=None, told=None,
                  **kwargs):
        """Send ``event`` to ``projects`` and wait for their replies.

        ``key`` names this exchange (for the log). A session-wide exchange
        (no ``hostname``) is kept as a notify_project step per project
        without a host, marked RUNNING with the event's id and deadline in
        the transaction that records the events, DONE by
        :meth:`_exchange_done`: while they run (an engine restart, a
        retried session) nothing is sent again and a reply given meanwhile
        (to those ids) counts. Only a reply to an event of this exchange
        counts. ``hostname``: the host it is about (nothing is sent once an
        admin skipped it); ``told``: {project_id: :func:`steps.sent_of`}
        of its events already sent, from the host's notify steps (the
        policy reads them). Returns {project_id: reply or None}.
        """
        running = [] if (told or hostname) else self._exchange_steps(event)
        if told:
            # Sent before a restart (the host's notify steps say so): the
            # replies to those events count, nothing is sent again.
            projects = sorted(told)
            deadline = max(r['reply_at'] for r in told.values())
            event_ids = {pid: r.get('event_id') for pid, r in told.items()}
        elif running:
            projects = sorted(s['project_id'] for s in running)
            deadline = max([s['reply_at'] for s in running
                            if s['reply_at']] or [timeutils.utcnow()])
            event_ids = {s['project_id']: s['event_id'] for s in running}
            if not all(event_ids.values()):
                # Carried over from an engine that had no event ids: the
                # rows have them if they were written since.
                event_ids.update(
                    (p['project_id'], p['event_id'])
                    for p in db_api.projects_get(self.session_id)
                    if p['project_id'] in event_ids and
                    not event_ids[p['project_id']] and
                    p['event'] == event and p['event_id'])
        else:
            if not projects or not self.safe_point(hostname):
                return {}

            def keep(sent):
                if hostname:
                    # The host's notify steps keep the exchange.
                    for pid in projects:
                        self.mark_step(
                            st.STEP_NOTIFY_PROJECT, hostname, event='done',
                            values=plan_steps.event_values(
                                sent, pid, kwargs.get('actions_at')),
                            project_id=pid, event_name=event)
                    return
                # The session's exchange: its notify steps run until its
                # replies were weighed (a new round is a new attempt).
                for pid in projects:
                    self.mark_step(
                        st.STEP_NOTIFY_PROJECT, None, event='start',
                        bump_attempt=True, values=plan_steps.event_values(
                            sent, pid, kwargs.get('actions_at')),
                        project_id=pid, event_name=event)
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

    def _host_moves(self, event, live=True):
        """Move steps of hosts chosen for ``event``; only those not over
        (PENDING, RUNNING, FAILED) when ``live``."""
        return [s for s in self.steps.all()
                if s['kind'] in plan_steps.MOVE_KINDS and
                (s['inputs'] or {}).get('event') == event and
                (not live or s['state'] not in st.STEP_OVER)]

    def _exchange_steps(self, event, state=st.STEP_RUNNING):
        """The notify steps of the session-wide exchange of ``event`` (no
        host) in ``state``."""
        return [s for s in self.steps.all()
                if s['kind'] == st.STEP_NOTIFY_PROJECT and not s['host'] and
                (s['inputs'] or {}).get('event') == event and
                s['state'] == state]

    def _exchange_done(self, event, **values):
        """The replies to the session-wide exchange of ``event`` were
        weighed: its notify steps are DONE (with ``values``, columns of
        the session, set in the same transaction)."""
        with self.transaction():
            for step in self._exchange_steps(event):
                self.mark_step(st.STEP_NOTIFY_PROJECT, None, event='done',
                               project_id=step['project_id'],
                               event_name=event)
            if values:
                db_api.session_update(self.session_id, values)

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
        refusals = (host.get('refusals') or 0) + 1
        if refusals >= MAX_REFUSALS:
            details['skipped'] = why
            details.pop('deferred', None)
            with self.transaction():
                db_api.host_update(self.session_id, hostname,
                                   {'details': details,
                                    'refusals': refusals,
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
                               {'details': details, 'refusals': refusals})
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
            state = self._dry_run_plan(servers, groups)
            self._dry_run_checks()
            return state
        if not session.get('estimate'):
            self._estimate(servers)
        if not db_api.session_get(self.session_id)['told']:
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

    def _dry_run_checks(self):
        """The session's action plug-ins, in a dry run: those with a check
        mode run in it (``ansible --check``, a script with
        ``FENIX_CHECK=1``), in the order of a real run: ``pre``, then each
        host of the plan (its ``host``, type and ``controller``
        plug-ins), then ``post``. What each said goes to the plan
        (``dry_run.plugin_checks``) and the history; a failed check does
        not end the dry run."""
        if not db_api.action_plugins_get(self.session_id):
            return
        dry = dict(self._plan().get('dry_run') or {})
        order = [h for w in dry.get('waves') or () for h in w['hosts']]
        hosts = sorted(
            (h for h in self.hosts()
             if not h['maintained'] and h['state'] != st.HOST_SKIPPED),
            key=lambda h: (order.index(h['hostname'])
                           if h['hostname'] in order else len(order),
                           h['type'] != st.COMPUTE, h['hostname']))
        checks = self.check_action_plugins(st.PLUGIN_PRE)
        for host in hosts:
            checks += self.check_action_plugins(st.PLUGIN_HOST, host)
            checks += self.check_action_plugins(host['type'], host)
            if host['type'] == st.COMPUTE and \
                    (host['details'] or {}).get('controller'):
                checks += self.check_action_plugins(st.PLUGIN_CONTROLLER,
                                                    host)
        checks += self.check_action_plugins(st.PLUGIN_POST)
        dry['plugin_checks'] = checks
        self._plan_update(dry_run=dry)
        failed = ['%s %s on %s: %s' % (c['type'], c['plugin'],
                                       c['host'] or 'session', c['message'])
                  for c in checks if c['checked'] and not c['ok']]
        unchecked = sorted({c['plugin'] for c in checks if not c['checked']})
        self._decision(
            'dry run: %d plug-in run(s) in check mode, %d failed%s%s' % (
                len([c for c in checks if c['checked']]), len(failed),
                ''.join('; ' + f for f in failed),
                '; not run (no check mode): %s' % ', '.join(unchecked)
                if unchecked else ''))

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
        self._exchange_done(st.MAINTENANCE, told=True)

    def _set_estimate(self, plan, source):
        """The session's ``estimate`` (for the ETA) of a plan dict."""
        db_api.session_update(self.session_id, {
            'estimate': estimate.of_plan(
                plan, nfv_plan.durations_of(self.options), source)})

    # --- SCALE_IN -----------------------------------------------------------
    def _may_scale_in(self, project_id):
        """Projects that registered constraints must allow mitigation."""
        rules = db_api.instance_constraints_list(project_id=project_id) + \
            db_api.instance_group_constraints_list(project_id=project_id)
        if not rules:
            return True
        return any(r.get('resource_mitigation') for r in rules)

    def _scale_in_used(self, used):
        """Keep (None: forget) the usage before the scale-in round in
        flight, in the session's columns: a restart measures what the
        round freed against it."""
        values = list(used) if used is not None else [None] * 3
        db_api.session_update(self.session_id,
                              dict(zip(SCALE_IN_USED, values)))

    def scale_in(self):
        servers, groups = self._sync()
        pending = bool(self._exchange_steps(st.SCALE_IN))
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
            self._scale_in_used(self._usage(servers))
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
        row = db_api.session_get(self.session_id)
        before = model.Resources(*(row[c] or 0 for c in SCALE_IN_USED))
        freed = before - self._usage(servers)
        self._exchange_done(st.SCALE_IN)
        nxt = self._decide(servers, groups)
        if nxt != st.SCALE_IN:
            self._scale_in_used(None)
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
        self._scale_in_used(None)
        return st.SCALE_IN

    # --- moving one instance ------------------------------------------------
    def _move(self, srv, action, target, resume, cancelled, apart_from=()):
        """One move, in a worker thread. Returns the Cloud's result.

        To ``target`` only, never where Nova's scheduler chooses (that
        room may be reserved for another instance): a target that
        refused the move (``target_refused``) or a failed move is placed
        again by the caller, from the model
        (:meth:`fenix.workflow.serial_runner.HostEmptier._place_again`).
        ``cancelled``: set when the session stops (the caller then places
        nothing again). ``apart_from``: its anti-affinity peers, read
        before Nova is asked (:meth:`fenix.common.cloud.Cloud.move`).
        """
        if resume:
            result = self.cloud.wait_for_move(srv['id'], srv['host'],
                                              action)
            result.setdefault('attempts', 0)
            if result['ok']:
                return result
        return self.cloud.move(srv['id'], action, host=target,
                               apart_from=apart_from)

    def _move_finished(self, hostname, row, action, future, failures,
                       project=None, within=None):
        """Record a move's outcome (``future``'s result). ``project``: the
        instance's project row when the caller has it (saves a read).
        ``within``: called (no arguments) inside the transaction that
        records the outcome (the executor releases the move's slot of its
        group's budget there)."""
        iid = row['instance_id']
        try:
            result = future.result()
        except exception.SessionFenced:
            # Another engine owns the session now (warned once by the
            # fence): nothing is recorded, the new owner sees it through.
            raise
        except Exception as e:  # noqa - a bug must fail the move, loudly
            LOG.exception('Move of %s failed', iid)
            result = {'ok': False, 'host': None, 'attempts': 1,
                      'message': '%s: %s' % (e.__class__.__name__, e)}
        attempts = (row['action_attempts'] or 0) + \
            (result.get('attempts') or 0)
        if result['ok']:
            # The move recorded done and INSTANCE_ACTION_DONE together
            # (one update of the row when the project has a manager).
            change = ({'action_state': st.ACTION_DONE,
                       'host': result['host'],
                       'action_attempts': attempts,
                       'action_message': result.get('message')},
                      st.EVENT_ACTION, '%s of instance %s from %s done: now '
                      'on %s' % (action, iid, hostname, result['host']),
                      dict(project_id=row['project_id'], host=hostname,
                           state=st.ACTION_DONE))

            # A deadlock's victim (MariaDB) is recorded again, whole: the
            # move is done in Nova whatever the database chose.
            @db_api.retry_on_deadlock
            def record_done():
                with self.transaction():
                    if not self._action_done(row, change, project):
                        values, kind, text, kwargs = change
                        self.update_instance(iid, values, kind, text,
                                             **kwargs)
                    self.mark_step(st.STEP_MOVE, hostname, iid, 'done',
                                   values={'message': result.get('message'),
                                           'result': {
                                               'action': action,
                                               'host': result['host']}})
                    if within is not None:
                        within()
            record_done()
            return
        message = result.get('message') or 'no reason given'

        @db_api.retry_on_deadlock
        def record_failed():
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
                if within is not None:
                    within()
        record_failed()
        failures.append('%s of instance %s (%s) failed after %d attempt(s):'
                        ' %s' % (action, iid, row['instance_name'],
                                 attempts, message))

    def _action_done(self, row, change=None, project=None):
        """INSTANCE_ACTION_DONE, to a project that has a manager (with
        ``change``, the caller's update of the row: see
        :meth:`instance_action_done`). True when it was recorded.
        ``project``: the project's row if the caller has it (else read)."""
        if project is None:
            try:
                project = db_api.project_get(self.session_id,
                                             row['project_id'])
            except exception.NotFound:
                return False
        if project['has_manager']:
            self.instance_action_done(row, change)
            return True
        return False

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
                    # Its slot of its group's budget (taken by the runner
                    # that started the move) holds its recovery, then
                    # frees: not until its lease ends.
                    db_api.group_impact_release_ended(self.session_id,
                                                      row['instance_id'])
            elif srv['host'] != hostname:
                if busy(srv):
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
                            db_api.group_impact_release_ended(
                                self.session_id, row['instance_id'])
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
                    db_api.group_impact_release_ended(self.session_id,
                                                      row['instance_id'])
                    self._action_done(row)

    # --- nova-compute and maintaining one host ------------------------------
    def _disable(self, host, services=None, deferred=False):
        """Disable nova-compute on one host unless it is already.

        The DB says it is ours before Nova is asked, so that cleanup after
        a crash enables it.

        ``deferred``: the history entry saying it was disabled is not
        written here but returned (None when nothing was disabled), for
        the caller to write in the transaction of its own next write (one
        commit fewer between disabling a host and its instances' events).
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
        message = 'nova-compute disabled on %s' % hostname
        if deferred:
            return message
        self.record(st.EVENT_HOST, message, host=hostname)

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

    def _maintain_controllers(self):
        """The session's controllers, after the computes, one at a time."""
        for host in self.hosts(type=st.CONTROLLER):
            if not host['maintained'] and host['state'] != st.HOST_SKIPPED \
                    and self.safe_point(host['hostname']):
                self._maintain(host)

    def _after_computes(self):
        """The end of START_MAINTENANCE, the same in every workflow of
        this kind: PLANNED_MAINTENANCE while computes are still to
        maintain (they are emptied there first); once none is, the
        controllers, the ``post`` action plug-ins and MAINTENANCE_COMPLETE.
        """
        if self._open_computes():
            return st.PLANNED_MAINTENANCE
        self._maintain_controllers()
        self.safe_point()
        self.run_action_plugins(st.PLUGIN_POST)
        return st.MAINTENANCE_COMPLETE

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
        self._exchange_done(st.MAINTENANCE_COMPLETE)
        return st.MAINTENANCE_DONE

    # --- cleanup ------------------------------------------------------------
    def restart_step(self):
        """A continued session (PUT) asks the projects again: forget the
        exchange under way and the host it was about. (A retry keeps
        them: the answers given stand.)"""
        self._forget_legacy_host()
        self.steps.reload()
        # The session's exchange under way is sent again (a new attempt).
        ids = [s['id'] for s in self.steps.all()
               if s['kind'] == st.STEP_NOTIFY_PROJECT and not s['host'] and
               s['state'] == st.STEP_RUNNING]
        db_api.steps_transition(self.session_id, ids, 'requeue',
                                values={'message': 'continued: the '
                                        'projects are asked again'})
        # The host being emptied is chosen again, with new steps.
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
