# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Identity: a Keystone v3 subset (password and token authentication,
project scope, token validation, service catalog, a few lookups).

Enough for keystoneauth1 (``v3.Password`` and the generic ``Password``
plugin with version discovery) and for keystonemiddleware's ``auth_token``
to validate the tokens it issues. Roles imply each other like Keystone's
default role implications: admin -> member -> reader.
"""
import datetime
import secrets
import time

from fenix_tools.simcloud import service
from fenix_tools.simcloud import util
from fenix_tools.simcloud import wsgi

DOMAIN = {'id': 'default', 'name': 'Default'}
IMPLIED = {'admin': ('admin', 'member', 'reader'),
           'member': ('member', 'reader'),
           'reader': ('reader',),
           'service': ('service',)}
KEYSTONE_VERSION = 'v3.14'
VERSION_UPDATED = '2020-04-07T00:00:00Z'


class Context:
    """Who is calling: the validated token's user, project and roles."""

    __slots__ = ('token', 'user_id', 'user_name', 'project_id',
                 'project_name', 'roles', 'issued', 'expires', 'audit_id',
                 'methods', 'expires_mono')

    @property
    def is_admin(self):
        return 'admin' in self.roles

    def to_dict(self):
        return {'user_id': self.user_id, 'user_name': self.user_name,
                'project_id': self.project_id,
                'project_name': self.project_name,
                'roles': list(self.roles)}


def role_id(name):
    return util.stable_hex('role', name)


