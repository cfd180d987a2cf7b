# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``/``: the version document."""
from fenix.api.controllers import base
from fenix.api.controllers import v1


class RootController(base.Resource):

    def __init__(self, auth_strategy=None):
        self.v1 = v1.V1Controller(auth_strategy)

    def fixed(self):
        return {'v1': self.v1}

    def get(self):
        base.query()
        version = v1.version(base.public_url())
        return {
            'name': 'OpenStack Fenix API',
            'description': 'Rolling infrastructure maintenance with zero '
                           'application downtime.',
            'versions': [version],
            'default_version': version,
        }
