# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Unit tests of fenix.workflow.session_flow: the session both workflow
policies (``default``: serial, ``nfv``: parallel) run."""
import ast
import importlib
import inspect
import pkgutil

from fenix.tests import base
from fenix.workflow import base as workflow_base
from fenix.workflow import executor
from fenix.workflow import plugins
from fenix.workflow import serial_runner
from fenix.workflow import session_flow
from fenix.workflow.workflows import default
from fenix.workflow.workflows import nfv


def _imported_modules(module):
    """The dotted names ``module``'s source imports."""
    names = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.update('%s.%s' % (node.module, alias.name)
                         for alias in node.names)
    return names


def _executor_parts():
    """The modules of the executor package (its ``__init__`` first)."""
    parts = [executor]
    for info in pkgutil.iter_modules(executor.__path__):
        parts.append(importlib.import_module(
            '%s.%s' % (executor.__name__, info.name)))
    return parts


class TestPolicies(base.TestCase):

    def test_default_and_nfv_are_policies_of_one_base(self):
        for cls in (default.DefaultWorkflow, nfv.NFVWorkflow):
            self.assertIs(session_flow.SessionFlow, cls.__bases__[0])
        self.assertFalse(issubclass(nfv.NFVWorkflow,
                                    default.DefaultWorkflow))
        self.assertFalse(issubclass(default.DefaultWorkflow,
                                    nfv.NFVWorkflow))
        self.assertTrue(issubclass(session_flow.SessionFlow,
                                   workflow_base.BaseWorkflow))

    def test_neither_policy_imports_the_other(self):
        self.assertNotIn('fenix.workflow.workflows.default',
                         _imported_modules(nfv))
        self.assertNotIn('fenix.workflow.workflows.nfv',
                         _imported_modules(default))
        shared = _imported_modules(session_flow)
        self.assertNotIn('fenix.workflow.workflows.default', shared)
        self.assertNotIn('fenix.workflow.workflows.nfv', shared)

    def test_serial_runner_is_driven_by_default_only(self):
        """The serial move runner is default's, and imports no policy."""
        self.assertIn('fenix.workflow.serial_runner',
                      _imported_modules(default))
        self.assertNotIn('fenix.workflow.serial_runner',
                         _imported_modules(nfv))
        runner = _imported_modules(serial_runner)
        self.assertNotIn('fenix.workflow.workflows.default', runner)
        self.assertNotIn('fenix.workflow.workflows.nfv', runner)

    def test_each_runner_is_driven_by_its_policy_only(self):
        """The parallel plan's executor is nfv's, and imports no policy
        nor the serial runner."""
        self.assertIn('fenix.workflow.executor', _imported_modules(nfv))
        self.assertNotIn('fenix.workflow.executor',
                         _imported_modules(default))
        ran = set()
        for part in _executor_parts():
            ran |= _imported_modules(part)
        for module in ('fenix.workflow.workflows.default',
                       'fenix.workflow.workflows.nfv',
                       'fenix.workflow.serial_runner'):
            self.assertNotIn(module, ran)

    def test_executor_is_split_by_concern(self):
        """The executor is a package of one module per concern, each of a
        readable size, and ``Executor`` is made of their parts."""
        parts = {m.__name__[len(executor.__name__) + 1:] or '__init__': m
                 for m in _executor_parts()}
        self.assertEqual({'__init__', 'budgets', 'common', 'events', 'hosts',
                          'loop', 'moves', 'resume', 'usage'}, set(parts))
        for name, module in parts.items():
            self.assertLess(len(inspect.getsource(module).splitlines()),
                            400, name)
        mixins = {cls.__module__ for cls in executor.Executor.__mro__[1:-1]}
        self.assertEqual({'fenix.workflow.executor.%s' % n for n in (
            'budgets', 'events', 'hosts', 'moves', 'resume', 'usage')},
            mixins)
        # No part overrides another's method: each concern is in one place.
        seen = {}
        for cls in executor.Executor.__mro__[:-1]:
            for name in vars(cls):
                if not name.startswith('__'):
                    self.assertNotIn(name, seen, '%s and %s' % (
                        cls.__name__, seen.get(name)))
                    seen[name] = cls.__name__

    def test_entry_points(self):
        self.assertIs(default.DefaultWorkflow,
                      plugins.workflow_class('default'))
        self.assertIs(nfv.NFVWorkflow, plugins.workflow_class('nfv'))
        self.assertIs(nfv.NFVWorkflow, plugins.workflow_class('vnf'))

    def test_each_policy_gives_what_the_session_asks_of_it(self):
        """The hooks SessionFlow leaves to a policy are given by both."""
        for name in ('_next', '_dry_run_plan', 'start_maintenance',
                     'planned_maintenance', 'prepare_maintenance'):
            for cls in (default.DefaultWorkflow, nfv.NFVWorkflow):
                self.assertIn(name, vars(cls),
                              '%s.%s' % (cls.__name__, name))


class TestServers(base.TestCase):

    def test_alive(self):
        self.assertTrue(session_flow.alive({'status': 'ACTIVE'}))
        self.assertTrue(session_flow.alive({}))
        self.assertFalse(session_flow.alive({'status': 'deleted'}))
        self.assertFalse(session_flow.alive({'status': 'SOFT_DELETED'}))
        self.assertFalse(session_flow.alive({'status': 'ACTIVE',
                                             'task_state': 'deleting'}))

    def test_busy(self):
        self.assertFalse(session_flow.busy({'status': 'ACTIVE'}))
        self.assertTrue(session_flow.busy({'status': 'ACTIVE',
                                           'task_state': 'migrating'}))
        self.assertTrue(session_flow.busy({'status': 'verify_resize'}))
