# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The one model of the cloud that every maintenance decision reads. Pure.

Plain dataclasses (:class:`Topology` of :class:`Host`, :class:`Instance`,
:class:`Group`, with :class:`Durations` and :class:`Limits`) built once per
pass from Nova and Fenix's records (:mod:`fenix.workflow.cloud_model`),
and :class:`Model`, the same topology digested for the planner
(:mod:`fenix.workflow.planner`), its lower bound
(:mod:`fenix.workflow.bounds`) and its validator
(:mod:`fenix.workflow.plan_check`): per-instance move kind and timing,
per-host usable capacity, per-group budget and per-host limit.

Capacity is what Nova's placement allows: the raw capacity times the
allocation ratio, less what the host reserves; an instance needs its
flavor, without the disk when it boots from a volume.
"""
import collections
import dataclasses
import math

from fenix.common import states

INFINITY = math.inf

# Nova server group policies (the soft ones are preferences only: they never
# forbid a placement).
AFFINITY = 'affinity'
ANTI_AFFINITY = 'anti-affinity'
SOFT_AFFINITY = 'soft-affinity'
SOFT_ANTI_AFFINITY = 'soft-anti-affinity'
GROUP_POLICIES = (AFFINITY, ANTI_AFFINITY, SOFT_AFFINITY, SOFT_ANTI_AFFINITY)


# --- Input -----------------------------------------------------------------

@dataclasses.dataclass(frozen=True, order=True)
class Resources(object):
    """vCPUs, RAM (MB) and disk (GB) of a host or an instance."""

    vcpus: float = 0
    memory_mb: float = 0
    disk_gb: float = 0

    @classmethod
    def of(cls, value):
        """A :class:`Resources` from itself, a dict, a sequence or None."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            return cls(value.get('vcpus', 0) or 0,
                       value.get('memory_mb', 0) or 0,
                       value.get('disk_gb', 0) or 0)
        return cls(*[part or 0 for part in value])

    def as_tuple(self):
        return (self.vcpus, self.memory_mb, self.disk_gb)

    def __iter__(self):
        return iter(self.as_tuple())

    def __add__(self, other):
        return Resources(*_add(self.as_tuple(), tuple(other)))

    def __sub__(self, other):
        return Resources(*_sub(self.as_tuple(), tuple(other)))

    def clip(self):
        """Negative parts as zero."""
        return Resources(*_clip(self.as_tuple()))

    def fits_in(self, other):
        return _fits(self.as_tuple(), tuple(other))

    def is_zero(self):
        return not any(part > 0 for part in self.as_tuple())

    def fraction_of(self, whole):
        """Sum of the parts relative to ``whole`` (a size score)."""
        score = 0.0
        for part, of in zip(self.as_tuple(), tuple(whole)):
            if of > 0:
                score += float(part) / of
            elif part > 0:
                score += float(part)
        return score

    @classmethod
    def total(cls, items):
        result = cls()
        for item in items:
            result = result + item
        return result

    def describe(self, skip_zero=True):
        """E.g. ``'2 vCPU / 4096 MB RAM'``: zero parts are left out unless
        ``skip_zero`` is False."""
        parts = []
        for value, unit in zip(self.as_tuple(),
                               ('vCPU', 'MB RAM', 'GB disk')):
            if value > 0 or not skip_zero:
                parts.append('%s %s' % (_num(value), unit))
        return ' / '.join(parts) if parts else 'nothing'

    def to_dict(self):
        return dataclasses.asdict(self)

    def scaled(self, ratios):
        """Each part times the matching part of ``ratios``."""
        return Resources(*[_scale(v, r) for v, r in
                           zip(self.as_tuple(), Resources.of(ratios)
                               .as_tuple())])

    def minus(self, other):
        """Part by part, never below zero."""
        return Resources(*_clip(_sub(self.as_tuple(),
                                     Resources.of(other).as_tuple())))


