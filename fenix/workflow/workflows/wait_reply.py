# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``wait_reply``: a minimal workflow that needs no cloud.

For tests and for checking a deployment's plumbing (API -> RPC -> engine
-> DB -> notifications -> replies). The projects to talk to are named in
the session metadata (``{"projects": ["<project id>", ...]}``). It sends
them MAINTENANCE, waits for every ACK (a NACK or silence fails the session),
runs the ``pre``, ``host`` and ``post`` action plug-ins for the requested
hosts, then sends MAINTENANCE_COMPLETE and waits again. It honours an
admin's pause and host skips before each host and each plug-in type.
"""
from fenix.common import exception
from fenix.common import states as st
from fenix.db import api as db_api
from fenix.workflow import base


class WaitReplyWorkflow(base.BaseWorkflow):

    def _projects(self):
        known = {p['project_id'] for p in db_api.projects_get(
            self.session_id)}
        wanted = (self.session.get('meta') or {}).get('projects') or []
        for project_id in wanted:
            if project_id not in known:
                db_api.project_create_or_update(
                    self.session_id, project_id, {'has_manager': True})
        return list(wanted)

    def _exchange(self, event):
        projects = self._projects()
        session = self.session
        # Resumed after a restart with the event already out: keep its
        # deadline and its ids (a reply given meanwhile counts) rather
        # than send it again.
        rows = {p['project_id']: p for p in
                db_api.projects_get(self.session_id)}
        if projects and all(rows[p]['event'] == event and rows[p]['reply_at']
                            for p in projects):
            deadline = max(rows[p]['reply_at'] for p in projects)
            event_ids = {p: rows[p]['event_id'] for p in projects}
        else:
            sent = self.notify_projects(
                event, projects, actions_at=session['maintenance_at'])
            deadline, event_ids = sent.reply_at, sent.event_ids
        replies = self.wait_project_replies(event, projects, deadline,
                                            event_ids=event_ids)
        bad = {p: r for p, r in replies.items() if r != st.ack(event)}
        if bad:
            raise exception.WorkflowError(
                reason='projects did not acknowledge %s: %s' % (
                    event, ', '.join('%s (%s)' % (p, r or 'no reply')
                                     for p, r in sorted(bad.items()))))

    def _ensure_hosts(self):
        requested = self.options.get('requested_hosts') or []
        known = {h['hostname'] for h in self.hosts()}
        new = [{'hostname': h, 'type': st.COMPUTE, 'state': st.HOST_PENDING}
               for h in requested if h not in known]
        if new:
            db_api.hosts_create(self.session_id, new)

    def maintenance(self):
        self._ensure_hosts()
        self._exchange(st.MAINTENANCE)
        return st.START_MAINTENANCE

    def start_maintenance(self):
        self.safe_point()
        self.run_action_plugins(st.PLUGIN_PRE)
        for host in self.hosts():
            if host['maintained'] or not self.safe_point(host['hostname']):
                continue
            self.begin_host_maintenance(host)
            self.run_action_plugins(st.PLUGIN_HOST, host)
            self.run_action_plugins(host['type'], host)
            self.end_host_maintenance(host['hostname'])
        self.safe_point()
        self.run_action_plugins(st.PLUGIN_POST)
        return st.MAINTENANCE_COMPLETE

    def maintenance_complete(self):
        self._exchange(st.MAINTENANCE_COMPLETE)
        return st.MAINTENANCE_DONE

    def cleanup(self, why):
        # No cloud: nothing was disabled.
        return
