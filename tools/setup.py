# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Packaging of fenix-tools: everything is in setup.cfg."""
import setuptools

setuptools.setup()
