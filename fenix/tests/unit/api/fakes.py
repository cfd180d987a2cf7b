# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""An in-memory engine with the interface of fenix.engine.rpcapi.EngineAPI.

It raises the exceptions the real engine raises, records every call, and
can be told to fail every call (``fail_with``) to test error mapping.
"""
import copy
import uuid

from fenix.common import exception
from fenix.common import states


class FakeEngineAPI(object):

    def __init__(self):
        self.sessions = {}
        self.instances = {}
        self.groups = {}
        self.calls = []
        # An exception every call raises (EngineUnavailable, ...).
        self.fail_with = None
        # What get_metrics answers (fenix.engine.metrics.figures).
        self.metrics = {
            'sessions': {'MAINTENANCE': 1, 'MAINTENANCE_DONE': 2},
            'hosts': {'MAINTAINED': 3, 'PENDING': 1},
            'migrations': {'started': 4, 'done': 3, 'failed': 1,
                           'duration': {'buckets': [[10, 2], [60, 3],
                                                    ['+Inf', 3]],
                                        'count': 3, 'sum': 42.5}},
            'reply_latency': {'p1': {'buckets': [[5, 1], ['+Inf', 2]],
                                     'count': 2, 'sum': 12.0}},
            'notifications': {'maintenance.planned': {
                'sent': 5, 'failed': 2, 'queued': 1}},
            'engines': {'engine-a': 3.5},
        }

    # --- helpers for tests ------------------------------------------------
    def _record(self, method, context, **kwargs):
        self.calls.append((method, context, kwargs))
        if self.fail_with is not None:
            raise self.fail_with

    def last_call(self, method):
        for name, context, kwargs in reversed(self.calls):
            if name == method:
                return context, kwargs
        raise AssertionError('%s was never called' % method)

    def add_session(self, state=states.MAINTENANCE, projects=None,
                    runs=None, session_id=None):
        """A session; ``projects`` maps project id -> instance ids."""
        session_id = session_id or str(uuid.uuid4())
        self.sessions[session_id] = {
            'session_id': session_id,
            'state': state,
            'values': {},
            'projects': {p: {'instance_ids': list(ids), 'reply': None,
                             'instances': {i: None for i in ids}}
                         for p, ids in (projects or {}).items()},
            'runs': [dict(r) for r in (runs or [])],
        }
        return session_id

    def _session(self, session_id):
        try:
            return self.sessions[session_id]
        except KeyError:
            raise exception.SessionNotFound(session_id=session_id)

    def _project(self, session_id, project_id):
        session = self._session(session_id)
        try:
            return session['projects'][project_id]
        except KeyError:
            raise exception.ProjectNotFound(project_id=project_id,
                                            session_id=session_id)

    @staticmethod
    def _summary(session):
        return {'session_id': session['session_id'],
                'state': session['state'],
                'percent_done': 0}

    # --- sessions ---------------------------------------------------------
    def ping(self, context):
        self._record('ping', context)
        return {'engine': 'fake-engine', 'sessions': len(self.sessions),
                'database': getattr(self, 'database', 'ok')}

    def get_metrics(self, context):
        self._record('get_metrics', context)
        return copy.deepcopy(self.metrics)

    def create_session(self, context, values, idempotency_key=None):
        extra = ({} if idempotency_key is None
                 else {'idempotency_key': idempotency_key})
        self._record('create_session', context, values=values, **extra)
        session_id = self.add_session()
        self.sessions[session_id]['values'] = copy.deepcopy(values)
        return {'session_id': session_id}

    def list_sessions(self, context, limit=None, marker=None, state=None,
                      workflow=None):
        filters = {k: v for k, v in (('limit', limit), ('marker', marker),
                                     ('state', state),
                                     ('workflow', workflow))
                   if v is not None}
        self._record('list_sessions', context, **filters)
        listed = list(self.sessions.values())
        if filters.get('marker') is not None:
            ids = [s['session_id'] for s in listed]
            if filters['marker'] not in ids:
                raise exception.Invalid(reason='marker: no session')
            listed = listed[ids.index(filters['marker']) + 1:]
        for key in ('state', 'workflow'):
            if filters.get(key) is not None:
                listed = [s for s in listed
                          if s.get(key, s['values'].get(key)) ==
                          filters[key]]
        if filters.get('limit') is not None:
            listed = listed[:filters['limit']]
        return [self._summary(s) for s in listed]

    def get_session(self, context, session_id):
        self._record('get_session', context, session_id=session_id)
        return self._summary(self._session(session_id))

    def get_session_detail(self, context, session_id):
        self._record('get_session_detail', context, session_id=session_id)
        session = self._session(session_id)
        return {'session': self._summary(session),
                'projects': sorted(session['projects']),
                'action_plugin_runs': session['runs']}

    def get_session_detail_page(self, context, session_id, limit,
                                marker=None, next_link=None):
        self._record('get_session_detail_page', context,
                     session_id=session_id, limit=limit, marker=marker)
        return self.get_session_detail(context, session_id)

    def update_session(self, context, session_id, values):
        self._record('update_session', context, session_id=session_id,
                     values=values)
        session = self._session(session_id)
        if session['state'] != states.MAINTENANCE_FAILED:
            raise exception.SessionStateConflict(
                state=session['state'], action='continued',
                allowed=states.MAINTENANCE_FAILED)
        session['state'] = values.get('state', states.MAINTENANCE)
        return self._summary(session)

    def delete_session(self, context, session_id):
        self._record('delete_session', context, session_id=session_id)
        self._session(session_id)
        del self.sessions[session_id]
        return None

    # Admin control: recorded and answered with the session; the engine's
    # own checks (409, 404 of a host) are the manager tests' (fail_with
    # makes any call fail).
    def pause_session(self, context, session_id, reason=None):
        self._record('pause_session', context, session_id=session_id,
                     reason=reason)
        return dict(self._summary(self._session(session_id)),
                    pause_requested=True)

    def resume_session(self, context, session_id):
        self._record('resume_session', context, session_id=session_id)
        return self._summary(self._session(session_id))

    def skip_host(self, context, session_id, hostname, reason=None):
        self._record('skip_host', context, session_id=session_id,
                     hostname=hostname, reason=reason)
        return self._summary(self._session(session_id))

    def retry_step(self, context, session_id):
        self._record('retry_step', context, session_id=session_id)
        return self._summary(self._session(session_id))

    # --- projects ---------------------------------------------------------
    def get_project(self, context, session_id, project_id, event_id=None):
        self._record('get_project', context, session_id=session_id,
                     project_id=project_id, event_id=event_id)
        project = self._project(session_id, project_id)
        return {'instance_ids': list(project['instance_ids'])}

    def project_reply(self, context, session_id, project_id, reply,
                      event_id=None):
        self._record('project_reply', context, session_id=session_id,
                     project_id=project_id, reply=reply, event_id=event_id)
        project = self._project(session_id, project_id)
        project['reply'] = reply
        return {'session_id': session_id, 'project_id': project_id,
                'state': reply['state']}

    def _instance(self, session_id, project_id, instance_id):
        project = self._project(session_id, project_id)
        if instance_id not in project['instances']:
            raise exception.InstanceNotFound(
                instance_id=instance_id, project_id=project_id,
                session_id=session_id)
        return project

    # As the reader, which records replies itself: this engine records
    # them as its RPC methods (the database's judgement is tested on a
    # database, in fenix.tests.unit.db.test_replies); the session has no
    # owner to wake.
    def record_project_reply(self, context, session_id, project_id, reply,
                             event_id=None):
        return self.project_reply(context, session_id, project_id, reply,
                                  event_id=event_id), {'engine': None}

    def record_instance_reply(self, context, session_id, project_id,
                              instance_id, reply, event_id=None):
        return self.project_instance_reply(
            context, session_id, project_id, instance_id, reply,
            event_id=event_id), {'engine': None}

    def wake_session(self, context, session_id, engine, topic=None,
                     subject=None):
        # A cast: never fails its caller (the real client logs it).
        self.calls.append(('wake_session', context, dict(
            session_id=session_id, engine=engine, topic=topic,
            subject=subject)))

    def get_project_instance(self, context, session_id, project_id,
                             instance_id, event_id=None):
        self._record('get_project_instance', context, session_id=session_id,
                     project_id=project_id, instance_id=instance_id,
                     event_id=event_id)
        self._instance(session_id, project_id, instance_id)
        return {'instance_id': instance_id, 'project_id': project_id}

    def project_instance_reply(self, context, session_id, project_id,
                               instance_id, reply, event_id=None):
        self._record('project_instance_reply', context,
                     session_id=session_id, project_id=project_id,
                     instance_id=instance_id, reply=reply,
                     event_id=event_id)
        project = self._instance(session_id, project_id, instance_id)
        project['instances'][instance_id] = reply
        return dict(reply, instance_id=instance_id)

    # --- constraints ------------------------------------------------------
    @staticmethod
    def _list(table, project_id):
        return [dict(v) for v in table.values()
                if project_id is None or v['project_id'] == project_id]

    def list_instance_constraints(self, context, project_id=None):
        self._record('list_instance_constraints', context,
                     project_id=project_id)
        return self._list(self.instances, project_id)

    def get_instance_constraint(self, context, instance_id):
        self._record('get_instance_constraint', context,
                     instance_id=instance_id)
        try:
            return dict(self.instances[instance_id])
        except KeyError:
            raise exception.InstanceConstraintNotFound(
                instance_id=instance_id)

    def put_instance_constraint(self, context, instance_id, values):
        self._record('put_instance_constraint', context,
                     instance_id=instance_id, values=values)
        self.instances[instance_id] = dict(values)
        return dict(values)

    def delete_instance_constraint(self, context, instance_id):
        self._record('delete_instance_constraint', context,
                     instance_id=instance_id)
        if self.instances.pop(instance_id, None) is None:
            raise exception.InstanceConstraintNotFound(
                instance_id=instance_id)
        return None

    def list_instance_group_constraints(self, context, project_id=None):
        self._record('list_instance_group_constraints', context,
                     project_id=project_id)
        return self._list(self.groups, project_id)

    def get_instance_group_constraint(self, context, group_id):
        self._record('get_instance_group_constraint', context,
                     group_id=group_id)
        try:
            return dict(self.groups[group_id])
        except KeyError:
            raise exception.InstanceGroupNotFound(group_id=group_id)

    def put_instance_group_constraint(self, context, group_id, values):
        self._record('put_instance_group_constraint', context,
                     group_id=group_id, values=values)
        self.groups[group_id] = dict(values)
        return dict(values)

    def delete_instance_group_constraint(self, context, group_id):
        self._record('delete_instance_group_constraint', context,
                     group_id=group_id)
        if self.groups.pop(group_id, None) is None:
            raise exception.InstanceGroupNotFound(group_id=group_id)
        return None

    # --- action plug-in runs ----------------------------------------------
    def list_action_runs(self, context, session_id):
        self._record('list_action_runs', context, session_id=session_id)
        return [dict(r) for r in self._session(session_id)['runs']]

    def report_action_run(self, context, session_id, plugin, hostname,
                          report, attempt=None):
        self._record('report_action_run', context, session_id=session_id,
                     plugin=plugin, hostname=hostname, report=report,
                     attempt=attempt)
        for run in self._session(session_id)['runs']:
            if run['plugin'] == plugin and run['hostname'] == hostname:
                current = run.get('attempt', 1)
                if attempt not in (None, current):
                    raise exception.ActionRunAttemptConflict(
                        attempt=attempt, plugin=plugin, current=current,
                        host=hostname or 'session', state=run['state'])
                run.update(report)
                return dict(run)
        raise exception.ActionPluginRunNotFound(
            plugin=plugin, host=hostname, session_id=session_id)
