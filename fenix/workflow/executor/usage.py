# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The model of the cloud an :class:`~fenix.workflow.executor.Executor` keeps,
and its usage and capacity bookkeeping.

What it owns: ``servers``, ``on_host``, ``capacity``, ``services``,
``used`` and ``gcount`` (per host: resources and members per group, servers
where they are plus the room ``reserved`` for moves), ``epoch`` (bumped
when room may have changed), the constraints and the groups built from them
(re-read every ``CONSTRAINTS_REFRESH`` seconds, whole only when one
changed), the plan's order of hosts and its planned moves.
"""
import bisect
import time

from oslo_config import cfg

from fenix.common import states as st
from fenix.common import timeutils
from fenix.db import api as db_api
from fenix.workflow.executor import common
from fenix.workflow import nfv_plan
from fenix.workflow import session_flow as flow
from fenix.workflow import steps as plan_steps

CONF = cfg.CONF


class UsageMixin(object):
    """The executor's model of the cloud and its bookkeeping: Nova's
    servers, capacity and computes, the constraints and groups, the
    usage of every host (counted incrementally, room reserved for moves
    included) and the choice of targets."""

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
        # The stored plan is its steps (their hosts, waves and targets).
        host_order, self.planned = plan_steps.stored_plan(wf.steps.all())
        if not host_order:
            _, plan = wf._make_plan(servers, groups)
            wf._store_plan(plan)
            host_order, self.planned = plan_steps.stored_plan(
                wf.steps.all())
        hyper = {h['hostname']: h for h in wf.cloud.hypervisors()
                 if h.get('hostname')}
        self.capacity = {n: (h.get('vcpus') or 0, h.get('memory_mb') or 0,
                             h.get('local_gb') or 0)
                         for n, h in hyper.items()}
        self.services = {s['host']: s for s in wf.cloud.compute_services()}
        self.services_at = time.monotonic()
        self.server_groups = groups
        self._refresh_constraints(force=True)
        self.session_hosts = {h['hostname']: h for h in wf._computes()}
        self.any_maintained = any(h['maintained']
                                  for h in self.session_hosts.values())
        order = [h for h, _w in host_order]
        wave_of = dict(host_order)
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
        self.services_at = time.monotonic()
        self._recount()

    def _refresh_constraints(self, force=False, hosts=()):
        """Read the constraints (only when their version changed) and the
        compute services again, when due or ``force``d. ``hosts``: the
        hosts started since the last read, whose computes a forced read
        is for; they and the hosts maintained since (``enabled_hosts``)
        are read by themselves in a large cloud
        (:data:`common.SERVICES_PER_HOST_READ`), not with every compute.
        Returns whether the refresh was due (or forced)."""
        now = time.monotonic()
        if not force and \
                now - self.constraints_at < common.CONSTRAINTS_REFRESH:
            return False
        self.constraints_at = now
        self.session = self.wf.session
        # Which computes are up (a move from a down one waits: every
        # second while one is down) and which targets another session or
        # an operator disabled since (every SERVICES_REFRESH: a move such
        # a target refuses is placed again at once, see
        # MovesMixin._target_unusable); the computes of the hosts started
        # (``hosts``) or maintained (enabled again) since.
        due = getattr(self, 'down_since', None) or (
            hasattr(self, 'services_at') and
            now - self.services_at >= common.SERVICES_REFRESH)
        hosts = set(hosts) | getattr(self, 'enabled_hosts', set())
        if hasattr(self, 'services') and (force or due or hosts):
            self.enabled_hosts = set()
            if hosts and not due and len(self.services) > \
                    len(hosts) * common.SERVICES_PER_HOST_READ:
                for hostname in sorted(hosts):
                    self.services.update(
                        (s['host'], s) for s in
                        self.wf.cloud.compute_services(host=hostname))
            else:
                self.services = {s['host']: s
                                 for s in self.wf.cloud.compute_services()}
                self.services_at = now
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
            -common.CONSTRAINTS_SETTLE)

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

    def _unreserve(self, job):
        if job.target and job.iid in self.reserved.get(job.target, ()):
            self.reserved[job.target].remove(job.iid)
            self._count(self.used, self.gcount, job.target, job.iid, -1)
            self.epoch += 1

    def _host_names(self):
        """The hosts of the capacity, sorted (sorted again only when the
        capacity is another dict or has more hosts: hosts are only ever
        added to it)."""
        cached = getattr(self, '_sorted_hosts', None)
        if cached is None or cached[0] is not self.capacity or \
                len(cached[1]) != len(self.capacity):
            cached = (self.capacity, sorted(self.capacity))
            self._sorted_hosts = cached
        return cached[1]

    # The models the targets are derived from: Stamped dicts (whatever is
    # assigned), so that _targets sees which hosts changed.
    def _stamped(name):
        attr = '_' + name

        def get(self):
            return getattr(self, attr)

        def put(self, value):
            setattr(self, attr, common.stamped(value))
        return property(get, put)

    hstate = _stamped('hstate')
    services = _stamped('services')
    session_hosts = _stamped('session_hosts')
    del _stamped

    def _target_kind(self, name):
        """'good' (maintained, or not one of the session's hosts), 'later'
        (the session's, not maintained yet) or None (no target now)."""
        svc = self.services.get(name) or {}
        if svc.get('state', 'up') != 'up' or svc.get('forced_down'):
            return None
        if svc.get('status', 'enabled') != 'enabled':
            # Disabled by another session or an operator (this session's
            # own hosts are never targets while it has them disabled):
            # Nova would refuse the move.
            return None
        row = self.session_hosts.get(name)
        if row is None:
            return 'good'
        if row['disabled_by_operator'] or row['state'] == st.HOST_SKIPPED:
            return None
        state = self.hstate.get(name)
        if state == common.H_DONE:
            return 'good'
        if state == common.H_PENDING:
            return 'later'
        return None

    def _targets(self):
        """Hosts that may receive instances now, preferred first (each
        list by name).

        Kept between calls: only the hosts whose state, compute service
        or row changed since (the models are :class:`common.Stamped`) are
        looked at again, every host only when one of these models or the
        capacity was replaced. A pass that starts a host or a move then
        costs what changed, not every host of the cloud."""
        models = (self.hstate, self.services, self.session_hosts,
                  self.capacity, len(self.capacity))
        cache = getattr(self, '_targets_cache', None)
        if cache is None or any(
                a is not b for a, b in zip(cache['models'][:4], models)) or \
                cache['models'][4] != models[4]:
            kinds, lists = {}, {'good': [], 'later': []}
            for name in self._host_names():
                kind = self._target_kind(name)
                kinds[name] = kind
                if kind:
                    lists[kind].append(name)
            cache = {'models': models, 'kinds': kinds, 'lists': lists}
            self._targets_cache = cache
            for model in models[:3]:
                model.dirty.clear()
        else:
            changed = set()
            for model in models[:3]:
                changed |= model.dirty
                model.dirty.clear()
            kinds, lists = cache['kinds'], cache['lists']
            for name in changed:
                if name not in kinds:
                    continue    # not a host of the capacity: no target
                kind = self._target_kind(name)
                old = kinds[name]
                if kind == old:
                    continue
                if old:
                    lists[old].remove(name)
                if kind:
                    bisect.insort(lists[kind], name)
                kinds[name] = kind
        return list(cache['lists']['good']), list(cache['lists']['later'])

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
