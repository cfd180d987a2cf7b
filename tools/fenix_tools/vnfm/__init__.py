# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A sample application manager (VNFM) for one project.

It runs an active/standby pair and a set of non-redundant servers through
novaclient, keeps its constraints registered with Fenix, subscribes to the
project event with aodhclient, answers every maintenance event over Fenix's
REST API and checks its own service invariants all the time.
"""
