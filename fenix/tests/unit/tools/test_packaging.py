# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The packaging split: ``fenix`` (setup.cfg at the top) is the service
only; ``fenix-tools`` (tools/setup.cfg) holds the package fenix_tools and
the tools' console scripts, each pointing to a function that imports."""
import ast
import configparser
import importlib
import json
import os
import subprocess
import sys

from fenix.tests.unit.tools import base

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..', '..'))
TOOLS = os.path.join(ROOT, 'tools')

SERVICE_SCRIPTS = {'fenix-api', 'fenix-engine', 'fenix-manage',
                   'fenix-status', 'fenix-all-in-one'}
TOOLS_SCRIPTS = {'fenix-simcloud', 'fenix-sample-vnfm', 'fenix-admin',
                 'fenix-demo', 'fenix-host-agent'}


def read_cfg(directory):
    parser = configparser.ConfigParser(interpolation=None)
    with open(os.path.join(directory, 'setup.cfg')) as f:
        parser.read_file(f)
    return parser


def entry_points(parser):
    """{group: {name: target}} of a setup.cfg's [options.entry_points]."""
    found = {}
    for group, value in parser['options.entry_points'].items():
        found[group] = {}
        for line in value.strip().splitlines():
            name, _, target = line.partition('=')
            found[group][name.strip()] = target.strip()
    return found


def lines(value):
    return [v.strip() for v in value.strip().splitlines() if v.strip()]


class TestServiceDistribution(base.TestCase):

    def setUp(self):
        super().setUp()
        self.cfg = read_cfg(ROOT)
        self.eps = entry_points(self.cfg)

    def test_name(self):
        self.assertEqual('fenix', self.cfg['metadata']['name'])

    def test_console_scripts_are_the_services(self):
        scripts = self.eps['console_scripts']
        self.assertEqual(SERVICE_SCRIPTS, set(scripts))
        for name, target in scripts.items():
            self.assertTrue(target.startswith('fenix.cmd.'), (name, target))

    def test_no_entry_point_names_the_tools(self):
        for group, points in self.eps.items():
            for name, target in points.items():
                self.assertFalse(target.startswith('fenix_tools'),
                                 (group, name, target))

    def test_setup_py_packages_only_fenix(self):
        with open(os.path.join(ROOT, 'setup.py')) as f:
            tree = ast.parse(f.read())
        includes, package_dirs = [], []
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == 'include':
                includes += [ast.literal_eval(e) for e in node.value.elts]
            if isinstance(node, ast.keyword) and node.arg == 'package_dir':
                package_dirs.append(node)
        self.assertEqual(['fenix', 'fenix.*'], includes)
        self.assertEqual([], package_dirs)

    def test_service_does_not_import_the_tools(self):
        # Installed alone, fenix must never need fenix_tools.
        offenders = []
        for top, _, files in os.walk(os.path.join(ROOT, 'fenix')):
            if os.path.join('fenix', 'tests') in top:
                continue
            for name in files:
                if not name.endswith('.py'):
                    continue
                path = os.path.join(top, name)
                with open(path) as f:
                    tree = ast.parse(f.read())
                for node in ast.walk(tree):
                    if isinstance(node, ast.Import):
                        mods = [a.name for a in node.names]
                    elif isinstance(node, ast.ImportFrom):
                        mods = [node.module or '']
                    else:
                        continue
                    if any(m.split('.')[0] == 'fenix_tools' for m in mods):
                        offenders.append(path)
        self.assertEqual([], offenders)


class TestToolsDistribution(base.TestCase):

    def setUp(self):
        super().setUp()
        self.cfg = read_cfg(TOOLS)
        self.eps = entry_points(self.cfg)

    def test_name_and_requirement(self):
        self.assertEqual('fenix-tools', self.cfg['metadata']['name'])
        requires = lines(self.cfg['options']['install_requires'])
        self.assertIn('fenix', [r.split('>')[0].split('=')[0].strip()
                                for r in requires])
        self.assertEqual(['fenix_tools', 'fenix_tools.*'],
                         lines(self.cfg['options.packages.find']['include']))

    def test_console_scripts_are_the_tools(self):
        scripts = self.eps['console_scripts']
        self.assertEqual(TOOLS_SCRIPTS, set(scripts))
        self.assertEqual(set(), set(scripts) & SERVICE_SCRIPTS)

    def test_each_script_points_to_a_function(self):
        for name, target in self.eps['console_scripts'].items():
            module, _, attr = target.partition(':')
            self.assertTrue(module.startswith('fenix_tools'), target)
            func = getattr(importlib.import_module(module), attr, None)
            self.assertTrue(callable(func), '%s: %s' % (name, target))

    def test_host_agent_needs_no_server_dependency(self):
        # On a maintained host `pip install --no-deps ./tools requests`
        # is enough for fenix-host-agent (tools/README.rst).
        code = ('import json, sys; import fenix_tools.host_agent; '
                'print(json.dumps(sorted({m.split(".")[0] '
                'for m in sys.modules})))')
        env = dict(os.environ, PYTHONPATH=TOOLS)
        out = subprocess.run([sys.executable, '-c', code], env=env,
                             check=True, capture_output=True, text=True,
                             cwd=TOOLS).stdout
        loaded = set(json.loads(out.strip().splitlines()[-1]))
        server = {'fenix', 'pecan', 'sqlalchemy', 'alembic', 'keystoneauth1',
                  'keystonemiddleware', 'novaclient', 'aodhclient',
                  'oslo_config', 'oslo_messaging', 'oslo_db', 'yaml'}
        self.assertEqual(set(), loaded & server)
        self.assertIn('requests', loaded)
