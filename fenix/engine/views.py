# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""How the engine presents its records to API callers (plain JSON data).

The shapes are :mod:`fenix.common.views` (shared with the API process,
which reads the database itself: :mod:`fenix.db.reads`); these take a
session's row and read what else they need.
"""
from fenix.common import views
from fenix.db import api as db_api
from fenix.db import reads

SESSION_OPTIONS = views.SESSION_OPTIONS
action_run = views.action_run
step = views.step


def session_summary(session, hosts=None, now=None):
    if hosts is None:
        hosts = db_api.hosts_get(session['session_id'])
    return views.session_summary(session, hosts, now=now)


def session_detail(session, now=None):
    """The detail of the session of ``session`` (a row), as read now."""
    return reads.session_detail(session['session_id'], now=now)
