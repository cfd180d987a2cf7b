# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Packaging: metadata and entry points live in setup.cfg.

One thing needs code: the runtime requirements are read from
requirements.txt (one list, used by pip and tox alike).

This distribution is the service only (the package ``fenix``, with its
client library and ``openstack maintenance`` plug-in). The tools -- the
simulated cloud, the sample VNFM, fenix-admin, the demo and the host agent
(``tools/fenix_tools``) -- are a second distribution, ``fenix-tools``,
defined in ``tools/`` (``pip install ./tools``); tox installs both.
"""
import os

import setuptools

HERE = os.path.dirname(os.path.abspath(__file__))


def _requirements():
    with open(os.path.join(HERE, 'requirements.txt')) as f:
        return [line.split('#')[0].strip() for line in f
                if line.split('#')[0].strip()]


setuptools.setup(
    packages=setuptools.find_packages(include=['fenix', 'fenix.*']),
    install_requires=_requirements(),
)
