# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Compute: the Nova v2.1 API subset that python-novaclient and Fenix use.

Microversions 2.1 to 2.96 are negotiated like Nova does (``OpenStack-API-
Version: compute X`` or ``X-OpenStack-Nova-API-Version``, ``latest``,
echoed in the answer); the views change where Nova's do (2.11
``forced_down``, 2.23 migration types, 2.47 embedded flavors, 2.53 UUID ids
and hostname patterns, 2.56 migrate to a host, 2.59 migration uuids, 2.64
group ``policy``, 2.80 migration owners, 2.88 no hypervisor usage fields).
Lists are capped at ``compute.max_limit`` (1000) like Nova's
``osapi_max_limit``; use ``limit=-1`` in novaclient for everything. Server
metadata follows Nova's schema, quota, policy and state checks; every
answer carries the request id that the instance actions record.
"""
import json
import re

from fenix_tools.simcloud import model
from fenix_tools.simcloud import service
from fenix_tools.simcloud import topology
from fenix_tools.simcloud import util
from fenix_tools.simcloud import wsgi

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 96)
VERSION_UPDATED = '2013-07-23T11:33:21Z'

ERROR_KEYS = {400: 'badRequest', 401: 'unauthorized', 403: 'forbidden',
              404: 'itemNotFound', 405: 'badMethod', 406: 'notAcceptable',
              409: 'conflictingRequest'}

LEGACY_SERVICE_ACTIONS = ('enable', 'disable', 'disable-log-reason',
                          'force-down')

# Nova's schema for metadata keys (values: strings of up to 255).
METADATA_KEY = re.compile(r'^[a-zA-Z0-9-_:. ]{1,255}$')


def parse_version(text):
    match = re.match(r'^([1-9]\d*)\.([1-9]\d*|0)$', text or '')
    if not match:
        raise util.BadRequest('API Version String %s is of invalid format. '
                              'Must be of format MajorNum.MinorNum.' % text)
    return int(match.group(1)), int(match.group(2))


def fmt_version(version):
    return '%d.%d' % version


def hypervisor_version(version):
    """The integer Nova shows as ``hypervisor_version`` for a host
    running ``version`` (major * 1000000 + minor * 1000 + micro, as
    libvirt's); a host never upgraded shows QEMU 8.2.0's."""
    if version == topology.DEFAULT_HOST_VERSION:
        return 8002000
    parts = [int(p) for p in re.findall(r'\d+', version)[:3]] + [0, 0, 0]
    return parts[0] * 1000000 + parts[1] * 1000 + parts[2]


def _int_or_str(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def _time(dt):
    return util.iso_micro(dt) if dt else None


class ComputeApp(service.ServiceApp):
    """``/compute``: the Nova front end."""

    name = 'compute'

    def __init__(self, sim, max_version=None):
        self.max_version = (parse_version(max_version) if max_version
                            else MAX_VERSION)
        super().__init__(sim)

    @property
    def cloud(self):
        return self.sim.cloud

    # --- plumbing ------------------------------------------------------------

    def add_routes(self, r):
        v = '/v2.1'
        r.add('GET', '/', self.versions)
        r.add('GET', v, self.version)
        r.add('GET', v + '/servers', self.list_servers)
        r.add('GET', v + '/servers/detail', self.list_servers_detail)
        r.add('POST', v + '/servers', self.create_server)
        r.add('GET', v + '/servers/{server_id}', self.show_server)
        r.add('DELETE', v + '/servers/{server_id}', self.delete_server)
        r.add('POST', v + '/servers/{server_id}/action', self.server_action)
        r.add('GET', v + '/servers/{server_id}/metadata', self.list_metadata)
        r.add('POST', v + '/servers/{server_id}/metadata',
              self.update_metadata)
        r.add('PUT', v + '/servers/{server_id}/metadata',
              self.replace_metadata)
        r.add('GET', v + '/servers/{server_id}/metadata/{key}',
              self.show_metadata_item)
        r.add('PUT', v + '/servers/{server_id}/metadata/{key}',
              self.set_metadata_item)
        r.add('DELETE', v + '/servers/{server_id}/metadata/{key}',
              self.delete_metadata_item)
        r.add('GET', v + '/servers/{server_id}/migrations',
              self.list_server_migrations)
        r.add('GET', v + '/servers/{server_id}/migrations/{migration_id}',
              self.show_server_migration)
        r.add('DELETE', v + '/servers/{server_id}/migrations/{migration_id}',
              self.abort_server_migration)
        r.add('POST',
              v + '/servers/{server_id}/migrations/{migration_id}/action',
              self.server_migration_action)
        r.add('GET', v + '/servers/{server_id}/os-instance-actions',
              self.list_instance_actions)
        r.add('GET',
              v + '/servers/{server_id}/os-instance-actions/{request_id}',
              self.show_instance_action)
        r.add('GET', v + '/os-services', self.list_services)
        r.add('PUT', v + '/os-services/{service_id}', self.update_service)
        r.add('DELETE', v + '/os-services/{service_id}',
              self.delete_service)
        r.add('GET', v + '/os-hypervisors', self.list_hypervisors)
        r.add('GET', v + '/os-hypervisors/detail',
              self.list_hypervisors_detail)
        r.add('GET', v + '/os-hypervisors/statistics',
              self.hypervisor_statistics)
        r.add('GET', v + '/os-hypervisors/{hypervisor_id}',
              self.show_hypervisor)
        r.add('GET', v + '/os-hypervisors/{hypervisor_id}/uptime',
              self.hypervisor_uptime)
        r.add('GET', v + '/os-hypervisors/{pattern}/search',
              self.search_hypervisors)
        r.add('GET', v + '/os-hypervisors/{pattern}/servers',
              self.hypervisor_servers)
        r.add('GET', v + '/os-migrations', self.list_migrations)
        r.add('GET', v + '/os-server-groups', self.list_groups)
        r.add('POST', v + '/os-server-groups', self.create_group)
        r.add('GET', v + '/os-server-groups/{group_id}', self.show_group)
        r.add('DELETE', v + '/os-server-groups/{group_id}',
              self.delete_group)
        r.add('GET', v + '/flavors', self.list_flavors)
        r.add('GET', v + '/flavors/detail', self.list_flavors_detail)
        r.add('POST', v + '/flavors', self.create_flavor)
        r.add('GET', v + '/flavors/{flavor_id}', self.show_flavor)
        r.add('DELETE', v + '/flavors/{flavor_id}', self.delete_flavor)
        r.add('GET', v + '/flavors/{flavor_id}/os-extra_specs',
              self.flavor_extra_specs)
        r.add('GET', v + '/limits', self.limits)
        r.add('GET', v + '/os-availability-zone', self.list_zones)
        r.add('GET', v + '/os-availability-zone/detail', self.list_zones)

    def prepare(self, req, path):
        requested = None
        header = req.headers.get('OpenStack-API-Version')
        if header:
            for part in header.split(','):
                svc, _, ver = part.strip().partition(' ')
                if svc.lower() == 'compute':
                    requested = ver.strip()
        if requested is None:
            requested = req.headers.get('X-OpenStack-Nova-API-Version')
        if not requested:
            version = MIN_VERSION
        elif requested.strip().lower() == 'latest':
            version = self.max_version
        else:
            version = parse_version(requested.strip())
            if not MIN_VERSION <= version <= self.max_version:
                raise util.NotAcceptable(
                    'Version %s is not supported by the API. Minimum is %s '
                    'and maximum is %s.' % (requested, fmt_version(
                        MIN_VERSION), fmt_version(self.max_version)))
        req.environ['simcloud.mv'] = version

    def decorate(self, req, resp, request_id):
        super().decorate(req, resp, request_id)
        resp.headers['X-Compute-Request-Id'] = request_id
        version = req.environ.get('simcloud.mv')
        if version is not None:
            text = fmt_version(version)
            resp.headers['OpenStack-API-Version'] = 'compute ' + text
            resp.headers['X-OpenStack-Nova-API-Version'] = text
            resp.headers['Vary'] = \
                'OpenStack-API-Version, X-OpenStack-Nova-API-Version'

    def error_body(self, exc):
        if exc.status == 401:
            return super().error_body(exc)
        key = ERROR_KEYS.get(exc.status, 'computeFault')
        return {key: {'code': exc.status, 'message': exc.message}}

    @staticmethod
    def mv(req):
        return req.environ.get('simcloud.mv', MIN_VERSION)

    def url(self, *parts):
        return '/'.join((self.sim.compute_url,) + parts)

    def links(self, kind, ident):
        return [{'rel': 'self', 'href': self.url(kind, ident)},
                {'rel': 'bookmark', 'href': '%s/compute/%s/%s' % (
                    self.sim.url, kind, ident)}]

    def admin(self, req, policy):
        ctx = self.authenticate(req)
        if not ctx.is_admin:
            raise util.Forbidden("Policy doesn't allow %s to be performed."
                                 % policy)
        return ctx

    @staticmethod
    def visible_to(ctx):
        """Whether ``ctx`` may see a project's item (else it is 404)."""
        return lambda item: ctx.is_admin or item.project_id == \
            ctx.project_id

    def get_server(self, ctx, server_id):
        return util.find(self.cloud.servers, server_id,
                         'Instance %s could not be found.' % server_id,
                         self.visible_to(ctx))

    @staticmethod
    def listing(key, views, links):
        """A list answer: ``{key: views}``, ``{key}_links`` when paged."""
        body = {key: views}
        if links:
            body[key + '_links'] = links
        return wsgi.json_response(body)

    def page(self, req, items, key, name, href):
        """Apply ``limit``/``marker`` (capped at max_limit) to ``items``.

        Returns ``(page, links)``.
        """
        max_limit = self.cloud.max_limit
        limit = req.GET.get('limit')
        if limit is not None:
            try:
                limit = int(limit)
            except ValueError:
                raise util.BadRequest('limit param must be an integer')
            if limit < 0:
                raise util.BadRequest('limit param must be positive')
            limit = min(limit, max_limit)
        else:
            limit = max_limit
        marker = req.GET.get('marker')
        start = 0
        if marker is not None:
            for index, item in enumerate(items):
                if str(key(item)) == marker:
                    start = index + 1
                    break
            else:
                raise util.BadRequest('marker [%s] not found' % marker)
        chunk = items[start:start + limit]
        links = []
        if chunk and len(chunk) == limit and start + limit < len(items):
            query = dict(req.GET)
            query['limit'] = str(limit)
            query['marker'] = str(key(chunk[-1]))
            links = [{'rel': 'next', 'href': '%s?%s' % (
                href, '&'.join('%s=%s' % kv for kv in sorted(
                    query.items())))}]
        return chunk, links

    # --- versions ------------------------------------------------------------

    def _version_doc(self):
        return {'id': 'v2.1', 'status': 'CURRENT',
                'version': fmt_version(self.max_version),
                'min_version': fmt_version(MIN_VERSION),
                'updated': VERSION_UPDATED,
                'links': [{'rel': 'self',
                           'href': self.sim.compute_url + '/'}]}

    def versions(self, req):
        legacy = {'id': 'v2.0', 'status': 'SUPPORTED', 'version': '',
                  'min_version': '', 'updated': '2011-01-21T11:33:21Z',
                  'links': [{'rel': 'self',
                             'href': self.sim.url + '/compute/v2/'}]}
        return wsgi.json_response({'versions': [legacy,
                                                self._version_doc()]})

    def version(self, req):
        doc = self._version_doc()
        doc['media-types'] = [{
            'base': 'application/json',
            'type': 'application/vnd.openstack.compute+json;version=2.1'}]
        return wsgi.json_response({'version': doc})

    # --- views ---------------------------------------------------------------

    def flavor_ref(self, flavor, mv):
        if mv >= (2, 47):
            return {'vcpus': flavor.vcpus, 'ram': flavor.ram,
                    'disk': flavor.disk, 'ephemeral': flavor.ephemeral,
                    'swap': flavor.swap, 'original_name': flavor.name,
                    'extra_specs': dict(flavor.extra_specs)}
        return {'id': flavor.id, 'links': [
            {'rel': 'bookmark', 'href': '%s/compute/flavors/%s' % (
                self.sim.url, flavor.id)}]}

    def host_status(self, server):
        if not server.host:
            return ''
        host = self.cloud.hosts.get(server.host)
        svc = host.compute_service if host else None
        if svc is None:
            return 'UNKNOWN'
        if svc.state != 'up':
            return 'DOWN'
        if svc.disabled:
            return 'MAINTENANCE'
        return 'UP'

    def server_view(self, s, mv, ctx, show=False):
        status = s.status
        d = {
            'id': s.id, 'name': s.name, 'status': status,
            'tenant_id': s.project_id, 'user_id': s.user_id,
            'metadata': dict(s.metadata),
            'hostId': self.cloud.host_id(s),
            'image': {'id': s.image_id, 'links': [
                {'rel': 'bookmark', 'href': '%s/compute/images/%s' % (
                    self.sim.url, s.image_id)}]},
            'flavor': self.flavor_ref(s.flavor, mv),
            'created': util.iso_z(s.created),
            'updated': util.iso_z(s.updated),
            'addresses': {net: [dict(a) for a in addrs]
                          for net, addrs in s.addresses.items()},
            'accessIPv4': '', 'accessIPv6': '',
            'links': self.links('servers', s.id),
            'OS-DCF:diskConfig': 'MANUAL',
            'OS-EXT-AZ:availability_zone': 'nova' if s.host else '',
            'config_drive': '', 'key_name': s.key_name,
            'OS-SRV-USG:launched_at': _time(s.launched_at),
            'OS-SRV-USG:terminated_at': None,
            'security_groups': [{'name': 'default'}],
            'OS-EXT-STS:task_state': s.task_state,
            'OS-EXT-STS:vm_state': s.vm_state,
            'OS-EXT-STS:power_state': s.power_state,
            'os-extended-volumes:volumes_attached': [],
        }
        if status in ('ACTIVE', 'BUILD', 'REBUILD', 'RESIZE',
                      'VERIFY_RESIZE', 'MIGRATING'):
            d['progress'] = 0
        if ctx.is_admin:
            d['OS-EXT-SRV-ATTR:host'] = s.host
            d['OS-EXT-SRV-ATTR:hypervisor_hostname'] = s.host
            d['OS-EXT-SRV-ATTR:instance_name'] = s.instance_name
            if mv >= (2, 3):
                d.update({'OS-EXT-SRV-ATTR:reservation_id': s.reservation_id,
                          'OS-EXT-SRV-ATTR:launch_index': 0,
                          'OS-EXT-SRV-ATTR:hostname': s.name,
                          'OS-EXT-SRV-ATTR:kernel_id': '',
                          'OS-EXT-SRV-ATTR:ramdisk_id': '',
                          'OS-EXT-SRV-ATTR:root_device_name': '/dev/vda',
                          'OS-EXT-SRV-ATTR:user_data': None})
            if mv >= (2, 16):
                d['host_status'] = self.host_status(s)
        elif mv >= (2, 90):
            d['OS-EXT-SRV-ATTR:hostname'] = s.name
        if mv >= (2, 9):
            d['locked'] = s.locked
        if mv >= (2, 19):
            d['description'] = s.description
        if mv >= (2, 26):
            d['tags'] = list(s.tags)
        if mv >= (2, 63):
            d['trusted_image_certificates'] = None
        if mv >= (2, 73):
            d['locked_reason'] = None
        if mv >= (2, 96):
            d['pinned_availability_zone'] = None
        if show and mv >= (2, 71):
            d['server_groups'] = [s.group_id] if s.group_id else []
        if s.vm_state == 'error' and s.fault:
            fault = {'code': s.fault['code'], 'message': s.fault['message'],
                     'created': s.fault['created']}
            if ctx.is_admin and s.fault.get('details'):
                fault['details'] = s.fault['details']
            d['fault'] = fault
        return d

    def service_view(self, svc, mv):
        d = {'id': svc.uuid if mv >= (2, 53) else svc.id,
             'binary': svc.binary, 'host': svc.host.name, 'zone': svc.zone,
             'status': 'disabled' if svc.disabled else 'enabled',
             'state': svc.state,
             'updated_at': _time(util.utcnow() if svc.state == 'up'
                                 else svc.host.state_changed),
             'disabled_reason': svc.disabled_reason}
        if mv >= (2, 11):
            d['forced_down'] = svc.forced_down
        return d

    def hypervisor_view(self, h, mv, detail, with_servers=False):
        svc = h.compute_service
        d = {'id': h.uuid if mv >= (2, 53) else h.id,
             'hypervisor_hostname': h.name,
             'state': svc.state if svc else 'down',
             'status': 'disabled' if (svc is None or svc.disabled)
             else 'enabled'}
        if detail:
            d.update({
                'host_ip': h.ip, 'hypervisor_type': 'QEMU',
                'hypervisor_version': hypervisor_version(h.version),
                'service': {'host': h.name,
                            'id': (svc.uuid if mv >= (2, 53) else svc.id)
                            if svc else None,
                            'disabled_reason': svc.disabled_reason
                            if svc else None}})
            if mv < (2, 88):
                used_vcpus, used_ram, used_disk = h.used
                cpu_info = {'arch': 'x86_64', 'model': 'Nehalem',
                            'vendor': 'Intel', 'features': ['pge', 'clflush'],
                            'topology': {'cores': 1, 'threads': 1,
                                         'sockets': h.vcpus}}
                d.update({
                    'vcpus': h.vcpus, 'memory_mb': h.memory_mb,
                    'local_gb': h.disk_gb, 'vcpus_used': used_vcpus,
                    'memory_mb_used': used_ram, 'local_gb_used': used_disk,
                    'free_ram_mb': h.memory_mb - used_ram,
                    'free_disk_gb': h.disk_gb - used_disk,
                    'current_workload': self._workload(h),
                    'running_vms': len(h.servers),
                    'disk_available_least': h.disk_gb - used_disk,
                    'cpu_info': cpu_info if mv >= (2, 28) else
                    json.dumps(cpu_info)})
            else:
                d['uptime'] = ' 08:00:00 up 10 days,  1:00,  0 users,  ' \
                              'load average: 0.10, 0.10, 0.10'
        if with_servers:
            servers = [{'name': self.cloud.servers[sid].instance_name,
                        'uuid': sid} for sid in sorted(
                            h.servers,
                            key=lambda i: self.cloud.servers[i].seq)]
            if servers or mv >= (2, 75):
                d['servers'] = servers
        return d

    def _workload(self, host):
        servers = self.cloud.servers
        busy = 0
        for sid in host.servers:
            if servers[sid].task_state:
                busy += 1
        return busy

    def migration_view(self, mig, mv):
        d = {'id': mig.id, 'source_node': mig.source_compute,
             'dest_node': mig.dest_compute,
             'source_compute': mig.source_compute,
             'dest_compute': mig.dest_compute, 'dest_host': mig.dest_host,
             'status': mig.status, 'instance_uuid': mig.instance_uuid,
             'old_instance_type_id': _int_or_str(mig.old_flavor_id),
             'new_instance_type_id': _int_or_str(mig.new_flavor_id),
             'created_at': _time(mig.created_at),
             'updated_at': _time(mig.updated_at)}
        if mv >= (2, 23):
            d['migration_type'] = mig.migration_type
            if (mig.migration_type == 'live-migration' and
                    mig.status in model.IN_PROGRESS_LIVE):
                d['links'] = self.links(
                    'servers/%s/migrations' % mig.instance_uuid,
                    str(mig.id))
        return self._migration_owner(d, mig, mv)

    @staticmethod
    def _migration_owner(d, mig, mv):
        """Add the 2.59 uuid and the 2.80 owner to a migration view."""
        if mv >= (2, 59):
            d['uuid'] = mig.uuid
        if mv >= (2, 80):
            d['user_id'] = mig.user_id
            d['project_id'] = mig.project_id
        return d

    def server_migration_view(self, mig, mv):
        server = self.cloud.servers.get(mig.instance_uuid)
        total = server.flavor.ram * 1048576 if server else 0
        d = {'id': mig.id, 'server_uuid': mig.instance_uuid,
             'source_compute': mig.source_compute,
             'source_node': mig.source_compute,
             'dest_compute': mig.dest_compute,
             'dest_node': mig.dest_compute, 'dest_host': mig.dest_host,
             'status': mig.status,
             'created_at': _time(mig.created_at),
             'updated_at': _time(mig.updated_at),
             'memory_total_bytes': total, 'memory_processed_bytes': 0,
             'memory_remaining_bytes': total, 'disk_total_bytes': 0,
             'disk_processed_bytes': 0, 'disk_remaining_bytes': 0}
        return self._migration_owner(d, mig, mv)

    def group_view(self, g, mv):
        if mv >= (2, 64):
            d = {'id': g.id, 'name': g.name, 'policy': g.policy,
                 'rules': dict(g.rules), 'members': list(g.members)}
        else:
            d = {'id': g.id, 'name': g.name, 'policies': [g.policy],
                 'members': list(g.members), 'metadata': {}}
        if mv >= (2, 13):
            d['project_id'] = g.project_id
            d['user_id'] = g.user_id
        return d

    def flavor_view(self, f, mv, detail=True):
        d = {'id': f.id, 'name': f.name,
             'links': self.links('flavors', f.id)}
        if mv >= (2, 55):
            d['description'] = f.description
        if not detail:
            return d
        d.update({'ram': f.ram, 'disk': f.disk, 'vcpus': f.vcpus,
                  'OS-FLV-EXT-DATA:ephemeral': f.ephemeral,
                  'swap': f.swap if (f.swap or mv >= (2, 75)) else '',
                  'rxtx_factor': 1.0,
                  'os-flavor-access:is_public': f.is_public,
                  'OS-FLV-DISABLED:disabled': False})
        if mv >= (2, 61):
            d['extra_specs'] = dict(f.extra_specs)
        return d

    def action_view(self, action, mv, ctx, show=False):
        d = {'action': action.action, 'instance_uuid': action.instance_uuid,
             'request_id': action.request_id, 'user_id': action.user_id,
             'project_id': action.project_id,
             'start_time': _time(action.start_time),
             'message': action.message}
        if mv >= (2, 58):
            d['updated_at'] = _time(action.updated_at)
        if show:
            events = []
            for ev in action.events:
                e = {'event': ev['event'],
                     'start_time': _time(ev['start_time']),
                     'finish_time': _time(ev['finish_time']),
                     'result': ev['result']}
                if ctx.is_admin:
                    e['traceback'] = ev['traceback']
                if mv >= (2, 62):
                    if ctx.is_admin:
                        e['host'] = ev['host']
                    e['hostId'] = ''
                if mv >= (2, 84) and ctx.is_admin:
                    e['details'] = ev['traceback']
                events.append(e)
            d['events'] = events
        return d

    # --- servers -------------------------------------------------------------

    def _servers(self, req, detail):
        ctx = self.authenticate(req)
        mv = self.mv(req)
        q = req.GET
        opts = {k: q.get(k) for k in q.keys()}
        all_tenants = False
        if 'all_tenants' in opts:
            try:
                all_tenants = util.parse_bool(opts['all_tenants'] or 'true',
                                              strict=True)
            except ValueError as exc:
                raise util.BadRequest(str(exc))
        if all_tenants and not ctx.is_admin:
            raise util.Forbidden("Policy doesn't allow "
                                 "os_compute_api:servers:index:"
                                 "get_all_tenants to be performed.")
        with self.sim.lock:
            project = None
            if not all_tenants:
                project = ctx.project_id
            elif opts.get('project_id') or opts.get('tenant_id'):
                project = opts.get('project_id') or opts.get('tenant_id')
            host = opts.get('host') if ctx.is_admin else None
            node = opts.get('node') if ctx.is_admin else None
            if host is not None or node is not None:
                name = host if host is not None else node
                h = self.cloud.hosts.get(name)
                ids = h.servers if h else ()
                if host is not None and node is not None and host != node:
                    ids = ()
                servers = [self.cloud.servers[i] for i in ids]
                servers.sort(key=lambda s: s.seq, reverse=True)
            else:
                servers = list(reversed(self.cloud.servers.values()))
            status = opts.get('status')
            name_re = None
            if opts.get('name'):
                try:
                    name_re = re.compile(opts['name'])
                except re.error:
                    name_re = re.compile(re.escape(opts['name']))
            flavor = opts.get('flavor')
            image = opts.get('image')
            since = opts.get('changes-since')
            if since:
                try:
                    since = util.parse_time(since)
                except ValueError:
                    raise util.BadRequest('Invalid changes-since value')
            uuid = opts.get('uuid') if ctx.is_admin else None
            out = []
            for s in servers:
                if project is not None and s.project_id != project:
                    continue
                if status and s.status != status.upper():
                    continue
                if name_re and not name_re.search(s.name):
                    continue
                if flavor and s.flavor.id != flavor:
                    continue
                if image and s.image_id != image:
                    continue
                if since and s.updated < since:
                    continue
                if uuid and s.id != uuid:
                    continue
                out.append(s)
            href = self.url('servers' + ('/detail' if detail else ''))
            chunk, links = self.page(req, out, lambda s: s.id, 'servers',
                                     href)
            if detail:
                views = [self.server_view(s, mv, ctx) for s in chunk]
            else:
                views = [{'id': s.id, 'name': s.name,
                          'links': self.links('servers', s.id)}
                         for s in chunk]
        return self.listing('servers', views, links)

    def list_servers(self, req):
        return self._servers(req, False)

    def list_servers_detail(self, req):
        return self._servers(req, True)

    def show_server(self, req, server_id):
        ctx = self.authenticate(req)
        with self.sim.lock:
            server = self.get_server(ctx, server_id)
            view = self.server_view(server, self.mv(req), ctx, show=True)
        return wsgi.json_response({'server': view})

    def _create_request(self, req, key, policy):
        """A create call by a project member: ``(ctx, mv, body, body[key])``
        (403 for readers, 400 without the ``key`` object)."""
        ctx = self.authenticate(req)
        if 'member' not in ctx.roles:
            raise util.Forbidden("Policy doesn't allow %s to be performed."
                                 % policy)
        body = wsgi.json_body(req)
        spec = body.get(key) if isinstance(body, dict) else None
        if not isinstance(spec, dict):
            raise util.BadRequest("Invalid input for field/attribute %s. "
                                  "'%s' is a required property" % (key, key))
        return ctx, self.mv(req), body, spec

    def create_server(self, req):
        ctx, mv, body, spec = self._create_request(
            req, 'server', 'os_compute_api:servers:create')
        name = spec.get('name')
        if not isinstance(name, str) or not name.strip():
            raise util.BadRequest("Invalid input for field/attribute name. "
                                  "'name' is a required property")
        flavor_ref = str(spec.get('flavorRef') or '').rstrip('/')
        flavor_ref = flavor_ref.rsplit('/', 1)[-1]
        networks = spec.get('networks', 'auto' if mv < (2, 37) else None)
        if networks is None:
            raise util.BadRequest("Invalid input for field/attribute server."
                                  " 'networks' is a required property")
        networks = 'none' if networks == 'none' else 'auto'
        hints = body.get('os:scheduler_hints') or \
            body.get('OS-SCH-HNT:scheduler_hints') or {}
        forced_host = requested_host = None
        az = spec.get('availability_zone')
        if az and ':' in az:
            if not ctx.is_admin:
                raise util.Forbidden("Policy doesn't allow "
                                     "os_compute_api:servers:create:"
                                     "forced_host to be performed.")
            forced_host = az.split(':', 2)[1] or None
        if spec.get('host') or spec.get('hypervisor_hostname'):
            if mv < (2, 74):
                raise util.BadRequest("Additional properties are not allowed"
                                      " ('host' was unexpected)")
            if not ctx.is_admin:
                raise util.Forbidden("Policy doesn't allow "
                                     "compute:servers:create:"
                                     "requested_destination to be "
                                     "performed.")
            requested_host = spec.get('host') or spec.get(
                'hypervisor_hostname')
        try:
            count = int(spec.get('max_count') or spec.get('min_count') or 1)
        except (TypeError, ValueError):
            raise util.BadRequest('max_count must be an integer')
        if count < 1:
            raise util.BadRequest('max_count must be >= 1')
        with self.sim.lock:
            flavor = self.cloud.flavors.get(flavor_ref)
            if flavor is None:
                raise util.BadRequest('Flavor %s could not be found.'
                                      % flavor_ref)
            group = None
            if hints.get('group'):
                group = self.cloud.groups.get(hints['group'])
                if group is None or (group.project_id != ctx.project_id and
                                     not ctx.is_admin):
                    raise util.BadRequest('Invalid input for field/attribute'
                                          ' group. Value: %s.'
                                          % hints['group'])
            if requested_host is not None and \
                    requested_host not in self.cloud.hosts:
                raise util.BadRequest('Compute host %s could not be found.'
                                      % requested_host)
            created = []
            for index in range(count):
                sname = name if count == 1 else '%s-%d' % (name, index + 1)
                created.append(self.cloud.create_server(
                    ctx, sname, flavor, spec.get('imageRef') or '',
                    group=group, networks=networks, forced_host=forced_host,
                    requested_host=requested_host,
                    metadata=spec.get('metadata'),
                    key_name=spec.get('key_name'),
                    description=spec.get('description')))
        first = created[0]
        if spec.get('return_reservation_id'):
            return wsgi.json_response(
                {'reservation_id': first.reservation_id}, status=202)
        return wsgi.json_response(
            {'server': {'id': first.id, 'links': self.links('servers',
                                                            first.id),
                        'OS-DCF:diskConfig': 'MANUAL',
                        'security_groups': [{'name': 'default'}],
                        'adminPass': util.new_uuid()[:12]}},
            status=202, headers={'Location': self.url('servers', first.id)})

    def delete_server(self, req, server_id):
        ctx = self.authenticate(req)
        with self.sim.lock:
            server = self.get_server(ctx, server_id)
            self.cloud.delete_server(ctx, server)
        return wsgi.json_response(None, status=204)

    def server_action(self, req, server_id):
        ctx = self.authenticate(req)
        mv = self.mv(req)
        body = wsgi.json_body(req)
        if not isinstance(body, dict) or len(body) != 1:
            raise util.BadRequest('There is either no or more than one '
                                  'action in the request body.')
        action, args = next(iter(body.items()))
        handler = {
            'migrate': self._act_migrate,
            'os-migrateLive': self._act_live_migrate,
            'confirmResize': self._act_confirm,
            'revertResize': self._act_revert,
            'os-stop': self._act_stop,
            'os-start': self._act_start,
            'evacuate': self._act_evacuate,
            'os-resetState': self._act_reset_state,
        }.get(action)
        if handler is None:
            raise util.BadRequest('There is no such action: %s' % action)
        with self.sim.lock:
            server = self.get_server(ctx, server_id)
            return handler(ctx, server, args, mv)

    def _require_admin(self, ctx, policy):
        if not ctx.is_admin:
            raise util.Forbidden("Policy doesn't allow %s to be performed."
                                 % policy)

    def _act_migrate(self, ctx, server, args, mv):
        self._require_admin(ctx, 'os_compute_api:os-migrate-server:migrate')
        host = None
        if args:
            if not isinstance(args, dict):
                raise util.BadRequest('Invalid input for field/attribute '
                                      'migrate.')
            if 'host' in args:
                if mv < (2, 56):
                    raise util.BadRequest("Invalid input for field/attribute"
                                          " migrate. Additional properties "
                                          "are not allowed ('host' was "
                                          "unexpected)")
                host = args['host']
        self.cloud.cold_migrate(ctx, server, host=host)
        return wsgi.json_response(None, status=202)

    def _act_live_migrate(self, ctx, server, args, mv):
        self._require_admin(
            ctx, 'os_compute_api:os-migrate-server:migrate_live')
        if not isinstance(args, dict) or 'host' not in args or \
                'block_migration' not in args:
            raise util.BadRequest("Invalid input for field/attribute "
                                  "os-migrateLive. 'host' and "
                                  "'block_migration' are required "
                                  "properties")
        block = args['block_migration']
        if mv < (2, 25):
            if 'disk_over_commit' not in args:
                raise util.BadRequest("Invalid input for field/attribute "
                                      "os-migrateLive. 'disk_over_commit' "
                                      "is a required property")
            if not isinstance(block, bool) and \
                    util.parse_bool(block) is None:
                raise util.BadRequest('block_migration must be a boolean')
        else:
            if 'disk_over_commit' in args:
                raise util.BadRequest("Additional properties are not allowed"
                                      " ('disk_over_commit' was unexpected)")
            if block != 'auto' and not isinstance(block, bool) and \
                    util.parse_bool(block) is None:
                raise util.BadRequest("Invalid input for field/attribute "
                                      "block_migration. Value: %s." % block)
        force = bool(args.get('force')) if (2, 30) <= mv < (2, 68) else False
        if 'force' in args and not (2, 30) <= mv < (2, 68):
            raise util.BadRequest("Additional properties are not allowed "
                                  "('force' was unexpected)")
        self.cloud.live_migrate(ctx, server, host=args.get('host'),
                                force=force, async_=mv >= (2, 25))
        return wsgi.json_response(None, status=202)

    def _act_confirm(self, ctx, server, args, mv):
        self.cloud.confirm_resize(ctx, server)
        return wsgi.json_response(None, status=204)

    def _act_revert(self, ctx, server, args, mv):
        self.cloud.revert_resize(ctx, server)
        return wsgi.json_response(None, status=202)

    def _act_stop(self, ctx, server, args, mv):
        self.cloud.stop_server(ctx, server)
        return wsgi.json_response(None, status=202)

    def _act_start(self, ctx, server, args, mv):
        self.cloud.start_server(ctx, server)
        return wsgi.json_response(None, status=202)

    def _act_reset_state(self, ctx, server, args, mv):
        self._require_admin(ctx, 'os_compute_api:os-admin-actions:'
                                 'reset_state')
        self.cloud.reset_state(ctx, server, (args or {}).get('state'))
        return wsgi.json_response(None, status=202)

    def _act_evacuate(self, ctx, server, args, mv):
        self._require_admin(ctx, 'os_compute_api:os-evacuate')
        args = args or {}
        force = bool(args.get('force')) if (2, 29) <= mv < (2, 68) else False
        self.cloud.evacuate(ctx, server, host=args.get('host'), force=force,
                            stopped=mv >= (2, 95))
        if mv < (2, 14):
            return wsgi.json_response({'adminPass': util.new_uuid()[:12]})
        return wsgi.json_response(None, status=200)

    # --- server metadata -----------------------------------------------------

    @staticmethod
    def _metadata_arg(body, key, one=False):
        """``body[key]`` checked as Nova's schema does (400 otherwise)."""
        if not isinstance(body, dict) or set(body) != {key}:
            raise util.BadRequest("Invalid input for field/attribute %s. "
                                  "'%s' is a required property and nothing "
                                  "else is allowed." % (key, key))
        meta = body[key]
        if not isinstance(meta, dict) or (one and len(meta) != 1):
            raise util.BadRequest('Invalid input for field/attribute %s. '
                                  'Value: %s. It must be an object%s.' % (
                                      key, meta, ' with exactly one item'
                                      if one else ''))
        for name, value in meta.items():
            if not METADATA_KEY.match(name):
                raise util.BadRequest(
                    "Invalid input for field/attribute %s. Value: %s. "
                    "'%s' does not match any of the regexes: '%s'"
                    % (key, meta, name, METADATA_KEY.pattern))
            if not isinstance(value, str) or len(value) > 255:
                raise util.BadRequest(
                    'Invalid input for field/attribute %s. Value: %s. The '
                    'value of %r must be a string of at most 255 '
                    'characters.' % (key, meta, name))
        return meta

    def _metadata_target(self, req, server_id, policy, write):
        """The caller and its server: readers may look, members (or an
        admin) may change; another project's server is 404."""
        ctx = self.authenticate(req)
        server = self.get_server(ctx, server_id)
        role = 'member' if write else 'reader'
        if not (ctx.is_admin or role in ctx.roles):
            raise util.Forbidden("Policy doesn't allow os_compute_api:"
                                 "server-metadata:%s to be performed."
                                 % policy)
        return ctx, server

    def list_metadata(self, req, server_id):
        with self.sim.lock:
            _, server = self._metadata_target(req, server_id, 'index', False)
            return wsgi.json_response({'metadata': dict(server.metadata)})

    def update_metadata(self, req, server_id):
        meta = self._metadata_arg(wsgi.json_body(req), 'metadata')
        with self.sim.lock:
            ctx, server = self._metadata_target(req, server_id, 'create',
                                                True)
            new = self.cloud.update_metadata(ctx, server, meta)
        return wsgi.json_response({'metadata': new})

    def replace_metadata(self, req, server_id):
        meta = self._metadata_arg(wsgi.json_body(req), 'metadata')
        with self.sim.lock:
            ctx, server = self._metadata_target(req, server_id, 'update_all',
                                                True)
            new = self.cloud.update_metadata(ctx, server, meta, replace=True)
        return wsgi.json_response({'metadata': new})

    def show_metadata_item(self, req, server_id, key):
        with self.sim.lock:
            _, server = self._metadata_target(req, server_id, 'show', False)
            value = util.find(server.metadata, key,
                              'Metadata item was not found')
        return wsgi.json_response({'meta': {key: value}})

    def set_metadata_item(self, req, server_id, key):
        meta = self._metadata_arg(wsgi.json_body(req), 'meta', one=True)
        with self.sim.lock:
            ctx, server = self._metadata_target(req, server_id, 'update',
                                                True)
            if key not in meta:
                raise util.BadRequest('Request body and URI mismatch')
            self.cloud.update_metadata(ctx, server, meta)
        return wsgi.json_response({'meta': meta})

    def delete_metadata_item(self, req, server_id, key):
        with self.sim.lock:
            ctx, server = self._metadata_target(req, server_id, 'delete',
                                                True)
            self.cloud.delete_metadata(ctx, server, key)
        return wsgi.json_response(None, status=204)

    # --- server migrations and actions ---------------------------------------

    def _server_migrations_guard(self, req, mv):
        if mv < (2, 23):
            raise util.NotFound('The resource could not be found.')
        return self.admin(req, 'os_compute_api:servers:migrations:index')

    def list_server_migrations(self, req, server_id):
        mv = self.mv(req)
        ctx = self._server_migrations_guard(req, mv)
        with self.sim.lock:
            server = self.get_server(ctx, server_id)
            migs = [m for m in self.cloud.migrations.values()
                    if m.instance_uuid == server.id and
                    m.migration_type == 'live-migration' and
                    m.status in model.IN_PROGRESS_LIVE]
            views = [self.server_migration_view(m, mv) for m in migs]
        return wsgi.json_response({'migrations': views})

    def _server_migration(self, ctx, server_id, migration_id):
        server = self.get_server(ctx, server_id)
        mig = util.find(
            self.cloud.migrations, _int_or_str(migration_id),
            'In-progress live migration %s is not found for server %s.'
            % (migration_id, server_id),
            lambda m: (m.instance_uuid == server.id and
                       m.migration_type == 'live-migration' and
                       m.status in model.IN_PROGRESS_LIVE))
        return server, mig

    def show_server_migration(self, req, server_id, migration_id):
        mv = self.mv(req)
        ctx = self._server_migrations_guard(req, mv)
        with self.sim.lock:
            _, mig = self._server_migration(ctx, server_id, migration_id)
            view = self.server_migration_view(mig, mv)
        return wsgi.json_response({'migration': view})

    def abort_server_migration(self, req, server_id, migration_id):
        mv = self.mv(req)
        if mv < (2, 24):
            raise util.NotFound('The resource could not be found.')
        ctx = self.admin(req, 'os_compute_api:servers:migrations:delete')
        with self.sim.lock:
            server = self.get_server(ctx, server_id)
            self.cloud.abort_live_migration(ctx, server,
                                            _int_or_str(migration_id))
        return wsgi.json_response(None, status=202)

    def server_migration_action(self, req, server_id, migration_id):
        mv = self.mv(req)
        if mv < (2, 22):
            raise util.NotFound('The resource could not be found.')
        ctx = self.admin(req, 'os_compute_api:servers:migrations:'
                              'force_complete')
        body = wsgi.json_body(req)
        if not isinstance(body, dict) or 'force_complete' not in body:
            raise util.BadRequest('There is no such action.')
        with self.sim.lock:
            server = self.get_server(ctx, server_id)
            self.cloud.force_complete(ctx, server,
                                      _int_or_str(migration_id))
        return wsgi.json_response(None, status=202)

    def list_instance_actions(self, req, server_id):
        ctx = self.authenticate(req)
        mv = self.mv(req)
        with self.sim.lock:
            server = self.get_server(ctx, server_id)
            actions = list(reversed(self.cloud.actions.get(server.id, [])))
            views = [self.action_view(a, mv, ctx) for a in actions]
        return wsgi.json_response({'instanceActions': views})

    def show_instance_action(self, req, server_id, request_id):
        ctx = self.authenticate(req)
        mv = self.mv(req)
        with self.sim.lock:
            server = self.get_server(ctx, server_id)
            for action in self.cloud.actions.get(server.id, []):
                if action.request_id == request_id:
                    view = self.action_view(action, mv, ctx, show=True)
                    break
            else:
                raise util.NotFound('Action %s could not be found.'
                                    % request_id)
        return wsgi.json_response({'instanceAction': view})

    # --- services ------------------------------------------------------------

    def list_services(self, req):
        self.admin(req, 'os_compute_api:os-services:list')
        mv = self.mv(req)
        host = req.GET.get('host')
        binary = req.GET.get('binary')
        with self.sim.lock:
            if host is not None:
                h = self.cloud.hosts.get(host)
                services = list(h.services) if h else []
            else:
                services = list(self.cloud.services.values())
            views = [self.service_view(s, mv) for s in services
                     if binary is None or s.binary == binary]
        return wsgi.json_response({'services': views})

    def _legacy_service_update(self, req, action, mv):
        body = wsgi.json_body(req)
        if not isinstance(body, dict) or not body.get('host') or \
                not body.get('binary'):
            raise util.BadRequest("Invalid input: 'host' and 'binary' are "
                                  "required properties")
        if action == 'force-down' and mv < (2, 11):
            raise util.NotFound('The resource could not be found.')
        with self.sim.lock:
            svc = self.cloud.find_service(body['host'], body['binary'])
            if svc is None:
                raise util.NotFound('Service %s on host %s not found.'
                                    % (body['binary'], body['host']))
            if action == 'enable':
                self.cloud.update_service(svc, status='enabled')
            elif action == 'disable':
                self.cloud.update_service(svc, status='disabled')
            elif action == 'disable-log-reason':
                reason = body.get('disabled_reason')
                if not reason or len(reason) > 255:
                    raise util.BadRequest('Invalid disabled_reason')
                self.cloud.update_service(svc, status='disabled',
                                          disabled_reason=reason)
            else:
                if 'forced_down' not in body:
                    raise util.BadRequest("'forced_down' is a required "
                                          "property")
                self.cloud.update_service(
                    svc, forced_down=util.parse_bool(body['forced_down'],
                                                     default=False))
            view = {'host': svc.host.name, 'binary': svc.binary}
            if action == 'force-down':
                view['forced_down'] = svc.forced_down
            else:
                view['status'] = 'disabled' if svc.disabled else 'enabled'
                if action == 'disable-log-reason':
                    view['disabled_reason'] = svc.disabled_reason
        return wsgi.json_response({'service': view})

    def update_service(self, req, service_id):
        self.admin(req, 'os_compute_api:os-services:update')
        mv = self.mv(req)
        if mv < (2, 53):
            if service_id not in LEGACY_SERVICE_ACTIONS:
                raise util.NotFound('The resource could not be found.')
            return self._legacy_service_update(req, service_id, mv)
        body = wsgi.json_body(req)
        if not isinstance(body, dict) or not body:
            raise util.BadRequest('At least one of status or forced_down '
                                  'must be specified in the request body.')
        unknown = set(body) - {'status', 'disabled_reason', 'forced_down'}
        if unknown:
            raise util.BadRequest("Additional properties are not allowed "
                                  "(%s were unexpected)"
                                  % ', '.join(sorted(unknown)))
        status = body.get('status')
        if status not in (None, 'enabled', 'disabled'):
            raise util.BadRequest("Invalid input for field/attribute status."
                                  " Value: %s." % status)
        reason = body.get('disabled_reason')
        if reason is not None:
            if status != 'disabled':
                raise util.BadRequest('Specifying a disabled_reason is only '
                                      'supported when the status is '
                                      'disabled.')
            if not isinstance(reason, str) or not 1 <= len(reason) <= 255:
                raise util.BadRequest('Invalid input for field/attribute '
                                      'disabled_reason.')
        forced = body.get('forced_down')
        if forced is not None and not isinstance(forced, bool):
            raise util.BadRequest("Invalid input for field/attribute "
                                  "forced_down. Value: %s." % forced)
        if status is None and forced is None:
            raise util.BadRequest('At least one of status or forced_down '
                                  'must be specified in the request body.')
        with self.sim.lock:
            svc = util.find(self.cloud.services_by_uuid, service_id,
                            'Service %s could not be found.' % service_id)
            if svc.binary != 'nova-compute':
                raise util.BadRequest(
                    'Updating a %(b)s service is not supported. Only '
                    'nova-compute services can be updated.' % {
                        'b': svc.binary})
            self.cloud.update_service(svc, status=status,
                                      disabled_reason=reason,
                                      forced_down=forced)
            view = self.service_view(svc, mv)
        return wsgi.json_response({'service': view})

    def delete_service(self, req, service_id):
        self.admin(req, 'os_compute_api:os-services:delete')
        raise util.Conflict('Deleting services is not supported by the '
                            'simulated cloud.')

    # --- hypervisors ---------------------------------------------------------

    def _find_hypervisor(self, ident, mv):
        if mv >= (2, 53):
            hosts, key = self.cloud.hosts_by_uuid, ident
        else:
            try:
                hosts, key = self.cloud.hosts_by_id, int(ident)
            except ValueError:
                raise util.BadRequest('Invalid ID %s' % ident)
        return util.find(hosts, key, 'Hypervisor with ID %s could not be '
                         'found.' % ident, lambda h: h.type == 'compute')

    def _list_hypervisors(self, req, detail):
        self.admin(req, 'os_compute_api:os-hypervisors:list')
        mv = self.mv(req)
        q = req.GET
        pattern = q.get('hypervisor_hostname_pattern') \
            if mv >= (2, 53) else None
        with_servers = (mv >= (2, 53) and
                        util.parse_bool(q.get('with_servers', 'false'),
                                        default=False))
        with self.sim.lock:
            hosts = self.cloud.compute_hosts
            links = []
            if pattern is not None:
                if 'limit' in q or 'marker' in q:
                    raise util.BadRequest('Paging over hypervisors with the '
                                          'hypervisor_hostname_pattern query'
                                          ' parameter is not supported.')
                hosts = [h for h in hosts if pattern in h.name]
                if not hosts:
                    raise util.NotFound("No hypervisor matching '%s' could "
                                        "be found." % pattern)
            elif mv >= (2, 33):
                href = self.url('os-hypervisors' +
                                ('/detail' if detail else ''))
                hosts, links = self.page(
                    req, hosts, lambda h: h.uuid if mv >= (2, 53) else h.id,
                    'hypervisors', href)
            views = [self.hypervisor_view(h, mv, detail, with_servers)
                     for h in hosts]
        return self.listing('hypervisors', views, links)

    def list_hypervisors(self, req):
        return self._list_hypervisors(req, False)

    def list_hypervisors_detail(self, req):
        return self._list_hypervisors(req, True)

    def show_hypervisor(self, req, hypervisor_id):
        self.admin(req, 'os_compute_api:os-hypervisors:show')
        mv = self.mv(req)
        with_servers = (mv >= (2, 53) and
                        util.parse_bool(req.GET.get('with_servers', 'false'),
                                        default=False))
        with self.sim.lock:
            h = self._find_hypervisor(hypervisor_id, mv)
            view = self.hypervisor_view(h, mv, True, with_servers)
        return wsgi.json_response({'hypervisor': view})

    def hypervisor_uptime(self, req, hypervisor_id):
        self.admin(req, 'os_compute_api:os-hypervisors:uptime')
        mv = self.mv(req)
        if mv >= (2, 88):
            raise util.NotFound('The resource could not be found.')
        with self.sim.lock:
            h = self._find_hypervisor(hypervisor_id, mv)
            view = self.hypervisor_view(h, mv, False)
        view['uptime'] = ' 08:00:00 up 10 days,  1:00,  0 users,  load ' \
                         'average: 0.10, 0.10, 0.10'
        return wsgi.json_response({'hypervisor': view})

    def hypervisor_statistics(self, req):
        self.admin(req, 'os_compute_api:os-hypervisors:statistics')
        if self.mv(req) >= (2, 88):
            raise util.NotFound('The resource could not be found.')
        with self.sim.lock:
            hosts = self.cloud.compute_hosts
            stats = {
                'count': len(hosts),
                'vcpus': sum(h.vcpus for h in hosts),
                'memory_mb': sum(h.memory_mb for h in hosts),
                'local_gb': sum(h.disk_gb for h in hosts),
                'vcpus_used': sum(h.used[0] for h in hosts),
                'memory_mb_used': sum(h.used[1] for h in hosts),
                'local_gb_used': sum(h.used[2] for h in hosts),
                'running_vms': sum(len(h.servers) for h in hosts),
                'current_workload': 0}
        stats['free_ram_mb'] = stats['memory_mb'] - stats['memory_mb_used']
        stats['free_disk_gb'] = stats['local_gb'] - stats['local_gb_used']
        stats['disk_available_least'] = stats['free_disk_gb']
        return wsgi.json_response({'hypervisor_statistics': stats})

    def _search(self, req, pattern, with_servers):
        self.admin(req, 'os_compute_api:os-hypervisors:search')
        mv = self.mv(req)
        if mv >= (2, 53):
            raise util.NotFound('The resource could not be found.')
        with self.sim.lock:
            hosts = [h for h in self.cloud.compute_hosts if pattern in h.name]
            if not hosts:
                raise util.NotFound("No hypervisor matching '%s' could be "
                                    "found." % pattern)
            views = [self.hypervisor_view(h, mv, False, with_servers)
                     for h in hosts]
        return wsgi.json_response({'hypervisors': views})

    def search_hypervisors(self, req, pattern):
        return self._search(req, pattern, False)

    def hypervisor_servers(self, req, pattern):
        return self._search(req, pattern, True)

    # --- migrations ----------------------------------------------------------

    def list_migrations(self, req):
        self.admin(req, 'os_compute_api:os-migrations:index')
        mv = self.mv(req)
        q = req.GET
        host = q.get('host')
        status = q.get('status')
        instance = q.get('instance_uuid')
        mtype = q.get('migration_type')
        source = q.get('source_compute')
        user_id = q.get('user_id') if mv >= (2, 80) else None
        project_id = q.get('project_id') if mv >= (2, 80) else None
        since = q.get('changes-since') if mv >= (2, 59) else None
        before = q.get('changes-before') if mv >= (2, 66) else None
        try:
            since = util.parse_time(since) if since else None
            before = util.parse_time(before) if before else None
        except ValueError:
            raise util.BadRequest('Invalid changes-since/changes-before')
        with self.sim.lock:
            out = []
            for m in reversed(self.cloud.migrations.values()):
                if host and host not in (m.source_compute, m.dest_compute):
                    continue
                if status and m.status != status:
                    continue
                if instance and m.instance_uuid != instance:
                    continue
                if mtype and m.migration_type != mtype:
                    continue
                if source and m.source_compute != source:
                    continue
                if user_id and m.user_id != user_id:
                    continue
                if project_id and m.project_id != project_id:
                    continue
                if since and m.updated_at < since:
                    continue
                if before and m.updated_at > before:
                    continue
                out.append(m)
            links = []
            if mv >= (2, 59):
                out, links = self.page(req, out, lambda m: m.uuid,
                                       'migrations',
                                       self.url('os-migrations'))
            views = [self.migration_view(m, mv) for m in out]
        return self.listing('migrations', views, links)

    # --- server groups -------------------------------------------------------

    def list_groups(self, req):
        ctx = self.authenticate(req)
        mv = self.mv(req)
        all_projects = util.parse_bool(req.GET.get('all_projects', 'false'),
                                       default=False)
        project = req.GET.get('project_id') if mv >= (2, 13) else None
        with self.sim.lock:
            groups = list(self.cloud.groups.values())
            if not (ctx.is_admin and all_projects):
                wanted = project if (ctx.is_admin and project) else \
                    ctx.project_id
                groups = [g for g in groups if g.project_id == wanted]
            try:
                offset = int(req.GET.get('offset', 0))
                limit = int(req.GET.get('limit', self.cloud.max_limit))
            except ValueError:
                raise util.BadRequest('limit and offset must be integers')
            groups = groups[offset:offset + min(limit, self.cloud.max_limit)]
            views = [self.group_view(g, mv) for g in groups]
        return wsgi.json_response({'server_groups': views})

    def _find_group(self, ctx, group_id):
        return util.find(self.cloud.groups, group_id,
                         'Instance group %s could not be found.' % group_id,
                         self.visible_to(ctx))

    def show_group(self, req, group_id):
        ctx = self.authenticate(req)
        with self.sim.lock:
            view = self.group_view(self._find_group(ctx, group_id),
                                   self.mv(req))
        return wsgi.json_response({'server_group': view})

    def create_group(self, req):
        ctx, mv, _, spec = self._create_request(
            req, 'server_group', 'os_compute_api:os-server-groups:create')
        if not spec.get('name'):
            raise util.BadRequest("Invalid input for field/attribute "
                                  "server_group. 'name' is a required "
                                  "property")
        allowed = list(topology.GROUP_POLICIES)
        if mv < (2, 15):
            allowed = ['anti-affinity', 'affinity']
        rules = {}
        if mv >= (2, 64):
            policy = spec.get('policy')
            rules = spec.get('rules') or {}
            if 'policies' in spec:
                raise util.BadRequest("Additional properties are not allowed"
                                      " ('policies' was unexpected)")
            if rules and policy != 'anti-affinity':
                raise util.BadRequest('Only anti-affinity policy supports '
                                      'rules.')
            bad = set(rules) - {'max_server_per_host'}
            if bad or (rules and (not isinstance(
                    rules.get('max_server_per_host'), int) or
                    rules['max_server_per_host'] < 1)):
                raise util.BadRequest('Invalid input for field/attribute '
                                      'rules.')
        else:
            policies = spec.get('policies')
            if not isinstance(policies, list) or len(policies) != 1:
                raise util.BadRequest("Invalid input for field/attribute "
                                      "policies.")
            policy = policies[0]
        if policy not in allowed:
            raise util.BadRequest("Invalid input for field/attribute "
                                  "policy. Value: %s. '%s' is not one of %s"
                                  % (policy, policy, allowed))
        with self.sim.lock:
            group = self.cloud.create_group(ctx, spec['name'], policy, rules)
            view = self.group_view(group, mv)
        return wsgi.json_response({'server_group': view})

    def delete_group(self, req, group_id):
        ctx = self.authenticate(req)
        with self.sim.lock:
            self.cloud.delete_group(self._find_group(ctx, group_id))
        return wsgi.json_response(None, status=204)

    # --- flavors and the rest ------------------------------------------------

    def _flavors(self, req, detail):
        self.authenticate(req)
        mv = self.mv(req)
        with self.sim.lock:
            flavors = sorted(self.cloud.flavors.values(),
                             key=lambda f: (f.ram, f.vcpus, f.id))
            flavors, links = self.page(
                req, flavors, lambda f: f.id, 'flavors',
                self.url('flavors' + ('/detail' if detail else '')))
            views = [self.flavor_view(f, mv, detail) for f in flavors]
        return self.listing('flavors', views, links)

    def list_flavors(self, req):
        return self._flavors(req, False)

    def list_flavors_detail(self, req):
        return self._flavors(req, True)

    def _flavor(self, flavor_id):
        return util.find(self.cloud.flavors, flavor_id,
                         'Flavor %s could not be found.' % flavor_id)

    def show_flavor(self, req, flavor_id):
        self.authenticate(req)
        with self.sim.lock:
            view = self.flavor_view(self._flavor(flavor_id), self.mv(req))
        return wsgi.json_response({'flavor': view})

    def flavor_extra_specs(self, req, flavor_id):
        self.authenticate(req)
        with self.sim.lock:
            specs = dict(self._flavor(flavor_id).extra_specs)
        return wsgi.json_response({'extra_specs': specs})

    def create_flavor(self, req):
        self.admin(req, 'os_compute_api:os-flavor-manage:create')
        body = wsgi.json_body(req)
        spec = body.get('flavor') if isinstance(body, dict) else None
        if not isinstance(spec, dict):
            raise util.BadRequest("'flavor' is a required property")
        entry = {'name': spec.get('name'), 'vcpus': spec.get('vcpus'),
                 'ram': spec.get('ram'), 'disk': spec.get('disk'),
                 'ephemeral': spec.get('OS-FLV-EXT-DATA:ephemeral', 0),
                 'swap': spec.get('swap') or 0,
                 'is_public': spec.get('os-flavor-access:is_public', True),
                 'description': spec.get('description')}
        if spec.get('id') not in (None, 'auto'):
            entry['id'] = str(spec['id'])
        else:
            entry['id'] = util.new_uuid()
        try:
            norm = topology.normalize({'flavors': [entry]})['flavors'][0]
        except topology.TopologyError as exc:
            raise util.BadRequest(str(exc))
        with self.sim.lock:
            if norm['id'] in self.cloud.flavors or \
                    norm['name'] in self.cloud.flavors_by_name:
                raise util.Conflict('Flavor with name %s already exists.'
                                    % norm['name'])
            flavor = self.cloud.add_flavor(norm)
            view = self.flavor_view(flavor, self.mv(req))
        return wsgi.json_response({'flavor': view})

    def delete_flavor(self, req, flavor_id):
        self.admin(req, 'os_compute_api:os-flavor-manage:delete')
        with self.sim.lock:
            flavor = self._flavor(flavor_id)
            del self.cloud.flavors[flavor.id]
            self.cloud.flavors_by_name.pop(flavor.name, None)
        return wsgi.json_response(None, status=202)

    def limits(self, req):
        ctx = self.authenticate(req)
        with self.sim.lock:
            mine = [s for s in self.cloud.servers.values()
                    if s.project_id == ctx.project_id]
            groups = sum(1 for g in self.cloud.groups.values()
                         if g.project_id == ctx.project_id)
            absolute = {
                'maxTotalInstances': -1, 'maxTotalCores': -1,
                'maxTotalRAMSize': -1, 'maxServerMeta': 128,
                'maxImageMeta': 128, 'maxTotalKeypairs': 100,
                'maxServerGroups': -1, 'maxServerGroupMembers': -1,
                'totalInstancesUsed': len(mine),
                'totalCoresUsed': sum(s.flavor.vcpus for s in mine),
                'totalRAMUsed': sum(s.flavor.ram for s in mine),
                'totalServerGroupsUsed': groups}
        return wsgi.json_response({'limits': {'rate': [],
                                              'absolute': absolute}})

    def list_zones(self, req):
        ctx = self.authenticate(req)
        zone = {'zoneName': 'nova', 'zoneState': {'available': True},
                'hosts': None}
        if ctx.is_admin and req.path_info.endswith('/detail'):
            with self.sim.lock:
                zone['hosts'] = {h.name: {'nova-compute': {
                    'available': h.compute_service.state == 'up',
                    'active': not h.compute_service.disabled,
                    'updated_at': _time(util.utcnow())}}
                    for h in self.cloud.compute_hosts}
        return wsgi.json_response({'availabilityZoneInfo': [zone]})