@dataclasses.dataclass
class Host(object):
    """A hypervisor (or a controller) and its part in the session.

    ``capacity``: the raw capacity (math.inf: not reported, no limit);
    ``allocation_ratios`` scale it and ``reserved`` is taken off it, as
    Nova's placement does (:meth:`usable`). ``maintainable``: in the
    session. ``schedulable``: may receive instances (False for an
    operator-disabled host; controllers never receive instances).
    ``maintained``: already done, so a preferred target and not maintained
    again. ``maintenance_time`` overrides the durations model for this host
    (its action plug-ins).
    """

    name: str
    capacity: Resources = Resources()
    type: str = states.COMPUTE
    maintainable: bool = True
    schedulable: bool = True
    maintained: bool = False
    maintenance_time: float = None
    allocation_ratios: Resources = Resources(1.0, 1.0, 1.0)
    reserved: Resources = Resources()

    @classmethod
    def from_dict(cls, data):
        data = dict(data)
        for key in ('capacity', 'reserved'):
            data[key] = Resources.of(data.get(key))
        if data.get('allocation_ratios') is not None:
            data['allocation_ratios'] = Resources.of(
                data['allocation_ratios'])
        return _build(cls, data)

    def usable(self):
        """What instances may use: capacity x ratios - reserved."""
        return Resources.of(self.capacity).scaled(
            self.allocation_ratios).minus(self.reserved)


@dataclasses.dataclass
class Instance(object):
    """An instance and its constraints (SPEC 3.3).

    ``max_interruption_time`` None means any interruption is acceptable.
    ``live_migratable`` False for instances Nova cannot live-migrate
    (e.g. PCI pass-through). ``resources``: its flavor; a
    ``volume_backed`` instance needs no disk on its host (:meth:`need`).
    ``active``: the active role of an HA pair, as its manager reports it;
    ``floating_ip``: holds one. Both make a move costlier.
    """

    instance_id: str
    host: str
    resources: Resources = Resources()
    project_id: str = None
    group_id: str = None
    max_interruption_time: float = None
    migration_type: str = states.MIGRATE
    lead_time: float = 0
    resource_mitigation: bool = False
    live_migratable: bool = True
    volume_backed: bool = False
    active: bool = False
    floating_ip: bool = False

    @classmethod
    def from_dict(cls, data):
        data = dict(data)
        data['resources'] = Resources.of(data.get('resources'))
        return _build(cls, data)

    def need(self):
        """What it takes on a host: its flavor, no disk when it boots from
        a volume."""
        res = Resources.of(self.resources)
        if self.volume_backed:
            return Resources(res.vcpus, res.memory_mb, 0)
        return res

    @property
    def important(self):
        """Holds a floating IP or an active role: costly to move."""
        return bool(self.floating_ip or self.active)


@dataclasses.dataclass
class Group(object):
    """An instance group's constraints (SPEC 3.3).

    ``max_instances_per_host`` 0 = unlimited. ``max_impacted_members`` below
    1 would forbid any move; it is planned as 1 and reported in the plan's
    warnings. ``policy``: the Nova server group's policy (one of
    :data:`GROUP_POLICIES` or None); ``anti-affinity`` sets
    ``anti_affinity``; ``affinity`` keeps the members on one host (they
    move together); the soft policies are preferences.
    """

    group_id: str
    anti_affinity: bool = False
    max_instances_per_host: int = 0
    max_impacted_members: int = 1
    recovery_time: float = 0
    resource_mitigation: bool = False
    policy: str = None

    def __post_init__(self):
        if self.policy == ANTI_AFFINITY:
            self.anti_affinity = True

    @classmethod
    def from_dict(cls, data):
        return _build(cls, data)

    @property
    def affinity(self):
        return self.policy == AFFINITY

    def per_host_limit(self):
        """Most members one host may hold (math.inf: no limit): one for
        anti-affinity unless ``max_instances_per_host`` allows more (Nova's
        ``max_server_per_host`` rule)."""
        if self.max_instances_per_host:
            return self.max_instances_per_host
        return 1 if self.anti_affinity else INFINITY


