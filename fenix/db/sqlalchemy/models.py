# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""SQLAlchemy models: the whole persistent state of Fenix.

Structured data (metadata, options, details) is stored as JSON, never as
``str()`` of a Python object. Every row of a session carries ``session_id``
and goes when the session is deleted (ON DELETE CASCADE).
"""
from oslo_db.sqlalchemy import models as oslo_models
from oslo_db.sqlalchemy import types as db_types
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy import orm

from fenix.common import timeutils


# Text the API fills: on MySQL a MEDIUMTEXT (16 MiB), as a TEXT (64 KiB)
# holds less than one request body ([api] max_request_body_size, 1 MiB)
# can carry. Other backends have one unbounded text type.
MEDIUM_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql')


def _json_dict():
    return db_types.JsonEncodedDict(mysql_as_medium=True)


class Base(orm.DeclarativeBase):
    pass


class FenixBase(oslo_models.ModelBase):
    """Common columns and helpers."""

    created_at = sa.Column(sa.DateTime, default=timeutils.utcnow,
                           nullable=False)
    updated_at = sa.Column(sa.DateTime, onupdate=timeutils.utcnow)

    def to_dict(self):
        return {c.name: getattr(self, c.key)
                for c in self.__table__.columns}


def _session_fk():
    return sa.Column(sa.String(36),
                     sa.ForeignKey('sessions.session_id', ondelete='CASCADE'),
                     nullable=False, index=True)


class Session(Base, FenixBase):
    """One maintenance session and where its state machine stands."""
    __tablename__ = 'sessions'
    __table_args__ = (sa.UniqueConstraint(
        'idempotency_key', name='uniq_sessions0idempotency_key'),)

    session_id = sa.Column(sa.String(36), primary_key=True)
    state = sa.Column(sa.String(32), nullable=False)
    # The state the session was in when it failed: where PUT resumes.
    failed_state = sa.Column(sa.String(32))
    workflow = sa.Column(sa.String(255), nullable=False)
    maintenance_at = sa.Column(sa.DateTime, nullable=False)
    meta = sa.Column(db_types.JsonEncodedDict(mysql_as_medium=True),
                     nullable=False, default=dict)
    # Our own additions to the create body (dry run, limits, policies).
    options = sa.Column(_json_dict(), nullable=False, default=dict)
    # Software to fetch before the session starts (SPEC 3.6).
    download = sa.Column(db_types.JsonEncodedList(mysql_as_medium=True),
                         nullable=False, default=list)
    # The plan of a dry run, or of the running session.
    plan = sa.Column(db_types.JsonEncodedDict(mysql_as_long=True))
    # Why the session failed, for a person to read.
    error = sa.Column(MEDIUM_TEXT)
    # Who created the session (admin project / user).
    project_id = sa.Column(sa.String(64))
    user_id = sa.Column(sa.String(64))
    # The engine that runs it, and its incarnation (changes at takeover).
    engine = sa.Column(sa.String(255), index=True)
    # The epoch of the owner's claim: raised at every claim (creation,
    # recovery, takeover, runner start). A runner's writes carry the
    # generation it started under and are refused once it is stale
    # (fenix.common.fencing).
    generation = sa.Column(sa.Integer, nullable=False, default=0,
                           server_default='0')
    # Bumped on every change of state, for optimistic concurrency.
    version = sa.Column(sa.Integer, nullable=False, default=0)
    # An admin asked to pause: steps in flight finish, none starts; the
    # session then shows PAUSED and ``hold_state`` is where it resumes.
    hold_requested = sa.Column(sa.Boolean, nullable=False, default=False,
                               server_default=sa.false())
    hold_state = sa.Column(sa.String(32))
    # A few numbers of the plan (planned seconds, hosts), written with the
    # plan, so that the ETA of GET /v1/maintenance/{id} does not read the
    # whole plan.
    estimate = sa.Column(_json_dict())
    # sha256 of the creating project and the create's Idempotency-Key
    # header, and of the create's body: a create sent again with the same
    # key gets this session (another body: 409).
    idempotency_key = sa.Column(sa.String(64))
    request_hash = sa.Column(sa.String(64))
    # The MAINTENANCE exchange was weighed: a restart does not tell the
    # projects again.
    told = sa.Column(sa.Boolean, nullable=False, default=False,
                     server_default=sa.false())
    # The usage of the session's computes (vCPUs, RAM MB, disk GB) before
    # the scale-in round in flight, what it freed is measured against
    # (NULL when no round runs).
    scale_in_used_vcpus = sa.Column(sa.Float)
    scale_in_used_ram_mb = sa.Column(sa.Float)
    scale_in_used_disk_gb = sa.Column(sa.Float)


class Host(Base, FenixBase):
    """A host in a session."""
    __tablename__ = 'hosts'
    __table_args__ = (sa.UniqueConstraint('session_id', 'hostname'),)

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    session_id = _session_fk()
    hostname = sa.Column(sa.String(255), nullable=False)
    type = sa.Column(sa.String(32), nullable=False)
    state = sa.Column(sa.String(32), nullable=False)
    maintained = sa.Column(sa.Boolean, nullable=False, default=False)
    # True only while nova-compute is disabled by this session; a host an
    # operator disabled is never enabled by Fenix.
    disabled_by_fenix = sa.Column(sa.Boolean, nullable=False, default=False)
    # Disabled by someone else when the session found it.
    disabled_by_operator = sa.Column(sa.Boolean, nullable=False,
                                     default=False)
    details = sa.Column(_json_dict(), nullable=False, default=dict)
    # An admin asked to skip the host: its steps are cancelled.
    skip_requested = sa.Column(sa.Boolean, nullable=False, default=False,
                               server_default=sa.false())
    # The last maintenance.host state announced for the host (written with
    # the history entry of the announcement): a host still IN_MAINTENANCE
    # for the listeners is not announced again when its maintenance is
    # resumed (engine restart, continued session).
    announced_state = sa.Column(sa.String(32))
    started_at = sa.Column(sa.DateTime)
    finished_at = sa.Column(sa.DateTime)
    # How many times projects refused the host (nack_policy skip_host:
    # deferred the first time, skipped at the workflow's limit).
    refusals = sa.Column(sa.Integer, nullable=False, default=0,
                         server_default='0')


class Project(Base, FenixBase):
    """A project with instances in a session, and its last exchange."""
    __tablename__ = 'projects'
    __table_args__ = (sa.UniqueConstraint('session_id', 'project_id'),)

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    session_id = _session_fk()
    project_id = sa.Column(sa.String(64), nullable=False)
    # Whether the project owns an event alarm for the project event.
    has_manager = sa.Column(sa.Boolean, nullable=False, default=False)
    # The last event sent, its id (a reply answers that id) and window.
    event = sa.Column(sa.String(37))
    event_id = sa.Column(sa.String(36))
    event_at = sa.Column(sa.DateTime)
    actions_at = sa.Column(sa.DateTime)
    reply_at = sa.Column(sa.DateTime)
    # The answer to that event (ACK_x / NACK_x), when it came, and the
    # instance actions it carried.
    reply = sa.Column(sa.String(37))
    replied_at = sa.Column(sa.DateTime)
    instance_actions = sa.Column(
        db_types.JsonEncodedDict(mysql_as_medium=True), nullable=False,
        default=dict)


class Instance(Base, FenixBase):
    """An instance on a host of a session."""
    __tablename__ = 'instances'
    __table_args__ = (sa.UniqueConstraint('session_id', 'instance_id'),)

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    session_id = _session_fk()
    instance_id = sa.Column(sa.String(36), nullable=False)
    instance_name = sa.Column(sa.String(255))
    project_id = sa.Column(sa.String(64), nullable=False, index=True)
    host = sa.Column(sa.String(255), index=True)
    # Nova's vm_state when last read.
    vm_state = sa.Column(sa.String(32))
    # Per-instance event exchange (nfv workflow) ...
    event = sa.Column(sa.String(37))
    event_id = sa.Column(sa.String(36))
    event_at = sa.Column(sa.DateTime)
    actions_at = sa.Column(sa.DateTime)
    reply_at = sa.Column(sa.DateTime)
    reply = sa.Column(sa.String(37))
    replied_at = sa.Column(sa.DateTime)
    # ... and the move: the chosen action and its progress.
    action = sa.Column(sa.String(32))
    action_state = sa.Column(sa.String(32))
    action_attempts = sa.Column(sa.Integer, nullable=False, default=0)
    action_message = sa.Column(MEDIUM_TEXT)
    # floating_ip, flavor resources, server group, ...
    details = sa.Column(_json_dict(), nullable=False, default=dict)


class ActionPlugin(Base, FenixBase):
    """An action plug-in a session runs."""
    __tablename__ = 'action_plugins'
    __table_args__ = (sa.UniqueConstraint('session_id', 'plugin', 'type'),)

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    session_id = _session_fk()
    plugin = sa.Column(sa.String(255), nullable=False)
    type = sa.Column(sa.String(32), nullable=False)
    # Order within the type (position in the create body).
    position = sa.Column(sa.Integer, nullable=False, default=0)
    meta = sa.Column(_json_dict(), nullable=False, default=dict)


class ActionPluginRun(Base, FenixBase):
    """One run of an action plug-in on one host (or for the session, for
    pre and post plug-ins: hostname is then '')."""
    __tablename__ = 'action_plugin_runs'
    __table_args__ = (
        sa.UniqueConstraint('session_id', 'plugin', 'type', 'hostname'),)

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    session_id = _session_fk()
    plugin = sa.Column(sa.String(255), nullable=False)
    type = sa.Column(sa.String(32), nullable=False)
    hostname = sa.Column(sa.String(255), nullable=False, default='')
    state = sa.Column(sa.String(32), nullable=False)
    # Which attempt is current: a report names it (an earlier attempt's
    # report is refused).
    attempt = sa.Column(sa.Integer, nullable=False, default=0,
                        server_default='0')
    # The current attempt's run() handed the work to an agent (returned
    # ASYNC): its outcome comes as a report, and an engine that restarts
    # waits for it instead of starting the plug-in again.
    asynchronous = sa.Column(sa.Boolean, nullable=False, default=False,
                             server_default=sa.false())
    message = sa.Column(MEDIUM_TEXT)
    # What the current attempt's plug-in says it did, as a small JSON
    # object (the ansible and script plug-ins: per-host task counts, exit
    # status, the end of the output, where the whole log is).
    result = sa.Column(_json_dict())
    started_at = sa.Column(sa.DateTime)
    finished_at = sa.Column(sa.DateTime)


class InstanceConstraint(Base, FenixBase):
    """What an application tolerates for one instance (SPEC 3.3)."""
    __tablename__ = 'instance_constraints'

    instance_id = sa.Column(sa.String(36), primary_key=True)
    project_id = sa.Column(sa.String(64), nullable=False, index=True)
    group_id = sa.Column(sa.String(36), index=True)
    instance_name = sa.Column(sa.String(255))
    max_interruption_time = sa.Column(sa.Integer)
    migration_type = sa.Column(sa.String(32))
    resource_mitigation = sa.Column(sa.Boolean, nullable=False,
                                    default=False)
    lead_time = sa.Column(sa.Integer, nullable=False, default=0)


class InstanceGroupConstraint(Base, FenixBase):
    """What an application tolerates for a group of instances."""
    __tablename__ = 'instance_group_constraints'

    group_id = sa.Column(sa.String(36), primary_key=True)
    project_id = sa.Column(sa.String(64), nullable=False, index=True)
    group_name = sa.Column(sa.String(255))
    anti_affinity_group = sa.Column(sa.Boolean, nullable=False,
                                    default=False)
    max_instances_per_host = sa.Column(sa.Integer, nullable=False,
                                       default=0)
    max_impacted_members = sa.Column(sa.Integer, nullable=False, default=1)
    recovery_time = sa.Column(sa.Integer, nullable=False, default=0)
    resource_mitigation = sa.Column(sa.Boolean, nullable=False,
                                    default=False)


class SessionEvent(Base, FenixBase):
    """The history of a session: states, notifications, replies,
    decisions, errors, each with its time."""
    __tablename__ = 'session_events'

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    session_id = _session_fk()
    kind = sa.Column(sa.String(32), nullable=False)
    state = sa.Column(sa.String(37))
    host = sa.Column(sa.String(255))
    project_id = sa.Column(sa.String(64))
    instance_id = sa.Column(sa.String(36))
    message = sa.Column(MEDIUM_TEXT)
    data = sa.Column(db_types.JsonEncodedDict(mysql_as_medium=True),
                     nullable=False, default=dict)


class Step(Base, FenixBase):
    """One step of a session's stored plan (``states.STEP_KINDS``).

    Written with the plan (the nfv plan at once, the default workflow's
    one host at a time), each marked (``state``, machine
    ``state_machine.STEP``) in the transaction of the change it stands
    for. ``depends_on`` lists the ids of the steps of the same session
    that must be over first (JSON: written once with the plan and read
    with the session's steps, never queried by edge). ``wave``/``seq``:
    the plan's order. ``inputs``: what the step acts on (target, kind of
    move, event, plug-in); ``result``: what it left (the host an instance
    went to, the event's ``actions_at``). ``target``: the host the plan
    moves the instance to (move steps); ``event_id``/``reply_at``: the
    event a notify step sent and its replies' deadline. A session-wide
    exchange (no host) is the notify_project steps of its event: RUNNING
    while its replies are awaited, DONE once they were weighed.
    """
    __tablename__ = 'steps'
    __table_args__ = (
        sa.Index('ix_steps_session_id_state', 'session_id', 'state'),
        sa.Index('ix_steps_session_id_host', 'session_id', 'host'),
    )

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    session_id = _session_fk()
    kind = sa.Column(sa.String(32), nullable=False)
    host = sa.Column(sa.String(255))
    instance_id = sa.Column(sa.String(36))
    project_id = sa.Column(sa.String(64))
    wave = sa.Column(sa.Integer)
    seq = sa.Column(sa.Integer, nullable=False, default=0)
    inputs = sa.Column(db_types.JsonEncodedDict(mysql_as_medium=True),
                       nullable=False,
                       default=dict)
    depends_on = sa.Column(db_types.JsonEncodedList(mysql_as_medium=True),
                           nullable=False,
                           default=list)
    state = sa.Column(sa.String(32), nullable=False)
    attempt = sa.Column(sa.Integer, nullable=False, default=0)
    started_at = sa.Column(sa.DateTime)
    finished_at = sa.Column(sa.DateTime)
    result = sa.Column(db_types.JsonEncodedDict(mysql_as_medium=True),
                       nullable=False,
                       default=dict)
    message = sa.Column(MEDIUM_TEXT)
    target = sa.Column(sa.String(255))
    event_id = sa.Column(sa.String(36))
    reply_at = sa.Column(sa.DateTime)


class OutboxMessage(Base, FenixBase):
    """A notification to send: written in the transaction of the change
    that causes it, sent afterwards by the engine's dispatcher, which marks
    it sent. A consumer may see a message twice (same ``message_id``),
    never lose one. Every message belongs to a session."""
    __tablename__ = 'outbox'
    __table_args__ = (sa.UniqueConstraint('message_id'),)

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    message_id = sa.Column(sa.String(36), nullable=False)
    # Deleting a session first sends what its outbox still holds.
    session_id = _session_fk()
    event_type = sa.Column(sa.String(64), nullable=False)
    priority = sa.Column(sa.String(16), nullable=False)
    payload = sa.Column(db_types.JsonEncodedDict(mysql_as_medium=True),
                        nullable=False, default=dict)
    sent_at = sa.Column(sa.DateTime, index=True)
    attempts = sa.Column(sa.Integer, nullable=False, default=0)
    last_error = sa.Column(MEDIUM_TEXT)


class Engine(Base, FenixBase):
    """A running engine and its heartbeat."""
    __tablename__ = 'engines'

    host = sa.Column(sa.String(255), primary_key=True)
    heartbeat_at = sa.Column(sa.DateTime, nullable=False)
    started_at = sa.Column(sa.DateTime, nullable=False)


class GroupImpact(Base, FenixBase):
    """A slot of an instance group's budget (``max_impacted_members``)
    taken by a session for one member it impacts (a move or an own
    action), whichever session and engine that is: the budget holds
    across the whole deployment.

    A slot is numbered ``0 .. budget - 1`` (more for an impact recorded
    whatever the budget: a manager's own action already under way), and
    ``(group_id, slot)`` is unique: two sessions that take the same free
    slot at once cannot both insert it (:func:`fenix.db.api.
    group_impact_take`). The slot counts while the member is impacted
    (``ends_at`` unset: until ``expires_at`` at the latest, and only
    while its session is live) and until ``ends_at`` afterwards (its
    group's ``recovery_time``).

    A row without a slot (``slot`` NULL) is a session's place in the
    group's queue (``instance_id``: the member that asked last): the
    sessions that wait for a slot of the group are served first come,
    first served, in the order of their ``id`` (the database's order,
    whichever engine asks). A place holds while the session asks again
    before ``expires_at`` (every ask renews it), is live and has the
    ``generation`` noted (a fenced runner's place is gone).
    """
    __tablename__ = 'group_impacts'
    __table_args__ = (sa.UniqueConstraint('group_id', 'slot'),)

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    group_id = sa.Column(sa.String(36), nullable=False)
    # NULL: waiting for a slot (several NULLs never clash in the unique
    # key, on any backend).
    slot = sa.Column(sa.Integer)
    session_id = _session_fk()
    instance_id = sa.Column(sa.String(36), nullable=False)
    # The session's generation (fencing) when its runner took or last
    # renewed the slot.
    generation = sa.Column(sa.Integer, nullable=False, default=0)
    # While impacted: the slot is free after this even if its holder
    # never released it (its engine died and nobody resumed the session).
    # While waiting: the place in the queue is lost after this unless the
    # waiter asked again.
    expires_at = sa.Column(sa.DateTime, nullable=False)
    # Released: the member recovers until then (None: still impacted).
    ends_at = sa.Column(sa.DateTime)
