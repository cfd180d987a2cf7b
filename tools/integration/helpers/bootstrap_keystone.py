# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Create the integration tier's Keystone entities (idempotent).

Usage: bootstrap_keystone.py AUTH_URL ADMIN_PASSWORD OUT_JSON \
           service=type=url ...

Projects ``service``, ``vnfm1``, ``vnfm2``; service users (admin in
``service``): nova, placement, aodh, ceilometer, fenix; tenant users
``vnfm1`` (member of project vnfm1), ``vnfm2`` (member of vnfm2),
``reader1`` (reader of vnfm1); one catalog service + public/internal/admin
endpoints per ``name=type=url`` argument. Writes everything the tests need
(ids, user names, passwords) to OUT_JSON.
"""
import json
import sys

from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session
from keystoneclient.v3 import client as ks_client

SERVICE_USERS = ('nova', 'placement', 'aodh', 'ceilometer', 'fenix')
TENANT_USERS = (('vnfm1', 'vnfm1', 'member'), ('vnfm2', 'vnfm2', 'member'),
                ('reader1', 'vnfm1', 'reader'))


def password(name):
    return '%s-secret' % name


def main():
    auth_url, admin_password, out = sys.argv[1:4]
    services = [a.split('=', 2) for a in sys.argv[4:]]
    sess = ks_session.Session(auth=v3.Password(
        auth_url=auth_url, username='admin', password=admin_password,
        project_name='admin', user_domain_id='default',
        project_domain_id='default'))
    ks = ks_client.Client(session=sess)
    roles = {r.name: r for r in ks.roles.list()}
    for name in ('member', 'reader', 'admin'):
        if name not in roles:
            roles[name] = ks.roles.create(name)

    def project(name):
        found = ks.projects.list(name=name, domain='default')
        return found[0] if found else ks.projects.create(name, 'default')

    def user(name, proj, role):
        found = ks.users.list(name=name, domain='default')
        u = found[0] if found else ks.users.create(
            name, domain='default', password=password(name))
        ks.roles.grant(roles[role], user=u, project=proj)
        return u

    projects = {n: project(n) for n in ('service', 'vnfm1', 'vnfm2')}
    projects['admin'] = project('admin')
    users = {}
    for name in SERVICE_USERS:
        u = user(name, projects['service'], 'admin')
        users[name] = {'id': u.id, 'password': password(name),
                       'project': 'service', 'role': 'admin'}
    for name, proj, role in TENANT_USERS:
        u = user(name, projects[proj], role)
        users[name] = {'id': u.id, 'password': password(name),
                       'project': proj, 'role': role}
    users['admin'] = {'id': sess.get_user_id(), 'password': admin_password,
                      'project': 'admin', 'role': 'admin'}

    existing = {s.type: s for s in ks.services.list()}
    for name, stype, url in services:
        svc = existing.get(stype) or ks.services.create(name, type=stype)
        have = {e.interface: e for e in ks.endpoints.list(service=svc)}
        for itf in ('public', 'internal', 'admin'):
            if itf in have and have[itf].url != url:
                ks.endpoints.delete(have[itf])
                del have[itf]
            if itf not in have:
                ks.endpoints.create(svc, url, interface=itf,
                                    region='RegionOne')
    data = {'auth_url': auth_url, 'region': 'RegionOne',
            'projects': {n: p.id for n, p in projects.items()},
            'users': users,
            'catalog': {stype: url for _, stype, url in services}}
    with open(out, 'w') as f:
        json.dump(data, f, indent=2, sort_keys=True)
    print(json.dumps(data['projects']))


if __name__ == '__main__':
    main()