@dataclasses.dataclass
class Durations(object):
    """How long things take, in seconds.

    ``live_interruption``: the outage at the end of a live migration.
    ``own_action_interruption``: the outage of an OWN_ACTION; None means
    the whole action. ``host_maintenance`` (the host action plug-ins) can be
    set per host type in ``by_host_type`` and per host in
    :attr:`Host.maintenance_time`. ``lead_time``: notice every instance
    gets at least (an instance's own ``lead_time`` may ask for more).
    """

    cold_migration: float = 180
    live_migration: float = 60
    live_interruption: float = 1
    own_action: float = 300
    own_action_interruption: float = None
    host_maintenance: float = 900
    by_host_type: dict = dataclasses.field(default_factory=dict)
    lead_time: float = 0

    @classmethod
    def from_dict(cls, data):
        return _build(cls, data)


@dataclasses.dataclass
class Limits(object):
    """Admin limits; None = unlimited.

    ``max_parallel_controllers`` keeps the control plane up: by default one
    controller at a time.
    """

    max_parallel_hosts: int = None
    max_concurrent_migrations: int = None
    max_parallel_controllers: int = 1

    @classmethod
    def from_dict(cls, data):
        return _build(cls, data)


@dataclasses.dataclass
class Topology(object):
    """Everything the planner looks at."""

    hosts: list
    instances: list = dataclasses.field(default_factory=list)
    groups: list = dataclasses.field(default_factory=list)
    durations: Durations = dataclasses.field(default_factory=Durations)
    limits: Limits = dataclasses.field(default_factory=Limits)

    @classmethod
    def from_dict(cls, data):
        """Build from JSON-like data (lists of dicts, nested dicts)."""
        return cls(
            hosts=[_obj(Host, h) for h in data.get('hosts') or ()],
            instances=[_obj(Instance, i)
                       for i in data.get('instances') or ()],
            groups=[_obj(Group, g) for g in data.get('groups') or ()],
            durations=_obj(Durations, data.get('durations') or {}),
            limits=_obj(Limits, data.get('limits') or {}))

    def check(self):
        """Raise ValueError naming the first inconsistent field."""
        names = set()
        for host in self.hosts:
            if host.name in names:
                raise ValueError('host %s is listed twice' % host.name)
            names.add(host.name)
            if host.type not in states.HOST_TYPES:
                raise ValueError('host %s: unknown type %r'
                                 % (host.name, host.type))
            _non_negative('host %s: maintenance_time' % host.name,
                          host.maintenance_time)
            _check_resources('host %s: capacity' % host.name, host.capacity)
            _check_resources('host %s: reserved' % host.name, host.reserved)
            _check_resources('host %s: allocation_ratios' % host.name,
                             host.allocation_ratios)
        ids = set()
        for inst in self.instances:
            if inst.instance_id in ids:
                raise ValueError('instance %s is listed twice'
                                 % inst.instance_id)
            ids.add(inst.instance_id)
            if inst.host not in names:
                raise ValueError('instance %s: unknown host %r'
                                 % (inst.instance_id, inst.host))
            if (inst.migration_type or states.MIGRATE) \
                    not in states.INSTANCE_ACTIONS:
                raise ValueError('instance %s: unknown migration_type %r'
                                 % (inst.instance_id, inst.migration_type))
            _non_negative('instance %s: lead_time' % inst.instance_id,
                          inst.lead_time)
            _check_resources('instance %s: resources' % inst.instance_id,
                             inst.resources)
            _non_negative('instance %s: max_interruption_time'
                          % inst.instance_id, inst.max_interruption_time)
        gids = set()
        for group in self.groups:
            if group.group_id in gids:
                raise ValueError('group %s is listed twice' % group.group_id)
            gids.add(group.group_id)
            _non_negative('group %s: recovery_time' % group.group_id,
                          group.recovery_time)
            _non_negative('group %s: max_instances_per_host'
                          % group.group_id, group.max_instances_per_host)
            if group.policy is not None and \
                    group.policy not in GROUP_POLICIES:
                raise ValueError('group %s: unknown policy %r'
                                 % (group.group_id, group.policy))
        for field in dataclasses.fields(Durations):
            if field.name != 'by_host_type':
                _non_negative('durations: %s' % field.name,
                              getattr(self.durations, field.name))
        for htype, value in self.durations.by_host_type.items():
            _non_negative('durations: by_host_type %s' % htype, value)
        for field in dataclasses.fields(Limits):
            value = getattr(self.limits, field.name)
            if value is not None and value < 1:
                raise ValueError('limits: %s must be at least 1 or None'
                                 % field.name)


