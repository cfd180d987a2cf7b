# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Fenix's defaults of the libraries' options, at run time and in the
generated sample (etc/fenix/fenix.conf.sample)."""
import os

from oslo_config import cfg
from oslo_db import options as db_options

from fenix.common import states as st
from fenix import conf
from fenix.conf import workflow
from fenix.tests import base

SAMPLE = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'etc',
                      'fenix', 'fenix.conf.sample')


class TestLibraryDefaults(base.TestCase):

    def test_sample_shows_the_defaults_fenix_runs_with(self):
        # The generator's hook changes the options' own defaults (the
        # generator reads those): put them back after the test.
        saved = {o.dest: o.default for o in db_options.database_opts}
        self.addCleanup(cfg.set_defaults, db_options.database_opts, **saved)
        fresh = cfg.ConfigOpts()
        conf.set_database_defaults(fresh)
        fresh([], default_config_files=[])
        conf.set_lib_defaults()
        with open(SAMPLE) as f:
            sample = f.read()
        opts = {o.name: o for o in db_options.database_opts}
        for name in ('connection', 'max_pool_size'):
            self.assertEqual(fresh.database[name], opts[name].default)
            self.assertIn('\n#%s = %s\n' % (name, opts[name].default),
                          sample)


class TestWorkflowOptions(base.TestCase):

    def test_move_kinds_are_the_code_s(self):
        # Written out in the options (fenix.conf imports no code of Fenix).
        self.assertEqual((st.MIGRATE, st.LIVE_MIGRATE), workflow.MOVE_KINDS)
        self.assertEqual(st.MIGRATE,
                         base.CONF.workflow.default_migration_type)

    def test_conf_imports_no_code_of_fenix(self):
        """The options (fenix.conf, read by the sample generator too)
        import nothing of Fenix but themselves."""
        out = base.modules_loaded_by('fenix.conf.*')
        self.assertIn('fenix.conf.workflow', out)
        self.assertEqual([], [m for m in out if m.startswith('fenix.') and
                              not m.startswith('fenix.conf')])