class IdentityStore:
    """Projects, users, role assignments and the tokens issued."""

    def __init__(self, topo, catalog_fn, lock):
        self.lock = lock
        self.catalog_fn = catalog_fn
        self.token_ttl = topo['identity']['token_ttl']
        self.projects = {p['id']: dict(p) for p in topo['projects']}
        self.projects_by_name = {p['name']: p['id']
                                 for p in topo['projects']}
        self.users = {u['id']: dict(u) for u in topo['users']}
        self.users_by_name = {u['name']: u['id'] for u in topo['users']}
        self.tokens = {}

    def project(self, ref):
        """A project by id or name, or None."""
        with self.lock:
            pid = ref if ref in self.projects else \
                self.projects_by_name.get(ref)
            return self.projects.get(pid) if pid else None

    def user(self, ref):
        with self.lock:
            uid = ref if ref in self.users else self.users_by_name.get(ref)
            return self.users.get(uid) if uid else None

    def roles_of(self, user, project_id):
        names = []
        for role in user['roles'].get(project_id, ()):
            for implied in IMPLIED.get(role, (role,)):
                if implied not in names:
                    names.append(implied)
        return names

    # --- tokens --------------------------------------------------------------

    def issue(self, user, project_id, methods=('password',), audit=None):
        """Issue a token for ``user`` scoped to ``project_id`` (or None)."""
        with self.lock:
            ctx = Context()
            ctx.token = secrets.token_urlsafe(32)
            ctx.user_id = user['id']
            ctx.user_name = user['name']
            ctx.project_id = project_id
            ctx.project_name = (self.projects[project_id]['name']
                                if project_id else None)
            ctx.roles = (self.roles_of(user, project_id) if project_id
                         else [])
            ctx.issued = util.utcnow()
            ctx.expires_mono = time.monotonic() + self.token_ttl
            ctx.expires = ctx.issued + datetime.timedelta(
                seconds=self.token_ttl)
            ctx.audit_id = audit or secrets.token_urlsafe(16)[:22]
            ctx.methods = list(methods)
            if len(self.tokens) > 10000:
                self._purge()
            self.tokens[ctx.token] = ctx
            return ctx

    def _purge(self):
        now = time.monotonic()
        for token in [t for t, c in self.tokens.items()
                      if c.expires_mono <= now]:
            del self.tokens[token]

    def validate(self, token):
        """The context of a valid token, else None."""
        if not token:
            return None
        with self.lock:
            ctx = self.tokens.get(token)
            if ctx is None:
                return None
            if ctx.expires_mono <= time.monotonic():
                del self.tokens[token]
                return None
            user = self.users.get(ctx.user_id)
            if user is None or not user.get('enabled', True):
                return None
            return ctx

    def revoke(self, token):
        with self.lock:
            return self.tokens.pop(token, None) is not None

    def expire_all(self):
        with self.lock:
            count = len(self.tokens)
            self.tokens.clear()
            return count

    def token_body(self, ctx, catalog=True):
        body = {
            'methods': list(ctx.methods),
            'user': {'domain': dict(DOMAIN), 'id': ctx.user_id,
                     'name': ctx.user_name, 'password_expires_at': None},
            'audit_ids': [ctx.audit_id],
            'expires_at': util.iso_micro_z(ctx.expires),
            'issued_at': util.iso_micro_z(ctx.issued),
        }
        if ctx.project_id:
            body['project'] = {'domain': dict(DOMAIN), 'id': ctx.project_id,
                               'name': ctx.project_name}
            body['is_domain'] = False
            body['roles'] = [{'id': role_id(r), 'name': r}
                             for r in ctx.roles]
            if catalog:
                body['catalog'] = self.catalog_fn()
        return {'token': body}

    # --- authentication ------------------------------------------------------

    def _find_user(self, spec):
        if not isinstance(spec, dict):
            raise util.BadRequest('Invalid input for field identity/password/'
                                  'user: must be an object.')
        if spec.get('id'):
            user = self.users.get(spec['id'])
        elif spec.get('name'):
            domain = spec.get('domain') or {}
            if not (domain.get('id') == 'default' or
                    str(domain.get('name', '')).lower() == 'default'):
                raise util.Unauthorized(service.UNAUTHORIZED)
            uid = self.users_by_name.get(spec['name'])
            user = self.users.get(uid) if uid else None
        else:
            raise util.BadRequest('Expecting to find id or name in user.')
        return user

    def _scope_project(self, scope, user):
        if not scope:
            return user.get('default_project') if user['roles'].get(
                user.get('default_project')) else None
        if 'project' not in scope:
            raise util.Unauthorized('Only project scope is supported by the '
                                    'simulated Keystone.')
        proj = scope['project'] or {}
        if proj.get('id'):
            pid = proj['id'] if proj['id'] in self.projects else None
        elif proj.get('name'):
            domain = proj.get('domain') or {}
            if not (domain.get('id') == 'default' or
                    str(domain.get('name', '')).lower() == 'default'):
                raise util.Unauthorized(service.UNAUTHORIZED)
            pid = self.projects_by_name.get(proj['name'])
        else:
            raise util.BadRequest('Expecting to find id or name in project.')
        if pid is None or not user['roles'].get(pid):
            raise util.Unauthorized(service.UNAUTHORIZED)
        return pid

    def authenticate(self, body):
        """``POST /v3/auth/tokens``: return the new token's context."""
        try:
            auth = body['auth']
            identity = auth['identity']
            methods = identity['methods']
        except (KeyError, TypeError):
            raise util.BadRequest('Expecting to find auth/identity/methods '
                                  'in the request body.')
        with self.lock:
            if 'password' in methods:
                pw = identity.get('password') or {}
                user = self._find_user(pw.get('user'))
                if user is None or not user.get('enabled', True) or \
                        pw['user'].get('password') != user['password']:
                    raise util.Unauthorized(service.UNAUTHORIZED)
                audit = None
            elif 'token' in methods:
                old = self.validate((identity.get('token') or {}).get('id'))
                if old is None:
                    raise util.Unauthorized(service.UNAUTHORIZED)
                user = self.users[old.user_id]
                audit = old.audit_id
            else:
                raise util.Unauthorized('Unsupported authentication method')
            project_id = self._scope_project(auth.get('scope'), user)
            return self.issue(user, project_id, methods=methods,
                              audit=audit)


