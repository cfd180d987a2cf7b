# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Tests of the tools (fenix_tools): sample VNFM, admin tool, demo.

fenix_tools lives in tools/ of the source tree; it is importable once the
project is installed, and from a plain checkout through this path entry.
"""
import os
import sys

try:
    import fenix_tools  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(
        os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..',
        'tools'))
