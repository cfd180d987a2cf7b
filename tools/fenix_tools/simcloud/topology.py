# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Topology files: what the simulated cloud contains when it starts.

A topology is a YAML or JSON mapping; every key is optional. See
``doc/source/simcloud.rst`` and ``etc/simcloud/*.yaml`` for the format.
:func:`load` reads a file, :func:`normalize` checks a mapping and fills in
the defaults, :func:`generate` builds a large cloud programmatically (also
reachable from a file through a ``generate:`` key).
"""
import copy
import json
import os

import yaml

from fenix_tools.simcloud import util

DEFAULT_TIMING = {
    # seconds; a migration completes on a timer, not on the next poll
    'cold_migration': 0.2,
    'live_migration': 0.2,
    'evacuate': 0.2,
    'confirm_resize': 0.0,
    'revert_resize': 0.0,
    'boot': 0.1,
    'delete': 0.0,
    # Nova's service_down_time: a crashed compute still reads 'up' this
    # long (0: down at once)
    'service_down_time': 0.0,
}

DEFAULT_HOST = {
    'compute': {'vcpus': 8, 'memory_mb': 16384, 'disk_gb': 160},
    'controller': {'vcpus': 8, 'memory_mb': 16384, 'disk_gb': 160},
}

# The software version of a host no topology names one for.
DEFAULT_HOST_VERSION = '1.0'

DEFAULT_FLAVORS = [
    {'id': '1', 'name': 'm1.tiny', 'vcpus': 1, 'ram': 512, 'disk': 1},
    {'id': '2', 'name': 'm1.small', 'vcpus': 1, 'ram': 2048, 'disk': 20},
    {'id': '3', 'name': 'm1.medium', 'vcpus': 2, 'ram': 4096, 'disk': 40},
    {'id': '4', 'name': 'm1.large', 'vcpus': 4, 'ram': 8192, 'disk': 80},
]

DEFAULT_PROJECTS = [{'name': 'admin'}, {'name': 'service'}]

DEFAULT_USERS = [
    {'name': 'admin', 'password': 'adminpass', 'roles': {'admin': ['admin']}},
    {'name': 'fenix', 'password': 'fenixpass',
     'roles': {'service': ['admin']}},
]

HOST_TYPES = ('compute', 'controller')
BINARIES = {'compute': ('nova-compute',),
            'controller': ('nova-conductor', 'nova-scheduler')}
GROUP_POLICIES = ('anti-affinity', 'affinity', 'soft-anti-affinity',
                  'soft-affinity')
ROLES = ('admin', 'member', 'reader', 'service')
MIGRATION_TYPES = ('any', 'cold', 'live', 'evacuate')


class TopologyError(ValueError):
    """The topology names the field at fault in its message."""


def load(path):
    """Read a YAML or JSON topology file and return it normalized."""
    with open(path) as f:
        text = f.read()
    if path.endswith('.json'):
        data = json.loads(text)
    else:
        loader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
        data = yaml.load(text, Loader=loader)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TopologyError('%s: a topology must be a mapping' % path)
    data.setdefault('name', os.path.splitext(os.path.basename(path))[0])
    return normalize(data)


def generate(computes=1000, servers=10000, controllers=3, projects=10,
             vcpus=64, memory_mb=262144, disk_gb=4000, flavor='m1.small',
             group_size=2, groups_per_project=5, floating_ip_every=10,
             name='generated'):
    """A large topology, as a mapping in the file format.

    ``servers`` are spread round-robin over ``computes`` hosts (placed
    explicitly, so loading is fast), across ``projects`` projects named
    ``project-N`` with a member user ``vnfm-N`` (password ``vnfm-Npass``).
    The first ``groups_per_project * group_size`` servers of each project
    belong to anti-affinity groups of ``group_size`` members; every
    ``floating_ip_every``-th server has a floating IP.
    """
    if computes < 1:
        raise TopologyError('generate: computes must be >= 1')
    flavors = copy.deepcopy(DEFAULT_FLAVORS)
    fl = {f['name']: f for f in flavors}
    if flavor not in fl:
        raise TopologyError('generate: unknown flavor %r' % flavor)
    per_host = min(vcpus // fl[flavor]['vcpus'],
                   memory_mb // fl[flavor]['ram'],
                   disk_gb // max(1, fl[flavor]['disk']))
    if servers > per_host * computes:
        raise TopologyError(
            'generate: %d servers of %s do not fit on %d hosts of %d vcpus/'
            '%d MB/%d GB' % (servers, flavor, computes, vcpus, memory_mb,
                             disk_gb))
    width = len(str(max(computes - 1, 1)))
    hosts = [{'name': 'controller-%d' % i, 'type': 'controller'}
             for i in range(controllers)]
    hosts += [{'name': 'compute-%0*d' % (width, i), 'type': 'compute',
               'vcpus': vcpus, 'memory_mb': memory_mb, 'disk_gb': disk_gb}
              for i in range(computes)]
    compute_names = [h['name'] for h in hosts if h['type'] == 'compute']
    proj = [{'name': 'project-%d' % p} for p in range(projects)]
    users = copy.deepcopy(DEFAULT_USERS)
    users += [{'name': 'vnfm-%d' % p, 'password': 'vnfm-%dpass' % p,
               'roles': {'project-%d' % p: ['member']}}
              for p in range(projects)]
    groups = []
    for p in range(projects):
        for g in range(groups_per_project):
            groups.append({'name': 'project-%d-aa-%d' % (p, g),
                           'project': 'project-%d' % p,
                           'policy': 'anti-affinity'})
    srv = []
    per_project_count = [0] * max(projects, 1)
    for i in range(servers):
        p = i % max(projects, 1)
        n = per_project_count[p]
        per_project_count[p] += 1
        entry = {'name': 'vm-%d' % i, 'project': 'project-%d' % p,
                 'flavor': flavor,
                 'host': compute_names[i % len(compute_names)]}
        group_index = n // max(group_size, 1)
        if projects and group_size and group_index < groups_per_project:
            entry['server_group'] = 'project-%d-aa-%d' % (p, group_index)
        if floating_ip_every and i % floating_ip_every == 0:
            entry['floating_ip'] = True
        srv.append(entry)
    return {'name': name, 'projects': DEFAULT_PROJECTS + proj,
            'users': users, 'hosts': hosts, 'flavors': flavors,
            'server_groups': groups, 'servers': srv}


def two_tenants(computes=3, vcpus=2, memory_mb=4096, disk_gb=40,
                flavors=(), server_groups=(), servers=(), timing=None,
                name='two-tenants'):
    """The small cloud the tests build, as a mapping in the file format.

    Projects ``admin``, ``service``, ``tenant1`` and ``tenant2``; users
    ``admin`` (admin), ``fenix`` (the service user, admin of
    ``service``), ``vnfm1`` (member of tenant1), ``reader1`` (reader of
    tenant1) and ``vnfm2`` (member of tenant2), each with password
    ``<name>pass``; ``controller-0`` and ``computes`` hosts
    ``compute-0``.. of the given size; flavor ``m1.small`` (id ``1``: 1
    vCPU, 2048 MB, 20 GB) plus ``flavors``; the ``server_groups`` and
    ``servers`` given (topology entries).
    """
    def user(name, project, role):
        return {'name': name, 'password': name + 'pass',
                'roles': {project: [role]}}

    topo = {
        'name': name,
        'projects': DEFAULT_PROJECTS + [{'name': 'tenant1'},
                                        {'name': 'tenant2'}],
        'users': copy.deepcopy(DEFAULT_USERS) + [
            user('vnfm1', 'tenant1', 'member'),
            user('reader1', 'tenant1', 'reader'),
            user('vnfm2', 'tenant2', 'member')],
        'hosts': [{'name': 'controller-0', 'type': 'controller'},
                  {'name': 'compute-{n}', 'count': computes,
                   'type': 'compute', 'vcpus': vcpus,
                   'memory_mb': memory_mb, 'disk_gb': disk_gb}],
        'flavors': [{'id': '1', 'name': 'm1.small', 'vcpus': 1,
                     'ram': 2048, 'disk': 20}] + list(flavors),
        'server_groups': list(server_groups),
        'servers': list(servers),
    }
    if timing:
        topo['timing'] = dict(timing)
    return topo


# --- normalization -----------------------------------------------------------

def _num(value, where, kind=int, minimum=0):
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise TopologyError('%s: %r is not a number' % (where, value))
    if number < minimum:
        raise TopologyError('%s: must be >= %s' % (where, minimum))
    return number


def _expand(items, where):
    """Entries with ``count: N`` become N entries.

    ``{n}`` in string values is replaced by the index (from ``start``,
    default 0).
    """
    if items is None:
        return []
    if not isinstance(items, list):
        raise TopologyError('%s: must be a list' % where)
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise TopologyError('%s[%d]: must be a mapping' % (where, i))
        if 'count' not in item:
            out.append(dict(item))
            continue
        count = _num(item['count'], '%s[%d].count' % (where, i))
        start = _num(item.get('start', 0), '%s[%d].start' % (where, i))
        for n in range(start, start + count):
            entry = {}
            for key, value in item.items():
                if key in ('count', 'start'):
                    continue
                if isinstance(value, str) and '{n}' in value:
                    value = value.replace('{n}', str(n))
                entry[key] = value
            out.append(entry)
    return out


def _unique(items, key, where):
    seen = set()
    for item in items:
        if item[key] in seen:
            raise TopologyError('%s: duplicate %s %r' % (where, key,
                                                         item[key]))
        seen.add(item[key])


def normalize(data):
    """Check a topology mapping and return a complete, normalized copy."""
    data = copy.deepcopy(data or {})
    gen = data.pop('generate', None)
    if gen:
        if not isinstance(gen, dict):
            raise TopologyError('generate: must be a mapping of generate() '
                                'arguments')
        base = generate(**gen)
        for key in ('projects', 'users', 'hosts', 'flavors', 'server_groups',
                    'servers'):
            base[key] = base[key] + list(data.pop(key, None) or [])
        base.update(data)
        data = base
    out = {'name': str(data.get('name') or 'simcloud'),
           'region': str(data.get('region') or 'RegionOne')}

    identity = dict(data.get('identity') or {})
    out['identity'] = {'token_ttl': _num(identity.get('token_ttl', 3600),
                                         'identity.token_ttl', float, 1)}

    # projects
    projects = _expand(data.get('projects', DEFAULT_PROJECTS), 'projects')
    for i, p in enumerate(projects):
        if not p.get('name'):
            raise TopologyError('projects[%d].name is required' % i)
        p['name'] = str(p['name'])
        p['id'] = str(p.get('id') or util.stable_hex('project', p['name']))
        p.setdefault('description', '')
        p.setdefault('domain_id', 'default')
    names = {p['name'] for p in projects}
    for default in DEFAULT_PROJECTS:
        if default['name'] not in names:
            projects.append({'name': default['name'],
                             'id': util.stable_hex('project',
                                                   default['name']),
                             'description': '', 'domain_id': 'default'})
    _unique(projects, 'name', 'projects')
    _unique(projects, 'id', 'projects')
    out['projects'] = projects
    by_name = {p['name']: p for p in projects}
    by_id = {p['id']: p for p in projects}

    def project_id(ref, where):
        if ref in by_name:
            return by_name[ref]['id']
        if ref in by_id:
            return ref
        raise TopologyError('%s: unknown project %r' % (where, ref))

    # users
    users = _expand(data.get('users', DEFAULT_USERS), 'users')
    for i, u in enumerate(users):
        where = 'users[%d]' % i
        if not u.get('name'):
            raise TopologyError('%s.name is required' % where)
        u['name'] = str(u['name'])
        u['id'] = str(u.get('id') or util.stable_hex('user', u['name']))
        u['password'] = str(u.get('password', u['name'] + 'pass'))
        roles = u.get('roles') or {}
        if not isinstance(roles, dict):
            raise TopologyError('%s.roles: must map a project to a list of '
                                'roles' % where)
        norm = {}
        for proj, rlist in roles.items():
            if isinstance(rlist, str):
                rlist = [rlist]
            for role in rlist:
                if role not in ROLES:
                    raise TopologyError('%s.roles: unknown role %r (known: '
                                        '%s)' % (where, role,
                                                 ', '.join(ROLES)))
            norm[project_id(proj, where + '.roles')] = list(rlist)
        u['roles'] = norm
        default = u.get('default_project')
        u['default_project'] = (project_id(default, where) if default else
                                (next(iter(norm)) if norm else None))
        u['enabled'] = bool(u.get('enabled', True))
    _unique(users, 'name', 'users')
    out['users'] = users

    # hosts
    host_defaults = copy.deepcopy(DEFAULT_HOST)
    for htype, values in (data.get('host_defaults') or {}).items():
        if htype not in HOST_TYPES:
            raise TopologyError('host_defaults: unknown host type %r'
                                % htype)
        host_defaults[htype].update(values or {})
    hosts = _expand(data.get('hosts'), 'hosts')
    for i, h in enumerate(hosts):
        where = 'hosts[%d]' % i
        if not h.get('name'):
            raise TopologyError('%s.name is required' % where)
        h['name'] = str(h['name'])
        h['type'] = h.get('type', 'compute')
        if h['type'] not in HOST_TYPES:
            raise TopologyError('%s.type: must be one of %s' % (
                where, ', '.join(HOST_TYPES)))
        for key in ('vcpus', 'memory_mb', 'disk_gb'):
            h[key] = _num(h.get(key, host_defaults[h['type']][key]),
                          '%s.%s' % (where, key))
        h.setdefault('ip', None)
        # The software the host runs (what an upgrade changes: see
        # POST /sim/hosts/{host}/upgrade).
        h['version'] = str(h.get('version') or DEFAULT_HOST_VERSION)
        h['capabilities'] = sorted(str(c) for c in
                                   h.get('capabilities') or ())
        h['state'] = h.get('state', 'up')
        if h['state'] not in ('up', 'down'):
            raise TopologyError('%s.state: must be up or down' % where)
        services = {}
        given = h.get('services') or {}
        for binary in BINARIES[h['type']]:
            s = dict(given.get(binary) or {})
            services[binary] = {
                'disabled': bool(s.get('disabled', False)),
                'disabled_reason': s.get('disabled_reason'),
                'forced_down': bool(s.get('forced_down', False))}
        unknown = set(given) - set(BINARIES[h['type']])
        if unknown:
            raise TopologyError('%s.services: %s not run on a %s host' % (
                where, ', '.join(sorted(unknown)), h['type']))
        h['services'] = services
    _unique(hosts, 'name', 'hosts')
    out['hosts'] = hosts
    host_names = {h['name'] for h in hosts}

    # flavors
    flavors = _expand(data.get('flavors', DEFAULT_FLAVORS), 'flavors')
    for i, f in enumerate(flavors):
        where = 'flavors[%d]' % i
        if not f.get('name'):
            raise TopologyError('%s.name is required' % where)
        f['name'] = str(f['name'])
        f['id'] = str(f.get('id') or util.stable_uuid('flavor', f['name']))
        for key in ('vcpus', 'ram', 'disk'):
            if key not in f:
                raise TopologyError('%s.%s is required' % (where, key))
            f[key] = _num(f[key], '%s.%s' % (where, key))
        f['ephemeral'] = _num(f.get('ephemeral', 0), where + '.ephemeral')
        f['swap'] = _num(f.get('swap', 0), where + '.swap')
        f['is_public'] = bool(f.get('is_public', True))
        f['extra_specs'] = dict(f.get('extra_specs') or {})
        f.setdefault('description', None)
    _unique(flavors, 'name', 'flavors')
    _unique(flavors, 'id', 'flavors')
    out['flavors'] = flavors
    flavor_refs = {f['name'] for f in flavors} | {f['id'] for f in flavors}

    # server groups
    groups = _expand(data.get('server_groups'), 'server_groups')
    group_keys = set()
    for i, g in enumerate(groups):
        where = 'server_groups[%d]' % i
        if not g.get('name'):
            raise TopologyError('%s.name is required' % where)
        g['project'] = project_id(g.get('project', 'admin'), where)
        g['policy'] = g.get('policy', 'anti-affinity')
        if g['policy'] not in GROUP_POLICIES:
            raise TopologyError('%s.policy: must be one of %s' % (
                where, ', '.join(GROUP_POLICIES)))
        g['rules'] = dict(g.get('rules') or {})
        g['id'] = str(g.get('id') or util.stable_uuid(
            'server_group', g['project'] + '/' + g['name']))
        key = (g['project'], g['name'])
        if key in group_keys:
            raise TopologyError('%s: duplicate group %r in its project'
                                % (where, g['name']))
        group_keys.add(key)
    out['server_groups'] = groups
    group_by = {}
    for g in groups:
        group_by[(g['project'], g['name'])] = g
        group_by[(g['project'], g['id'])] = g

    # servers
    servers = _expand(data.get('servers'), 'servers')
    seen = set()
    for i, s in enumerate(servers):
        where = 'servers[%d]' % i
        if not s.get('name'):
            raise TopologyError('%s.name is required' % where)
        s['name'] = str(s['name'])
        s['project'] = project_id(s.get('project', 'admin'), where)
        if s.get('flavor') not in flavor_refs:
            raise TopologyError('%s.flavor: unknown flavor %r' % (
                where, s.get('flavor')))
        if s.get('host') is not None and s['host'] not in host_names:
            raise TopologyError('%s.host: unknown host %r'
                                % (where, s['host']))
        group = s.get('server_group')
        if group is not None:
            if (s['project'], group) not in group_by:
                raise TopologyError('%s.server_group: no group %r in the '
                                    "server's project" % (where, group))
            s['server_group'] = group_by[(s['project'], group)]['id']
        s['id'] = str(s.get('id') or util.stable_uuid(
            'server', s['project'] + '/' + s['name']))
        if s['id'] in seen:
            raise TopologyError('%s: duplicate server (name %r in the same '
                                'project, or id)' % (where, s['name']))
        seen.add(s['id'])
        s['floating_ip'] = s.get('floating_ip') or False
        s.setdefault('image', util.stable_uuid('image', 'cirros'))
        s.setdefault('user', None)
        s['vm_state'] = s.get('vm_state', 'active')
        if s['vm_state'] not in ('active', 'stopped', 'error'):
            raise TopologyError('%s.vm_state: must be active, stopped or '
                                'error' % where)
        s['metadata'] = dict(s.get('metadata') or {})
    out['servers'] = servers

    timing = dict(DEFAULT_TIMING)
    for key, value in (data.get('timing') or {}).items():
        if key not in DEFAULT_TIMING:
            raise TopologyError('timing.%s: unknown (known: %s)' % (
                key, ', '.join(sorted(DEFAULT_TIMING))))
        timing[key] = _num(value, 'timing.' + key, float)
    out['timing'] = timing

    sched = dict(data.get('scheduler') or {})
    out['scheduler'] = {
        'cpu_allocation_ratio': _num(sched.get('cpu_allocation_ratio', 1.0),
                                     'scheduler.cpu_allocation_ratio', float),
        'ram_allocation_ratio': _num(sched.get('ram_allocation_ratio', 1.0),
                                     'scheduler.ram_allocation_ratio', float),
        'disk_allocation_ratio': _num(
            sched.get('disk_allocation_ratio', 1.0),
            'scheduler.disk_allocation_ratio', float),
        'weigher': sched.get('weigher', 'spread'),
        # None: ties go to the first host by name (reproducible runs);
        # an integer: a seeded random order, as real Nova's scheduler
        # varies between runs among hosts of equal weight.
        'shuffle_ties': sched.get('shuffle_ties'),
    }
    if out['scheduler']['weigher'] not in ('spread', 'pack'):
        raise TopologyError('scheduler.weigher: must be spread or pack')
    if out['scheduler']['shuffle_ties'] is not None:
        _num(out['scheduler']['shuffle_ties'], 'scheduler.shuffle_ties', int)

    compute = dict(data.get('compute') or {})
    out['compute'] = {
        'max_limit': _num(compute.get('max_limit', 1000),
                          'compute.max_limit', int, 1),
        'max_microversion': str(compute.get('max_microversion', '2.96')),
    }

    alarming = dict(data.get('alarming') or {})
    out['alarming'] = {
        'delivery_workers': _num(alarming.get('delivery_workers', 8),
                                 'alarming.delivery_workers', int, 1),
        'delivery_timeout': _num(alarming.get('delivery_timeout', 5.0),
                                 'alarming.delivery_timeout', float, 0.01),
    }
    out['alarms'] = list(data.get('alarms') or [])

    telemetry = dict(data.get('telemetry') or {})
    out['telemetry'] = {
        'event_definitions': telemetry.get('event_definitions'),
        'drop_unmatched': bool(telemetry.get('drop_unmatched', False)),
    }

    out['faults'] = normalize_faults(data.get('faults') or {})
    endpoints = dict(data.get('endpoints') or {})
    out['endpoints'] = {str(k): str(v) for k, v in endpoints.items()}
    return out


def _flag(value, where):
    if not isinstance(value, bool):
        raise TopologyError('%s: must be true or false' % where)
    return value


def _times(rule, where):
    # 0 is an exhausted rule (as saved after it fired its last time).
    if rule.get('times') is None:
        return None
    return _num(rule['times'], where + '.times', int, 0)


def normalize_faults(data):
    """Check a fault-injection mapping.

    It is the topology's ``faults:`` or the body of ``PUT /sim/faults``.
    """
    if not isinstance(data, dict):
        raise TopologyError('faults: must be a mapping')
    out = {'seed': data.get('seed'),
           'migration_failure_rate': _num(
               data.get('migration_failure_rate', 0.0),
               'faults.migration_failure_rate', float)}
    if out['migration_failure_rate'] > 1:
        raise TopologyError('faults.migration_failure_rate: must be <= 1')
    out['leak_allocations'] = _flag(data.get('leak_allocations', False),
                                    'faults.leak_allocations')
    rules = []
    for i, r in enumerate(data.get('migrations') or []):
        where = 'faults.migrations[%d]' % i
        if not isinstance(r, dict):
            raise TopologyError('%s: must be a mapping' % where)
        rule = {'server': r.get('server'), 'host': r.get('host'),
                'type': r.get('type', 'any'),
                'times': _times(r, where),
                'fail': bool(r.get('fail', True)),
                'duration': (None if r.get('duration') is None else
                             _num(r['duration'], where + '.duration',
                                  float)),
                'vm_state': r.get('vm_state', 'active'),
                'reason': r.get('reason') or 'Injected migration failure',
                'leak': (None if r.get('leak') is None else
                         _flag(r['leak'], where + '.leak'))}
        if rule['type'] not in MIGRATION_TYPES:
            raise TopologyError('%s.type: must be one of %s' % (
                where, ', '.join(MIGRATION_TYPES)))
        if rule['vm_state'] not in ('active', 'error'):
            raise TopologyError('%s.vm_state: must be active or error'
                                % where)
        rules.append(rule)
    out['migrations'] = rules
    api = []
    for i, r in enumerate(data.get('api') or []):
        where = 'faults.api[%d]' % i
        if not isinstance(r, dict):
            raise TopologyError('%s: must be a mapping' % where)
        rule = {'service': r.get('service', 'any'),
                'method': (r.get('method') or '').upper() or None,
                'path': r.get('path') or '',
                'status': _num(r.get('status', 503), where + '.status', int,
                               100),
                'times': _times(r, where),
                'delay': _num(r.get('delay', 0), where + '.delay', float),
                'message': r.get('message') or 'Injected API failure'}
        if rule['service'] not in ('any', 'identity', 'compute',
                                   'alarming'):
            raise TopologyError('%s.service: must be any, identity, compute '
                                'or alarming' % where)
        api.append(rule)
    out['api'] = api
    return out
