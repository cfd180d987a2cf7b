# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Role-based access: every route against every persona, as a table."""
import testscenarios

from fenix.common import states
from fenix.tests.unit.api import base

load_tests = testscenarios.load_tests_apply_scenarios

SID = '3f2e1d0c-9b8a-4765-8432-10fedcba9876'
P = base.PROJECT
INSTANCE = '8a3f6b1c-2d4e-4f5a-9b8c-7d6e5f4a3b2c'
GROUP = '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f'

# Who may do what (everyone else gets 403).
ADMIN = {'admin'}
ADMIN_READ = {'admin', 'system_reader'}
PROJECT_READ = {'admin', 'system_reader', 'owner_member', 'owner_reader'}
PROJECT_WRITE = {'admin', 'owner_member'}
OWN_LIST = PROJECT_READ | {'other_member'}
RUN_READ = {'admin', 'system_reader', 'service'}
RUN_WRITE = {'admin', 'service'}

# (method, path, body, allowed personas, policy rule)
ROUTES = [
    ('POST', '/v1/maintenance', {}, ADMIN, 'fenix:maintenance:create'),
    ('GET', '/v1/maintenance', None, ADMIN_READ, 'fenix:maintenance:list'),
    ('GET', '/v1/maintenance/S', None, ADMIN_READ, 'fenix:maintenance:get'),
    ('GET', '/v1/maintenance/S/detail', None, ADMIN_READ,
     'fenix:maintenance:get_detail'),
    ('PUT', '/v1/maintenance/S', {}, ADMIN, 'fenix:maintenance:update'),
    ('DELETE', '/v1/maintenance/S', None, ADMIN, 'fenix:maintenance:delete'),
    ('POST', '/v1/maintenance/S', {'action': 'pause'}, ADMIN,
     'fenix:maintenance:session:pause'),
    ('POST', '/v1/maintenance/S', {'action': 'resume'}, ADMIN,
     'fenix:maintenance:session:resume'),
    ('POST', '/v1/maintenance/S', {'action': 'skip_host',
                                   'host': 'compute-0'}, ADMIN,
     'fenix:maintenance:session:skip_host'),
    ('POST', '/v1/maintenance/S', {'action': 'retry'}, ADMIN,
     'fenix:maintenance:session:retry'),
    ('GET', '/v1/maintenance/S/P', None, PROJECT_READ, 'fenix:project:get'),
    ('PUT', '/v1/maintenance/S/P', {'state': 'ACK_MAINTENANCE'},
     PROJECT_WRITE, 'fenix:project:reply'),
    ('GET', '/v1/maintenance/S/P/I', None, PROJECT_READ,
     'fenix:project:instance:get'),
    ('PUT', '/v1/maintenance/S/P/I', {'state': 'ACK_PLANNED_MAINTENANCE',
                                      'instance_action': 'MIGRATE'},
     PROJECT_WRITE, 'fenix:project:instance:reply'),
    ('GET', '/v1/instance', None, OWN_LIST, 'fenix:instance:list'),
    ('GET', '/v1/instance/I', None, PROJECT_READ, 'fenix:instance:get'),
    ('PUT', '/v1/instance/I', {'project_id': P}, PROJECT_WRITE,
     'fenix:instance:put'),
    ('DELETE', '/v1/instance/I', None, PROJECT_WRITE,
     'fenix:instance:delete'),
    ('GET', '/v1/instance_group', None, OWN_LIST,
     'fenix:instance_group:list'),
    ('GET', '/v1/instance_group/G', None, PROJECT_READ,
     'fenix:instance_group:get'),
    ('PUT', '/v1/instance_group/G', {'project_id': P}, PROJECT_WRITE,
     'fenix:instance_group:put'),
    ('DELETE', '/v1/instance_group/G', None, PROJECT_WRITE,
     'fenix:instance_group:delete'),
    ('GET', '/v1/action_plugin_run/S', None, RUN_READ,
     'fenix:action_plugin_run:list'),
    ('PUT', '/v1/action_plugin_run/S/agent/compute-0', {'state': 'DONE'},
     RUN_WRITE, 'fenix:action_plugin_run:report'),
    ('PUT', '/v1/action_plugin_run/S/prepare', {'state': 'FAILED'},
     RUN_WRITE, 'fenix:action_plugin_run:report'),
    ('GET', '/dashboard/', None, ADMIN_READ, 'fenix:dashboard:get'),
    ('GET', '/dashboard/app.js', None, ADMIN_READ, 'fenix:dashboard:get'),
]

# Engine methods that change something.
WRITES = {'create_session', 'update_session', 'delete_session',
          'pause_session', 'resume_session', 'skip_host', 'retry_step',
          'project_reply', 'project_instance_reply',
          'put_instance_constraint', 'delete_instance_constraint',
          'put_instance_group_constraint',
          'delete_instance_group_constraint', 'report_action_run'}


def _path(template):
    parts = [{'S': SID, 'P': P, 'I': INSTANCE, 'G': GROUP}.get(p, p)
             for p in template.split('/')]
    return '/'.join(parts)


_route_scenarios = [
    ('%s %s' % (method, path), {'method': method, 'path': _path(path),
                                'body': body, 'allowed': allowed,
                                'rule': rule})
    for method, path, body, allowed, rule in ROUTES]
_persona_scenarios = [(name, {'persona': name})
                      for name in sorted(base.PERSONAS)]


class TestRBAC(base.APITestCase):

    scenarios = testscenarios.multiply_scenarios(_route_scenarios,
                                                 _persona_scenarios)

    def setUp(self):
        super().setUp()
        self.engine.add_session(
            session_id=SID, state=states.MAINTENANCE_FAILED,
            projects={P: [INSTANCE]},
            runs=[{'plugin': 'agent', 'hostname': 'compute-0',
                   'state': 'RUNNING'},
                  {'plugin': 'prepare', 'hostname': '',
                   'state': 'RUNNING'}])
        self.engine.instances[INSTANCE] = {'instance_id': INSTANCE,
                                           'project_id': P}
        self.engine.groups[GROUP] = {'group_id': GROUP, 'project_id': P}

    def test_access(self):
        headers = base.PERSONAS[self.persona]
        resp = self.request(self.method, self.path, body=self.body,
                            headers=headers)
        if self.persona in self.allowed:
            self.assertEqual(200, resp.status_int, resp.text)
        else:
            self.assertError(resp, 403, self.rule)
            done = {name for name, _, _ in self.engine.calls}
            self.assertEqual(set(), done & WRITES)