def _obj(cls, value):
    return value if isinstance(value, cls) else cls.from_dict(value)


def _build(cls, data):
    known = set(f.name for f in dataclasses.fields(cls))
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError('%s: unknown field(s) %s'
                         % (cls.__name__, ', '.join(unknown)))
    return cls(**data)


def _check_resources(what, value):
    for part, unit in zip(Resources.of(value).as_tuple(),
                          ('vcpus', 'memory_mb', 'disk_gb')):
        _non_negative('%s %s' % (what, unit), part)


def _non_negative(what, value):
    if value is not None and value < 0:
        raise ValueError('%s must not be negative' % what)


def _scale(value, ratio):
    scaled = value * ratio
    if isinstance(scaled, float) and scaled.is_integer():
        return int(scaled)
    return scaled


def _num(value):
    return ('%d' % value) if float(value).is_integer() else ('%g' % value)


# --- Rules shared by the planner, the bound and the validator -------------

def choose_move_kind(instance, durations):
    """(kind, warning or None) for moving ``instance`` (SPEC 6).

    OWN_ACTION and LIVE_MIGRATE when the instance asks for them; a MIGRATE
    instance is live-migrated when a cold migration would interrupt it for
    longer than ``max_interruption_time`` and a live one would not; when
    neither fits it is still cold-migrated and the warning says so.
    """
    wanted = instance.migration_type or states.MIGRATE
    limit = instance.max_interruption_time
    iid = instance.instance_id
    cold = move_timing(states.MIGRATE, durations)[1]
    live = move_timing(states.LIVE_MIGRATE, durations)[1]
    if wanted == states.OWN_ACTION:
        return states.OWN_ACTION, None
    if wanted == states.LIVE_MIGRATE:
        if not instance.live_migratable:
            return states.MIGRATE, (
                'instance %s asks for live migration but cannot be '
                'live-migrated: cold migration (%ss outage)'
                % (iid, _num(cold)))
        if limit is not None and live > limit:
            return states.LIVE_MIGRATE, (
                'instance %s: live migration interrupts it for %ss, more '
                'than its max_interruption_time %ss'
                % (iid, _num(live), _num(limit)))
        return states.LIVE_MIGRATE, None
    if limit is None or cold <= limit:
        return states.MIGRATE, None
    if instance.live_migratable and live <= limit:
        return states.LIVE_MIGRATE, None
    return states.MIGRATE, (
        'instance %s: no move fits its max_interruption_time %ss (cold %ss%s)'
        '; cold migration planned'
        % (iid, _num(limit), _num(cold),
           ', live %ss' % _num(live) if instance.live_migratable
           else ', cannot live-migrate'))


def move_timing(kind, durations):
    """(duration, interruption) in seconds of a move of ``kind``.

    The interruption is at the end of the move.
    """
    if kind == states.LIVE_MIGRATE:
        dur = durations.live_migration
        return dur, min(durations.live_interruption, dur)
    if kind == states.OWN_ACTION:
        dur = durations.own_action
        if durations.own_action_interruption is None:
            return dur, dur
        return dur, min(durations.own_action_interruption, dur)
    dur = durations.cold_migration
    return dur, dur


def _add(a, b):
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _sub(a, b):
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _clip(a):
    return (max(a[0], 0), max(a[1], 0), max(a[2], 0))


def _fits(need, free):
    return need[0] <= free[0] and need[1] <= free[1] and need[2] <= free[2]


_ZERO = (0, 0, 0)


