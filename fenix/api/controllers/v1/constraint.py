# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""What the instance and instance group constraint APIs share.

A constraint belongs to a project. Lists show the caller's project only,
unless policy lets the caller see every project (then ``?project_id=``
picks one). Reading, replacing or removing one constraint is authorized
against its owner, which the API first reads from the database; a PUT is
also authorized against the project the body names (default: the
caller's), so nobody can move a constraint into or out of a project they
are not a member of.
"""
from fenix.api.controllers import base
from fenix.common import exception

# Longest project id a constraint stores (its ``project_id`` column).
PROJECT_ID_LENGTH = 64


class Kind(object):
    """Describes one kind of constraint.

    :param name: URL segment and policy resource ('instance', ...).
    :param id_field: body field holding the id ('instance_id', ...).
    :param id_length: longest id the database stores.
    :param collection_key: key of the list answer.
    :param schema: JSON schema of a PUT body.
    :param policies: the policy module of the resource.
    :param methods: engine method names: (list, get, put, delete).
    """

    def __init__(self, name, id_field, id_length, collection_key, schema,
                 policies, methods):
        self.name = name
        self.id_field = id_field
        self.id_length = id_length
        self.collection_key = collection_key
        self.schema = schema
        self.policies = policies
        (self.list_method, self.get_method, self.put_method,
         self.delete_method) = methods

    def call(self, method, *args, **kwargs):
        """The engine's ``method`` (a write); a read
        (:attr:`list_method`, :attr:`get_method`) is answered by the
        reader."""
        target = base.reader() if method in (
            self.list_method, self.get_method) else base.engine()
        return getattr(target, method)(base.context(), *args, **kwargs)


def listed_project(kind, params):
    """The project a list shows; None for every project."""
    ctx = base.context()
    wanted = params.get('project_id')
    if wanted == '':
        raise exception.Invalid(reason='project_id: must not be empty')
    if wanted is not None and len(wanted) > PROJECT_ID_LENGTH:
        raise exception.Invalid(
            reason='project_id: longer than %d characters'
                   % PROJECT_ID_LENGTH)
    if base.may(kind.policies.LIST_ALL,
                {'project_id': wanted or ctx.project_id}):
        return wanted
    if wanted is not None and wanted != ctx.project_id:
        raise exception.Forbidden(action=kind.policies.LIST_ALL)
    if not ctx.project_id:
        raise exception.Forbidden(action=kind.policies.LIST)
    base.authorize(kind.policies.LIST, {'project_id': ctx.project_id})
    return ctx.project_id


class ConstraintCollection(base.Resource):
    """``/v1/<kind>``"""

    def __init__(self, kind):
        self.kind = kind
        self.param = kind.id_field

    def child(self, segment):
        return Constraint(self.kind, segment)

    def get(self):
        project_id = listed_project(self.kind, base.query('project_id'))
        result = self.kind.call(self.kind.list_method,
                                project_id=project_id)
        return base.collection(self.kind.collection_key, result)


class Constraint(base.Resource):
    """``/v1/<kind>/{id}``"""

    def __init__(self, kind, constraint_id):
        self.kind = kind
        self.constraint_id = constraint_id

    def _existing(self):
        try:
            return self.kind.call(self.kind.get_method, self.constraint_id)
        except exception.NotFound:
            return None

    def _authorize(self, rule, record):
        base.authorize(rule, {'project_id': (record or {}).get('project_id')})

    def get(self):
        base.query()
        record = self.kind.call(self.kind.get_method, self.constraint_id)
        self._authorize(self.kind.policies.GET, record)
        return record

    def put(self):
        kind = self.kind
        base.check_path_id(kind.id_field, self.constraint_id, kind.id_length)
        values = base.body(kind.schema)
        given = values.get(kind.id_field)
        if given is not None and given != self.constraint_id:
            raise exception.Invalid(
                reason="%s: '%s' in the body differs from '%s' in the URL"
                       % (kind.id_field, given, self.constraint_id))
        values[kind.id_field] = self.constraint_id
        if not values.get('project_id'):
            project_id = base.context().project_id
            if not project_id:
                raise exception.Invalid(
                    reason='project_id: required, the caller has no '
                           'project of its own')
            values['project_id'] = project_id
        self._authorize(kind.policies.PUT, values)
        existing = self._existing()
        if existing and existing.get('project_id') != values['project_id']:
            self._authorize(kind.policies.PUT, existing)
        return kind.call(kind.put_method, self.constraint_id, values)

    def delete(self):
        record = self.kind.call(self.kind.get_method, self.constraint_id)
        self._authorize(self.kind.policies.DELETE, record)
        return self.kind.call(self.kind.delete_method, self.constraint_id)
