# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Named constants for every state string Fenix uses.

Only constants live here; which session state may follow which is declared
in :mod:`fenix.common.state_machine`.
"""

# --- Session states (SPEC 3.5) ---------------------------------------------
MAINTENANCE = 'MAINTENANCE'
SCALE_IN = 'SCALE_IN'
PREPARE_MAINTENANCE = 'PREPARE_MAINTENANCE'
START_MAINTENANCE = 'START_MAINTENANCE'
PLANNED_MAINTENANCE = 'PLANNED_MAINTENANCE'
MAINTENANCE_COMPLETE = 'MAINTENANCE_COMPLETE'
MAINTENANCE_DONE = 'MAINTENANCE_DONE'
MAINTENANCE_FAILED = 'MAINTENANCE_FAILED'
# Our own (SPEC 3.7): an admin paused the session and nothing of it is in
# flight; ``hold_state`` says where it resumes.
PAUSED = 'PAUSED'

SESSION_STATES = (MAINTENANCE, SCALE_IN, PREPARE_MAINTENANCE,
                  START_MAINTENANCE, PLANNED_MAINTENANCE,
                  MAINTENANCE_COMPLETE, MAINTENANCE_DONE,
                  MAINTENANCE_FAILED, PAUSED)
# States a workflow plug-in has a handler for.
WORKFLOW_STATES = (MAINTENANCE, SCALE_IN, PREPARE_MAINTENANCE,
                   START_MAINTENANCE, PLANNED_MAINTENANCE,
                   MAINTENANCE_COMPLETE)
# States in which a session still belongs to an engine: it is resumed
# after a restart, taken over from a dead engine and counts towards
# ``[engine] max_sessions``. A paused session is one of them: its runner
# waits for the admin to resume it.
ACTIVE_SESSION_STATES = WORKFLOW_STATES + (PAUSED,)
# States a session never leaves by itself.
FINAL_SESSION_STATES = (MAINTENANCE_DONE, MAINTENANCE_FAILED)

# --- Project events (SPEC 3.5, 4) ------------------------------------------
INSTANCE_ACTION_DONE = 'INSTANCE_ACTION_DONE'
PROJECT_EVENTS = (MAINTENANCE, SCALE_IN, PREPARE_MAINTENANCE,
                  PLANNED_MAINTENANCE, MAINTENANCE_COMPLETE,
                  INSTANCE_ACTION_DONE)
# Events a project is expected to answer.
REPLY_EVENTS = (MAINTENANCE, SCALE_IN, PREPARE_MAINTENANCE,
                PLANNED_MAINTENANCE, MAINTENANCE_COMPLETE)
ACK_PREFIX = 'ACK_'
NACK_PREFIX = 'NACK_'


def ack(event):
    return ACK_PREFIX + event


def nack(event):
    return NACK_PREFIX + event


# Every reply state a project may send. ACK_INSTANCE_ACTION_DONE is sent by
# existing managers (Tacker) to informational events: accepted, ignored.
REPLY_STATES = tuple([ack(e) for e in REPLY_EVENTS] +
                     [nack(e) for e in REPLY_EVENTS] +
                     [ack(INSTANCE_ACTION_DONE)])

# --- Host events (maintenance.host) ----------------------------------------
IN_MAINTENANCE = 'IN_MAINTENANCE'
HOST_MAINTENANCE_COMPLETE = 'MAINTENANCE_COMPLETE'
HOST_EVENTS = (IN_MAINTENANCE, HOST_MAINTENANCE_COMPLETE)

# --- Host types ------------------------------------------------------------
COMPUTE = 'compute'
CONTROLLER = 'controller'
OTHER = 'other'
HOST_TYPES = (COMPUTE, CONTROLLER, OTHER)

# --- Instance actions (SPEC 3.5) -------------------------------------------
MIGRATE = 'MIGRATE'
LIVE_MIGRATE = 'LIVE_MIGRATE'
OWN_ACTION = 'OWN_ACTION'
INSTANCE_ACTIONS = (MIGRATE, LIVE_MIGRATE, OWN_ACTION)

# --- Progress of one instance's move ---------------------------------------
ACTION_PENDING = 'PENDING'
ACTION_IN_PROGRESS = 'IN_PROGRESS'
ACTION_DONE = 'DONE'
ACTION_FAILED = 'FAILED'

# --- Action plug-ins -------------------------------------------------------
PLUGIN_PRE = 'pre'
PLUGIN_HOST = 'host'
PLUGIN_COMPUTE = 'compute'
PLUGIN_CONTROLLER = 'controller'
PLUGIN_POST = 'post'
# The order in which the types run; pre before the first host, post after
# the last, host then the host's own type on each emptied host.
PLUGIN_TYPES = (PLUGIN_PRE, PLUGIN_HOST, PLUGIN_COMPUTE, PLUGIN_CONTROLLER,
                PLUGIN_POST)
# States of one plug-in run on one host.
RUN_PENDING = 'PENDING'
RUN_RUNNING = 'RUNNING'
RUN_DONE = 'DONE'
RUN_FAILED = 'FAILED'
RUN_STATES = (RUN_PENDING, RUN_RUNNING, RUN_DONE, RUN_FAILED)
# States an out-of-process plug-in may report through the API.
RUN_REPORT_STATES = (RUN_DONE, RUN_FAILED)

# --- Host record progress within a session ---------------------------------
HOST_PENDING = 'PENDING'
HOST_EMPTYING = 'EMPTYING'
HOST_IN_MAINTENANCE = 'IN_MAINTENANCE'
HOST_MAINTAINED = 'MAINTAINED'
HOST_FAILED = 'FAILED'
HOST_SKIPPED = 'SKIPPED'

# --- Steps of a stored plan (the ``steps`` table) ---------------------------
# What one step does.
STEP_NOTIFY_PROJECT = 'notify_project'    # an event to a project
STEP_NOTIFY_INSTANCE = 'notify_instance'  # a per-instance event (nfv)
STEP_MOVE = 'move'                        # an instance off its host
STEP_OWN_ACTION = 'own_action'            # wait: the manager moves it
STEP_DISABLE_COMPUTE = 'disable_compute'  # nova-compute disabled
STEP_ENABLE_COMPUTE = 'enable_compute'    # nova-compute enabled again
STEP_PLUGIN = 'plugin'                    # an action plug-in on a host
STEP_MAINTAIN_HOST = 'maintain_host'      # IN_MAINTENANCE .. COMPLETE
STEP_ANNOUNCE = 'announce'                # an event to every project
STEP_KINDS = (STEP_NOTIFY_PROJECT, STEP_NOTIFY_INSTANCE, STEP_MOVE,
              STEP_OWN_ACTION, STEP_DISABLE_COMPUTE, STEP_ENABLE_COMPUTE,
              STEP_PLUGIN, STEP_MAINTAIN_HOST, STEP_ANNOUNCE)
# Where one step stands (fenix.common.state_machine.STEP).
STEP_PENDING = 'PENDING'
STEP_RUNNING = 'RUNNING'
STEP_DONE = 'DONE'
STEP_FAILED = 'FAILED'
STEP_SKIPPED = 'SKIPPED'
STEP_CANCELLED = 'CANCELLED'
STEP_STATES = (STEP_PENDING, STEP_RUNNING, STEP_DONE, STEP_FAILED,
               STEP_SKIPPED, STEP_CANCELLED)
# A step in one of these is over: nothing of it is done again.
STEP_OVER = (STEP_DONE, STEP_SKIPPED, STEP_CANCELLED)

# --- Kinds of entries in a session's history -------------------------------
EVENT_STATE = 'state'
EVENT_NOTIFY = 'notify'
EVENT_REPLY = 'reply'
EVENT_DECISION = 'decision'
EVENT_ACTION = 'action'
EVENT_ERROR = 'error'
EVENT_HOST = 'host'
EVENT_PLUGIN = 'plugin'
EVENT_ADMIN = 'admin'         # an admin's request: pause, resume, skip

# What wakes a session's runner (SessionRunner.wake/wait): a waiter for one
# topic sleeps through wake-ups of the others.
WAKE_REPLY = 'reply'          # a project or an instance answered
WAKE_REPORT = 'report'        # an action plug-in reported
WAKE_INTERNAL = 'internal'    # the workflow's own workers (a move ended)
WAKE_CONTROL = 'control'      # an admin paused, resumed or skipped a host