class IdentityApp(service.ServiceApp):
    """``/identity``: the Keystone front end."""

    name = 'identity'

    def add_routes(self, r):
        r.add('GET', '/', self.versions)
        r.add('GET', '/v3', self.version)
        r.add('POST', '/v3/auth/tokens', self.create_token)
        r.add('GET', '/v3/auth/tokens', self.check_token)
        r.add('DELETE', '/v3/auth/tokens', self.revoke_token)
        r.add('GET', '/v3/auth/catalog', self.get_catalog)
        r.add('GET', '/v3/auth/projects', self.auth_projects)
        r.add('GET', '/v3/projects', self.list_projects)
        r.add('GET', '/v3/projects/{project_id}', self.get_project)
        r.add('GET', '/v3/users', self.list_users)
        r.add('GET', '/v3/users/{user_id}', self.get_user)
        r.add('GET', '/v3/users/{user_id}/projects', self.user_projects)
        r.add('GET', '/v3/roles', self.list_roles)
        r.add('GET', '/v3/role_assignments', self.role_assignments)
        r.add('GET', '/v3/services', self.list_services)
        r.add('GET', '/v3/endpoints', self.list_endpoints)
        r.add('GET', '/v3/domains/{domain_id}', self.get_domain)

    @property
    def store(self):
        return self.sim.identity

    def _version_doc(self):
        return {'id': KEYSTONE_VERSION, 'status': 'stable',
                'updated': VERSION_UPDATED,
                'links': [{'rel': 'self',
                           'href': self.sim.identity_url + '/v3/'}],
                'media-types': [{
                    'base': 'application/json',
                    'type': 'application/vnd.openstack.identity-v3+json'}]}

    def versions(self, req):
        return wsgi.json_response(
            {'versions': {'values': [self._version_doc()]}}, status=300)

    def version(self, req):
        return wsgi.json_response({'version': self._version_doc()})

    def create_token(self, req):
        ctx = self.store.authenticate(wsgi.json_body(req))
        nocatalog = 'nocatalog' in req.GET
        return wsgi.json_response(
            self.store.token_body(ctx, catalog=not nocatalog), status=201,
            headers={'X-Subject-Token': ctx.token})

    def _subject(self, req):
        caller = self.authenticate(req)
        subject_token = req.headers.get('X-Subject-Token')
        if not subject_token:
            raise util.BadRequest('X-Subject-Token is required.')
        subject = self.store.validate(subject_token)
        self._allow(caller.is_admin or 'service' in caller.roles or
                    (subject is not None and
                     subject.user_id == caller.user_id), 'validate_token')
        if subject is None:
            raise util.NotFound('Could not find token: %s' % subject_token)
        return subject

    def check_token(self, req):
        subject = self._subject(req)
        nocatalog = 'nocatalog' in req.GET
        return wsgi.json_response(
            self.store.token_body(subject, catalog=not nocatalog),
            headers={'X-Subject-Token': subject.token})

    def revoke_token(self, req):
        subject = self._subject(req)
        self.store.revoke(subject.token)
        return wsgi.json_response(None, status=204)

    def get_catalog(self, req):
        self.authenticate(req)
        return wsgi.json_response({'catalog': self.sim.catalog(),
                                   'links': {}})

    def _project_view(self, p):
        return {'id': p['id'], 'name': p['name'], 'domain_id': 'default',
                'description': p.get('description', ''), 'enabled': True,
                'is_domain': False, 'parent_id': 'default', 'tags': [],
                'options': {}, 'links': {
                    'self': self.sim.identity_url + '/v3/projects/' +
                    p['id']}}

    def _user_view(self, u):
        return {'id': u['id'], 'name': u['name'], 'domain_id': 'default',
                'enabled': u.get('enabled', True),
                'default_project_id': u.get('default_project'),
                'password_expires_at': None, 'options': {}, 'links': {
                    'self': self.sim.identity_url + '/v3/users/' + u['id']}}

    @staticmethod
    def _allow(allowed, policy):
        if not allowed:
            raise util.Forbidden('You are not authorized to perform the '
                                 'requested action: identity:%s.' % policy)

    def _admin_list(self, req, what, table, view):
        """``GET /v3/<what>[?name=N]``: admin only."""
        self._allow(self.authenticate(req).is_admin, 'list_' + what)
        name = req.GET.get('name')
        return wsgi.json_response({what: [
            view(item) for item in table.values()
            if name is None or item['name'] == name], 'links': {}})

    def _owned(self, req, table, ident, kind, policy, own):
        """One project or user: 404 if unknown, 403 unless the caller is
        an admin or ``own(ctx)``."""
        ctx = self.authenticate(req)
        item = util.find(table, ident, 'Could not find %s: %s'
                         % (kind, ident))
        self._allow(ctx.is_admin or own(ctx), policy)
        return item

    def auth_projects(self, req):
        ctx = self.authenticate(req)
        user = self.store.users[ctx.user_id]
        projects = [self.store.projects[p] for p in user['roles']]
        return wsgi.json_response({'projects': [
            self._project_view(p) for p in projects], 'links': {}})

    def list_projects(self, req):
        return self._admin_list(req, 'projects', self.store.projects,
                                self._project_view)

    def get_project(self, req, project_id):
        p = self._owned(req, self.store.projects, project_id, 'project',
                        'get_project',
                        lambda ctx: ctx.project_id == project_id)
        return wsgi.json_response({'project': self._project_view(p)})

    def list_users(self, req):
        return self._admin_list(req, 'users', self.store.users,
                                self._user_view)

    def _own_user(self, req, user_id, policy):
        return self._owned(req, self.store.users, user_id, 'user', policy,
                           lambda ctx: ctx.user_id == user_id)

    def get_user(self, req, user_id):
        u = self._own_user(req, user_id, 'get_user')
        return wsgi.json_response({'user': self._user_view(u)})

    def user_projects(self, req, user_id):
        u = self._own_user(req, user_id, 'list_user_projects')
        return wsgi.json_response({'projects': [
            self._project_view(self.store.projects[p])
            for p in u['roles']], 'links': {}})

    def list_roles(self, req):
        self.authenticate(req)
        return wsgi.json_response({'roles': [
            {'id': role_id(r), 'name': r, 'domain_id': None,
             'description': None, 'options': {}} for r in IMPLIED],
            'links': {}})

    def role_assignments(self, req):
        ctx = self.authenticate(req)
        user_id = req.GET.get('user.id')
        project_id = req.GET.get('scope.project.id')
        self._allow(ctx.is_admin or user_id == ctx.user_id,
                    'list_role_assignments')
        out = []
        for u in self.store.users.values():
            if user_id and u['id'] != user_id:
                continue
            for pid, roles in u['roles'].items():
                if project_id and pid != project_id:
                    continue
                for r in roles:
                    out.append({'role': {'id': role_id(r), 'name': r},
                                'user': {'id': u['id'], 'name': u['name']},
                                'scope': {'project': {
                                    'id': pid,
                                    'name': self.store.projects[pid][
                                        'name']}}})
        return wsgi.json_response({'role_assignments': out, 'links': {}})

    def list_services(self, req):
        self.authenticate(req)
        return wsgi.json_response({'services': [
            {'id': entry['id'], 'type': entry['type'],
             'name': entry['name'], 'enabled': True}
            for entry in self.sim.catalog()], 'links': {}})

    def list_endpoints(self, req):
        self.authenticate(req)
        out = []
        for entry in self.sim.catalog():
            for ep in entry['endpoints']:
                out.append(dict(ep, service_id=entry['id'], enabled=True))
        return wsgi.json_response({'endpoints': out, 'links': {}})

    def get_domain(self, req, domain_id):
        self.authenticate(req)
        if domain_id != 'default':
            raise util.NotFound('Could not find domain: %s' % domain_id)
        return wsgi.json_response({'domain': dict(
            DOMAIN, enabled=True, description='The default domain')})
