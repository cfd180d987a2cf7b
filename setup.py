# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Packaging: metadata and entry points live in setup.cfg.

Two things need code: the runtime requirements are read from
requirements.txt (one list, used by pip and tox alike), and the tools'
package (``tools/fenix_tools``: the simulated cloud, the sample VNFM, the
admin tool and the demo) is installed beside ``fenix`` without ``fenix`` ever
importing it.
"""
import os

import setuptools

HERE = os.path.dirname(os.path.abspath(__file__))


def _requirements():
    with open(os.path.join(HERE, 'requirements.txt')) as f:
        return [line.split('#')[0].strip() for line in f
                if line.split('#')[0].strip()]


packages = setuptools.find_packages(include=['fenix', 'fenix.*'])
packages += setuptools.find_packages(
    'tools', include=['fenix_tools', 'fenix_tools.*'])

setuptools.setup(
    packages=packages,
    package_dir={'fenix_tools': 'tools/fenix_tools'},
    install_requires=_requirements(),
)
