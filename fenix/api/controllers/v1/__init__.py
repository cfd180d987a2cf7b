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
from fenix.api import openapi

MEDIA_TYPE = 'application/vnd.openstack.fenix.v1+json'

# /v1/openapi.json: the OpenAPI description of the API (public, like the
# version documents).
OPENAPI_SEGMENT = 'openapi.json'


def version(base_url):
    """The v1 entry of a version document."""
    return {
        'id': 'v1',
        'status': 'CURRENT',
        'links': [{'href': base_url + '/v1/', 'rel': 'self'}],
        'media_types': [{'base': 'application/json', 'type': MEDIA_TYPE}],
    }


class V1Controller(base.Resource):

    def __init__(self, auth_strategy=None):
        self.resources = {
            'maintenance': maintenance.MaintenanceCollection(),
            'instance': instance.CONTROLLER,
            'instance_group': instance_group.CONTROLLER,
            'action_plugin_run': action_plugin_run.ActionPluginRunRoot(),
        }
        self.openapi = OpenAPIDocument(auth_strategy)

    def fixed(self):
        return dict(self.resources, **{OPENAPI_SEGMENT: self.openapi})

    def get(self):
        base.query()
        url = base.public_url()
        doc = version(url)
        doc['resources'] = {
            name: {'href': '%s/v1/%s' % (url, name)}
            for name in sorted(self.resources)}
        return doc


class OpenAPIDocument(base.Resource):
    """``/v1/openapi.json``: the OpenAPI 3.1 description of the API.

    :param auth_strategy: ``[api] auth_strategy`` of the application
        (default: the configured one).
    """

    def __init__(self, auth_strategy=None):
        self.auth_strategy = auth_strategy

    def get(self):
        base.query()
        return openapi.document(
            base.public_url(),
            self.auth_strategy or base.CONF.api.auth_strategy)
