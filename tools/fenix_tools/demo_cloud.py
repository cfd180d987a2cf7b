# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The demo's simulated cloud: the seed-004 topology and the questions the
demo asks the cloud's own record afterwards.

Fenix and the VNFM only ever reach this cloud over HTTP with the OpenStack
clients; the Python access here is the demo looking at the ground truth
(where every server was, every migration, every service change).
"""
from fenix_tools.simcloud import server as sim_server

TENANT_PROJECT = 'demo'
TENANT_USER = 'vnfm'
TENANT_PASSWORD = 'vnfmpass'
SERVICE_USER = 'fenix'
SERVICE_PASSWORD = 'fenixpass'
SERVICE_PROJECT = 'service'
FLAVOR = 'demo.half'
ADMIN_USER = 'admin'
ADMIN_PASSWORD = 'adminpass'
ADMIN_PROJECT = 'admin'


def seed004_topology(computes=3):
    """Three computes of two slots (4 vCPU, 8 GiB, 80 GB; the flavor takes
    half of each), a controller, the admin and Fenix service users, and a
    tenant whose manager fills the computes."""
    return {
        'name': 'seed004-demo',
        'projects': [{'name': ADMIN_PROJECT}, {'name': SERVICE_PROJECT},
                     {'name': TENANT_PROJECT}],
        'users': [
            {'name': ADMIN_USER, 'password': ADMIN_PASSWORD,
             'roles': {ADMIN_PROJECT: ['admin']}},
            {'name': SERVICE_USER, 'password': SERVICE_PASSWORD,
             'roles': {SERVICE_PROJECT: ['admin']}},
            {'name': TENANT_USER, 'password': TENANT_PASSWORD,
             'roles': {TENANT_PROJECT: ['member']}},
        ],
        'hosts': [
            {'name': 'controller-0', 'type': 'controller'},
            {'name': 'compute-{n}', 'count': computes, 'type': 'compute',
             'vcpus': 4, 'memory_mb': 8192, 'disk_gb': 80},
        ],
        'flavors': [{'name': FLAVOR, 'vcpus': 2, 'ram': 4096, 'disk': 40}],
        'timing': {'cold_migration': 0.3, 'live_migration': 0.3,
                   'boot': 0.1},
    }


class DemoCloud(object):
    """Start/stop the simulated cloud and read its record."""

    flavor = FLAVOR
    image = None

    def __init__(self, fenix_url=None, topology=None):
        self.topology = topology or seed004_topology()
        self.fenix_url = fenix_url
        self.sim = None

    def start(self):
        self.sim = sim_server.SimCloud(topology=self.topology,
                                       maintenance_url=self.fenix_url)
        self.sim.start()
        return self

    def stop(self):
        if self.sim is not None:
            self.sim.stop()
            self.sim = None

    @property
    def url(self):
        return self.sim.url

    @property
    def auth_url(self):
        return self.sim.auth_url

    @property
    def notification_url(self):
        return self.sim.control_url + '/notifications'

    def set_fenix_url(self, url):
        self.sim.set_maintenance_url(url)

    def service_credentials(self):
        return {'auth_url': self.sim.auth_url, 'username': SERVICE_USER,
                'password': SERVICE_PASSWORD,
                'project_name': SERVICE_PROJECT}

    def admin_credentials(self):
        """The cloud admin's (the operator who runs the session)."""
        return {'auth_url': self.sim.auth_url, 'username': ADMIN_USER,
                'password': ADMIN_PASSWORD, 'project_name': ADMIN_PROJECT}

    def tenant_credentials(self):
        return {'auth_url': self.sim.auth_url, 'username': TENANT_USER,
                'password': TENANT_PASSWORD, 'project_name': TENANT_PROJECT}

    def compute_names(self):
        return sorted(h['name'] for h in self.sim.topology['hosts']
                      if h['type'] == 'compute')

    def server_hosts(self):
        """{server id: host} now (the admin's view)."""
        with self.sim.lock:
            return {sid: s.host for sid, s in self.sim.cloud.servers.items()}

    def server_names(self):
        """{server id: name} of every server the cloud ever had."""
        return {e['server']: e.get('name')
                for e in self.sim.get_events(kind='server.create')}

    def project_servers(self, project_id):
        """Ids of every server the project ever had."""
        return [e['server'] for e in self.sim.get_events(
            kind='server.create') if e.get('project') == project_id]

    def migrations(self, project_id=None):
        """Every migration of the project's servers: name, type, source,
        dest, whether it completed."""
        servers = (set(self.project_servers(project_id))
                   if project_id else None)
        moves = {}
        for event in self.sim.get_events(kind='migration.'):
            if servers is not None and event.get('server') not in servers:
                continue
            mid = event.get('migration')
            kind = event['kind']
            if kind == 'migration.start':
                moves[mid] = {'server': event['server'],
                              'name': event.get('name'),
                              'type': event.get('type'),
                              'source': event.get('source'),
                              'dest': event.get('dest'),
                              'started': event.get('time'),
                              'ok': False, 'state': 'started'}
            elif mid in moves:
                move = moves[mid]
                if kind == 'migration.finish':
                    move['state'] = 'finished'
                    move['ok'] = move['type'] != 'cold'
                    move['dest'] = event.get('dest') or move['dest']
                elif kind == 'migration.confirm':
                    move['state'] = 'confirmed'
                    move['ok'] = True
                else:
                    move['state'] = kind.split('.', 1)[1]
                    move['ok'] = False
        return list(moves.values())

    def disabled_computes(self):
        """Computes whose nova-compute is disabled now."""
        computes = set(self.compute_names())
        return [h for h in self.sim.history.disabled_hosts()
                if h in computes]

    def maintenance_overlaps(self, server_ids):
        """Servers that were on a host while it was in maintenance."""
        return [{'server': s, 'host': h}
                for s, h, _t0, _t1 in
                self.sim.history.maintenance_violations(set(server_ids))]

    @property
    def control_url(self):
        return self.sim.control_url

    def upgrades(self):
        """Every host.upgrade: host, version, previous, the servers the
        host held and whether its nova-compute was disabled."""
        return [{k: e.get(k) for k in ('host', 'version', 'previous',
                                       'servers', 'disabled')}
                for e in self.sim.events.events(kind='host.upgrade')]

    def last_events(self, count):
        return self.sim.events.dump()[-count:]
