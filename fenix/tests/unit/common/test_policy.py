# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Policy rules in code and their enforcement."""
import os
import sys
from unittest import mock

from oslo_config import cfg
from oslo_policy import generator
from oslo_policy import policy as oslo_policy

from fenix.common import context
from fenix.common import exception
from fenix.common import policies
from fenix.common import policy
from fenix.tests import base


def _ctx(roles, project_id=None, system_scope=None):
    return context.RequestContext(user_id='u', project_id=project_id,
                                  roles=roles, system_scope=system_scope)


class TestPolicy(base.TestCase):

    def setUp(self):
        super().setUp()
        policy.reset()
        self.addCleanup(policy.reset)

    def test_rules_are_unique_documented_and_parse(self):
        rules = policies.list_rules()
        names = [r.name for r in rules]
        self.assertEqual(len(names), len(set(names)))
        api_rules = [r for r in rules if r.name.startswith('fenix:')]
        # sessions 6 (+ 4 of session control), project 4, instance 5,
        # instance_group 5, runs 2, dashboard 1, metrics 1
        self.assertEqual(28, len(api_rules))
        for rule in api_rules:
            self.assertIsInstance(rule, oslo_policy.DocumentedRuleDefault)
            self.assertTrue(rule.description)
            self.assertTrue(rule.operations)
            for op in rule.operations:
                self.assertTrue(op['path'].startswith(
                    ('/v1/', '/dashboard/')) or op['path'] == '/metrics',
                    rule.name)
            self.assertEqual(['system', 'project'], rule.scope_types)
        enforcer = policy.init()
        for name in names:
            self.assertIn(name, enforcer.registered_rules)

    def test_authorize_refuses_with_forbidden_naming_the_rule(self):
        e = self.assertRaises(exception.Forbidden, policy.authorize,
                              'fenix:maintenance:create', {},
                              _ctx(['member', 'reader'], 'p1'))
        self.assertEqual(403, e.code)
        self.assertIn('fenix:maintenance:create', str(e))
        policy.authorize('fenix:maintenance:create', {},
                         _ctx(['admin'], 'p1'))

    def test_project_rules_follow_the_target(self):
        member = _ctx(['member', 'reader'], 'p1')
        reader = _ctx(['reader'], 'p1')
        self.assertTrue(policy.check('fenix:project:reply',
                                     {'project_id': 'p1'}, member))
        self.assertFalse(policy.check('fenix:project:reply',
                                      {'project_id': 'p2'}, member))
        self.assertTrue(policy.check('fenix:project:get',
                                     {'project_id': 'p1'}, reader))
        self.assertFalse(policy.check('fenix:project:reply',
                                      {'project_id': 'p1'}, reader))
        # A target without an owner is nobody's.
        self.assertFalse(policy.check('fenix:instance:get',
                                      {'project_id': None}, member))

    def test_system_reader_reads_but_never_writes(self):
        auditor = _ctx(['reader'], system_scope='all')
        self.assertTrue(policy.check('fenix:maintenance:get_detail', {},
                                     auditor))
        self.assertTrue(policy.check('fenix:instance:list_all', {},
                                     auditor))
        self.assertFalse(policy.check('fenix:maintenance:delete', {},
                                      auditor))
        self.assertFalse(policy.check('fenix:instance:put',
                                      {'project_id': 'p1'}, auditor))
        # A project reader is not a system reader.
        self.assertFalse(policy.check('fenix:maintenance:list', {},
                                      _ctx(['reader'], 'p1')))

    def test_service_role_reports_runs(self):
        agent = _ctx(['service'], 'service')
        self.assertTrue(policy.check('fenix:action_plugin_run:report', {},
                                     agent))
        self.assertFalse(policy.check('fenix:maintenance:get', {}, agent))

    def test_unregistered_rule_is_a_bug(self):
        self.assertRaises(oslo_policy.PolicyNotRegistered, policy.authorize,
                          'fenix:nope', {}, _ctx(['admin']))

    def test_operator_overrides_a_rule(self):
        path = os.path.join(self.tmpdir, 'policy.yaml')
        with open(path, 'w') as f:
            f.write('"fenix:maintenance:list": "role:auditor"\n'
                    '"admin_api": "role:cloud_admin"\n')
        self.config(group='oslo_policy', policy_file=path)
        self.assertTrue(policy.check('fenix:maintenance:list', {},
                                     _ctx(['auditor'])))
        self.assertFalse(policy.check('fenix:maintenance:list', {},
                                      _ctx(['admin'])))
        # Redefining a persona changes every rule built on it.
        self.assertTrue(policy.check('fenix:maintenance:delete', {},
                                     _ctx(['cloud_admin'])))
        self.assertFalse(policy.check('fenix:maintenance:delete', {},
                                      _ctx(['admin'])))

    def _policy_file(self, text, mtime):
        path = os.path.join(self.tmpdir, 'policy.yaml')
        with open(path, 'w') as f:
            f.write(text)
        os.utime(path, (mtime, mtime))
        return path

    def test_policy_file_looked_at_once_per_interval(self):
        path = self._policy_file('"fenix:maintenance:list": "role:a"\n',
                                 1000000)
        self.config(group='oslo_policy', policy_file=path)
        now = [100.0]
        enforcer = policy.Enforcer(cfg.CONF, recheck_interval=1.0,
                                   clock=lambda: now[0])
        enforcer.register_defaults(policies.list_rules())
        rule = 'fenix:maintenance:list'
        self.assertTrue(enforcer.enforce(rule, {}, _ctx(['a'])))
        self._policy_file('"fenix:maintenance:list": "role:b"\n', 1000010)
        with mock.patch('os.stat', side_effect=AssertionError('stat')), \
                mock.patch('os.path.getmtime',
                           side_effect=AssertionError('getmtime')):
            # Within the interval: the files are not looked at, the rules
            # last loaded are enforced.
            now[0] = 100.9
            self.assertTrue(enforcer.enforce(rule, {}, _ctx(['a'])))
            self.assertFalse(enforcer.enforce(rule, {}, _ctx(['b'])))
        # Then the change applies.
        now[0] = 101.0
        self.assertFalse(enforcer.enforce(rule, {}, _ctx(['a'])))
        self.assertTrue(enforcer.enforce(rule, {}, _ctx(['b'])))

    def test_forced_reload_acts_at_once(self):
        path = self._policy_file('"fenix:maintenance:list": "role:a"\n',
                                 1000000)
        self.config(group='oslo_policy', policy_file=path)
        enforcer = policy.Enforcer(cfg.CONF, clock=lambda: 5.0)
        enforcer.register_defaults(policies.list_rules())
        rule = 'fenix:maintenance:list'
        self.assertTrue(enforcer.enforce(rule, {}, _ctx(['a'])))
        self._policy_file('"fenix:maintenance:list": "role:b"\n', 1000010)
        enforcer.load_rules(force_reload=True)
        self.assertTrue(enforcer.enforce(rule, {}, _ctx(['b'])))
        self.assertFalse(enforcer.enforce(rule, {}, _ctx(['a'])))

    def test_the_process_enforcer_throttles(self):
        self.assertIsInstance(policy.init(), policy.Enforcer)
        self.assertEqual(policy.RECHECK_INTERVAL,
                         policy.init().recheck_interval)

    def test_get_enforcer_for_the_cli_tools(self):
        path = os.path.join(self.tmpdir, 'fenix.conf')
        with open(path, 'w') as f:
            f.write('[oslo_policy]\npolicy_file = /custom/policy.yaml\n')
        argv = ['oslopolicy-policy-generator', '--namespace', 'fenix',
                '--output-file', 'out.yaml', '--config-file', path]
        with mock.patch.object(sys, 'argv', argv):
            enforcer = policy.get_enforcer()
        self.assertIn('fenix:maintenance:create', enforcer.registered_rules)
        self.assertEqual('/custom/policy.yaml', enforcer.policy_file)

    def test_sample_generator_reads_the_entry_point(self):
        out = os.path.join(self.tmpdir, 'policy.yaml.sample')
        generator.generate_sample(
            args=['--namespace', 'fenix', '--output-file', out],
            conf=cfg.ConfigOpts())
        with open(out) as f:
            text = f.read()
        for name in ('fenix:maintenance:create', 'fenix:project:reply',
                     'fenix:instance_group:delete',
                     'fenix:action_plugin_run:report',
                     'fenix:dashboard:get', 'admin_api'):
            self.assertIn('"%s"' % name, text)
