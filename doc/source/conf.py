# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Sphinx configuration for the Fenix documentation."""
project = 'Fenix'
copyright = 'Fenix developers'
# cliff.sphinxext: the CLI reference (cli-reference.rst) is generated from
# the openstack maintenance commands, which must be importable (the
# project installed, with osc-lib).
extensions = ['cliff.sphinxext']
autoprogram_cliff_application = 'openstack'
autoprogram_cliff_ignored = ['--help', '--format', '--column',
                             '--max-width', '--fit-width', '--print-empty',
                             '--noindent', '--prefix', '--sort-column',
                             '--sort-ascending', '--sort-descending']
master_doc = 'index'
exclude_patterns = ['_build']
html_theme = 'alabaster'
