# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The executor of the ``nfv`` workflow's plan (the ``parallel`` policy of
:class:`~fenix.workflow.session_flow.SessionFlow`;
:mod:`fenix.workflow.workflows.nfv` plans and drives it in
PLANNED_MAINTENANCE).

It executes the plan adaptively: hosts are taken in the planner's order,
as many at once as the plan's waves (and the ``max_parallel_hosts``
option) allow, each as soon as its instances fit on the hosts available
*now*; every instance gets its own PREPARE_MAINTENANCE (nothing
maintained yet) or PLANNED_MAINTENANCE event when its group's budget
(``max_impacted_members``) has room; it is moved once the manager
answered (or its reply window passed) and its ``lead_time`` passed; a
member holds its group's budget from its event until ``recovery_time``
after its move (members other live sessions move, or moved less than
``recovery_time`` ago, count too). A host goes down as soon as it is
empty; maintained hosts are the preferred targets. After a restart it
goes on from the step rows (:mod:`fenix.workflow.steps`).

An admin's pause or host skip (SPEC 3.7) is honoured before it starts a
host, sends an instance event, starts a move or takes a host down
(:meth:`~fenix.workflow.base.BaseWorkflow.may_start`): on a pause, what
is in flight (moves requested from Nova, events being sent, hosts being
disabled or maintained) finishes and the handler gives way (the next run
resumes from the rows, as after a restart); a skipped host's pending
jobs are cancelled and, once its moves in flight are done, it is skipped
and the others go on.

A move from a host whose nova-compute is down waits until it is up again
(the computes' state is read every second and when a host starts), at
most ``[workflow] migration_timeout``, then the run fails with nothing
more moved from it; down computes are never targets.

Move kind: the manager's ``instance_action``; a silent manager, or a
project without one, gets the planner's choice from ``migration_type``
and ``max_interruption_time`` (:func:`planner.choose_move_kind`).
OWN_ACTION: Fenix waits (``[workflow] own_action_timeout``) until the
manager moved or removed the instance.

The executor is one :class:`Executor` made of one part per concern, each a
module of this package:

``loop``
    the coordinator: workers, the completion queue, the passes;
``hosts``
    host starts (the plan's order, disabling nova-compute, resumed
    hosts), a host taken down once empty, skips and deferrals;
``events``
    the instance events and the project exchanges (replies, the move
    kind, NACKs);
``moves``
    moves started to the model's target, waited for and recorded;
    OWN_ACTION and deleted instances watched;
``resume``
    where a restarted run starts from (the step rows, else the host and
    instance rows);
``usage``
    the model of the cloud: capacity, usage counted incrementally, room
    reserved for moves, the constraints and the choice of targets;
``budgets``
    the group budgets (holders, recovery, other live sessions);
``common``
    the tunables, phases, host states and :class:`Job` they all share.

A host starts only when its ``disable_compute`` step is ready and goes
down only when its ``maintain_host`` step is (every step it depends on
DONE or SKIPPED: :func:`fenix.common.state_machine.step_ready`); the
events and moves of the host the run did not need are skipped then. A job
also waits on conditions no dependency holds (its reply or the end of its
window, ``lead_time``, its group's budget, room, the source compute up).
A move or an event the plan did not have (an instance that appeared) is
added with its dependencies, and the host's maintenance made to wait for
it (:data:`fenix.workflow.steps.RUN_TIME_LINKS`).
"""
from fenix.workflow.executor import common
from fenix.workflow.executor import loop

Executor = loop.Executor
Job = common.Job

# The phases of a job and the states of a host, as the module used to
# name them.
WAIT_SLOT = common.WAIT_SLOT
NOTIFYING = common.NOTIFYING
NOTIFIED = common.NOTIFIED
READY = common.READY
MOVING = common.MOVING
OWN = common.OWN
DONE = common.DONE
H_PENDING = common.H_PENDING
H_STARTING = common.H_STARTING
H_EMPTYING = common.H_EMPTYING
H_DOWN = common.H_DOWN
H_DONE = common.H_DONE