class Model(object):
    """The topology digested: per-instance moves, per-host times, budgets."""

    def __init__(self, topology):
        topology.check()
        self.topology = topology
        self.durations = topology.durations
        self.limits = topology.limits
        self.hosts = collections.OrderedDict(
            (h.name, h) for h in topology.hosts)
        self.groups = {g.group_id: g for g in topology.groups}
        self.instances = collections.OrderedDict(
            (i.instance_id, i) for i in topology.instances)
        self.warnings = []
        # The lower bound, once computed (fenix.workflow.bounds).
        self.bound_cache = None
        # Hosts to maintain, in input order.
        self.todo = [h.name for h in topology.hosts
                     if h.maintainable and not h.maintained]
        self.todo_set = set(self.todo)
        self.maint = {}
        for host in topology.hosts:
            if host.maintenance_time is not None:
                self.maint[host.name] = host.maintenance_time
            else:
                self.maint[host.name] = self.durations.by_host_type.get(
                    host.type, self.durations.host_maintenance)
        self.target_ok = {h.name: bool(h.schedulable and
                                       h.type == states.COMPUTE)
                          for h in topology.hosts}
        self.capacity = {h.name: h.usable().as_tuple()
                         for h in topology.hosts}
        self.res = {}
        self.kind = {}
        self.dur = {}
        self.ilen = {}
        self.lead = {}
        self.kind_warning = {}
        self.on_host = collections.OrderedDict(
            (h.name, []) for h in topology.hosts)
        self.members = collections.defaultdict(list)
        for inst in topology.instances:
            iid = inst.instance_id
            self.res[iid] = inst.need().as_tuple()
            kind, warning = choose_move_kind(inst, self.durations)
            self.kind[iid] = kind
            self.kind_warning[iid] = warning
            self.dur[iid], self.ilen[iid] = move_timing(kind,
                                                        self.durations)
            self.lead[iid] = max(inst.lead_time or 0,
                                 self.durations.lead_time or 0)
            self.on_host[inst.host].append(iid)
            if inst.group_id in self.groups:
                self.members[inst.group_id].append(iid)
        self.usage0 = {name: _ZERO for name in self.hosts}
        for iid, inst in self.instances.items():
            self.usage0[inst.host] = _add(self.usage0[inst.host],
                                          self.res[iid])
        # Per group: effective budget, per-host limit, recovery.
        self.budget = {}
        self.per_host = {}
        self.recovery = {}
        for gid, group in self.groups.items():
            budget = group.max_impacted_members
            if budget is None or budget < 1:
                self.warnings.append(
                    'group %s: max_impacted_members %r allows no member out '
                    'of service; planned as 1' % (gid, budget))
                budget = 1
            self.budget[gid] = budget
            self.per_host[gid] = group.per_host_limit()
            self.recovery[gid] = group.recovery_time or 0
        # The group of each instance (None: no registered group) and the
        # groups whose budget can ever hold a move back.
        self.gid = {iid: (inst.group_id if inst.group_id in self.groups
                          else None)
                    for iid, inst in self.instances.items()}
        self.bound = {gid for gid in self.groups
                      if self.budget[gid] < len(self.members[gid])}
        # Per instance: (group, notice, move duration, out of service
        # span, budget if the budget binds else 0).
        self.info = {}
        for iid, gid in self.gid.items():
            if gid in self.bound:
                self.info[iid] = (gid, self.lead[iid], self.dur[iid],
                                  self.ilen[iid] + self.recovery[gid],
                                  self.budget[gid])
            else:
                self.info[iid] = (gid, self.lead[iid], self.dur[iid], 0, 0)

    def offset(self, iid):
        """Seconds from a move's start to the start of its interruption."""
        return self.dur[iid] - self.ilen[iid]

    def is_controller(self, name):
        return self.hosts[name].type == states.CONTROLLER

    def per_host_moves(self):
        """Mean number of instances on a host to maintain."""
        if not self.todo:
            return 0
        return sum(len(self.on_host[h]) for h in self.todo) / len(self.todo)
