# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Request context: who is asking, carried from the API to the engine."""
from oslo_context import context


class RequestContext(context.RequestContext):

    @property
    def is_admin_role(self):
        return 'admin' in (self.roles or [])

    @classmethod
    def from_dict(cls, values, **kwargs):
        return super().from_dict(values, **kwargs)


def get_admin_context():
    """The context the engine uses for its own work."""
    return RequestContext(user_id='fenix', project_id=None, is_admin=True,
                          roles=['admin'], overwrite=False)
