# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``/v1``: version 1 of the Fenix API.

Version history (no microversions yet):

* v1 - Sessions, the project (VNFM) API, instance and instance group
  constraints, action plug-in run reports.
"""
from fenix.api.controllers import base
from fenix.api.controllers.v1 import action_plugin_run
from fenix.api.controllers.v1 import instance
from fenix.api.controllers.v1 import instance_group
from fenix.api.controllers.v1 import maintenance

MEDIA_TYPE = 'application/vnd.openstack.fenix.v1+json'


def version(base_url):
    """The v1 entry of a version document."""
    return {
        'id': 'v1',
        'status': 'CURRENT',
        'links': [{'href': base_url + '/v1/', 'rel': 'self'}],
        'media_types': [{'base': 'application/json', 'type': MEDIA_TYPE}],
    }


class V1Controller(base.Resource):

    def __init__(self):
        self.resources = {
            'maintenance': maintenance.MaintenanceCollection(),
            'instance': instance.CONTROLLER,
            'instance_group': instance_group.CONTROLLER,
            'action_plugin_run': action_plugin_run.ActionPluginRunRoot(),
        }

    def child(self, segment):
        return self.resources.get(segment)

    def get(self):
        base.query()
        url = base.public_url()
        doc = version(url)
        doc['resources'] = {
            name: {'href': '%s/v1/%s' % (url, name)}
            for name in sorted(self.resources)}
        return doc
