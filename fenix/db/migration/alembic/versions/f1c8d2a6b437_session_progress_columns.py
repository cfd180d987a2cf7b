# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""What a restarted engine needs of a session, in columns rather than JSON.

Revision ID: f1c8d2a6b437
Revises: b5e1f7a3c920
Create Date: 2026-12-05 20:00:00

* ``sessions.told``: the MAINTENANCE exchange was weighed (was
  ``sessions.plan['told']``): a restart does not tell the projects again.
* ``sessions.scale_in_used_vcpus`` / ``_ram_mb`` / ``_disk_gb``: the
  usage of the session's computes before the scale-in round in flight
  (was ``sessions.plan['scale_in']['used_before']``): what the round
  freed is measured against it after a restart. NULL when no round runs.

* An ``nfv`` session in flight made by an engine that wrote no steps
  (its plan only in ``sessions.plan['nfv']``) gets its plan as step rows,
  each in the state its host and instance rows say (a host maintained:
  its steps DONE; in maintenance: ``maintain_host`` RUNNING; being
  emptied: a move in progress RUNNING, an instance told of its event:
  its ``notify_instance`` DONE with the event's id and deadline). A
  restarted executor then reads the step rows only.

Sessions in flight are carried over: their JSON is moved into the new
columns and rows and removed from the JSON (``scale_in['missing']``, a
message nothing reads, goes with it; ``plan['nfv']``, the plan's
description, stays).
"""
import datetime
import json

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'f1c8d2a6b437'
down_revision = 'b5e1f7a3c920'
branch_labels = None
depends_on = None

USED_COLUMNS = ('scale_in_used_vcpus', 'scale_in_used_ram_mb',
                'scale_in_used_disk_gb')

FINAL_STATES = ('MAINTENANCE_DONE', 'MAINTENANCE_FAILED')
TOLD_EVENTS = ('PREPARE_MAINTENANCE', 'PLANNED_MAINTENANCE')

# A Table (with its primary key), so that an insert gives the new id on
# every backend.
_steps = sa.Table(
    'steps', sa.MetaData(),
    sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
    sa.Column('session_id', sa.String(36)), sa.Column('kind', sa.String(32)),
    sa.Column('host', sa.String(255)),
    sa.Column('instance_id', sa.String(36)),
    sa.Column('project_id', sa.String(64)), sa.Column('wave', sa.Integer),
    sa.Column('seq', sa.Integer), sa.Column('inputs', sa.Text),
    sa.Column('depends_on', sa.Text), sa.Column('state', sa.String(32)),
    sa.Column('attempt', sa.Integer), sa.Column('result', sa.Text),
    sa.Column('started_at', sa.DateTime),
    sa.Column('finished_at', sa.DateTime),
    sa.Column('created_at', sa.DateTime),
    sa.Column('target', sa.String(255)),
    sa.Column('event_id', sa.String(36)),
    sa.Column('reply_at', sa.DateTime))
_hosts = sa.table(
    'hosts', sa.column('session_id'), sa.column('hostname'),
    sa.column('state'), sa.column('maintained', sa.Boolean),
    sa.column('disabled_by_fenix', sa.Boolean))
_instances = sa.table(
    'instances', sa.column('session_id'), sa.column('instance_id'),
    sa.column('host'), sa.column('event'), sa.column('event_id'),
    sa.column('event_at', sa.DateTime), sa.column('reply_at', sa.DateTime),
    sa.column('actions_at', sa.DateTime), sa.column('action'),
    sa.column('action_state'), sa.column('details', sa.Text))
_sessions = sa.table(
    'sessions', sa.column('session_id'), sa.column('state'),
    sa.column('plan', sa.Text),
    sa.column('told', sa.Boolean),
    *(sa.column(c, sa.Float) for c in USED_COLUMNS))


def _load(text):
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def upgrade():
    with op.batch_alter_table('sessions') as batch:
        batch.add_column(sa.Column('told', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        for name in USED_COLUMNS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))
    _carry_over(op.get_bind())
    _legacy_nfv_plans(op.get_bind())


def _used(info):
    used = (info or {}).get('used_before')
    if not isinstance(used, (list, tuple)) or len(used) != 3:
        return {}
    try:
        return dict(zip(USED_COLUMNS, (float(v or 0) for v in used)))
    except (TypeError, ValueError):
        return {}


def _carry_over(bind):
    rows = bind.execute(sa.select(_sessions.c.session_id, _sessions.c.plan)
                        .where(sa.or_(_sessions.c.plan.like('%told%'),
                                      _sessions.c.plan.like('%scale_in%')))
                        ).all()
    for session_id, plan_text in rows:
        plan = _load(plan_text)
        if plan is None or not ('told' in plan or 'scale_in' in plan):
            continue
        change = {'told': bool(plan.pop('told', False))}
        change.update(_used(plan.pop('scale_in', None)))
        change['plan'] = json.dumps(plan)
        bind.execute(_sessions.update()
                     .where(_sessions.c.session_id == session_id)
                     .values(**change))


# --- nfv plans of sessions without steps, as steps ---------------------------

def _host_phase(host):
    """Where a host of a legacy session stood, from its row."""
    if host is None:
        return 'pending'
    if host['maintained']:
        return 'done'
    if host['state'] == 'SKIPPED':
        return 'skipped'
    if host['state'] in ('IN_MAINTENANCE', 'FAILED'):
        return 'down'
    if host['state'] == 'EMPTYING':
        return 'emptying'
    return 'pending'


def _instance_steps(phase, inst, hostname):
    """(notify step columns, move step columns) of one planned move."""
    state = {'done': 'DONE', 'down': 'DONE', 'skipped': 'CANCELLED'}.get(
        phase, 'PENDING')
    note, move = {'state': state}, {'state': state}
    if phase != 'emptying' or inst is None:
        return note, move
    details = _load(inst['details']) or {}
    if inst['action_state'] == 'IN_PROGRESS' and \
            details.get('move_from') == hostname:
        move.update(state='RUNNING', attempt=1,
                    result=json.dumps({'action': inst['action']}))
    elif inst['action_state'] == 'DONE' and inst['host'] != hostname:
        move.update(state='DONE', result=json.dumps(
            {'action': inst['action'], 'host': inst['host']}))
    if inst['event'] in TOLD_EVENTS and inst['reply_at']:
        actions_at = inst['actions_at']
        note.update(state='DONE', attempt=1, event_id=inst['event_id'],
                    reply_at=inst['reply_at'],
                    finished_at=inst['event_at'], result=json.dumps({
                        'event': inst['event'],
                        'actions_at': actions_at.strftime(
                            '%Y-%m-%d %H:%M:%S') if actions_at else None}))
    elif move['state'] != 'PENDING':
        note['state'] = 'DONE'
    return note, move


def _legacy_nfv_plans(bind):
    with_steps = set(bind.execute(
        sa.select(_steps.c.session_id).distinct()).scalars())
    now = datetime.datetime.utcnow().replace(microsecond=0)
    for session_id, state, plan_text in bind.execute(sa.select(
            _sessions.c.session_id, _sessions.c.state, _sessions.c.plan)
            .where(_sessions.c.plan.like('%waves%'))).all():
        if session_id in with_steps or state in FINAL_STATES:
            continue
        nfv = (_load(plan_text) or {}).get('nfv')
        if not isinstance(nfv, dict) or not nfv.get('waves'):
            continue
        hosts = {r.hostname: r._mapping for r in bind.execute(
            sa.select(_hosts).where(_hosts.c.session_id == session_id))}
        instances = {r.instance_id: r._mapping for r in bind.execute(
            sa.select(_instances)
            .where(_instances.c.session_id == session_id))}
        seq = [0]

        def add(kind, hostname, wave, depends, state='PENDING', **values):
            values.setdefault('attempt', 1 if state != 'PENDING' else 0)
            values.setdefault('result', '{}')
            values.setdefault('inputs', '{}')
            if state in ('RUNNING', 'DONE', 'FAILED'):
                values.setdefault('started_at', now)
            if state in ('DONE', 'FAILED', 'CANCELLED'):
                values['finished_at'] = values.get('finished_at') or now
            seq[0] += 1
            return bind.execute(_steps.insert().values(
                session_id=session_id, kind=kind, host=hostname, wave=wave,
                seq=seq[0], depends_on=json.dumps(depends), state=state,
                created_at=now, **values)).inserted_primary_key[0]

        for wave in nfv['waves']:
            index = wave.get('index')
            by_source = {}
            for move in wave.get('moves') or ():
                by_source.setdefault(move.get('source'), []).append(move)
            for hostname in wave.get('hosts') or ():
                host = hosts.get(hostname)
                phase = _host_phase(host)
                over = {'done': 'DONE', 'down': 'DONE', 'emptying': 'DONE',
                        'skipped': 'CANCELLED'}.get(phase, 'PENDING')
                off = add('disable_compute', hostname, index, [], over)
                refs = []
                for move in by_source.get(hostname, ()):
                    iid = move.get('instance_id')
                    note, step = _instance_steps(phase, instances.get(iid),
                                                 hostname)
                    tell = add('notify_instance', hostname, index, [off],
                               note.pop('state'), instance_id=iid,
                               project_id=move.get('project_id'), **note)
                    kind = ('own_action' if move.get('kind') == 'OWN_ACTION'
                            else 'move')
                    refs.append(add(
                        kind, hostname, index, [tell], step.pop('state'),
                        instance_id=iid, project_id=move.get('project_id'),
                        target=move.get('target'), inputs=json.dumps({
                            'action': move.get('kind'),
                            'again': bool(move.get('again'))}), **step))
                maintain = {'done': 'DONE', 'skipped': 'CANCELLED',
                            'down': 'FAILED' if host is not None and
                            host['state'] == 'FAILED' else 'RUNNING'
                            }.get(phase, 'PENDING')
                last = add('maintain_host', hostname, index,
                           refs + [off], maintain)
                enable = 'PENDING'
                if phase == 'skipped':
                    enable = 'CANCELLED'
                elif phase == 'done' and not host['disabled_by_fenix']:
                    enable = 'DONE'
                add('enable_compute', hostname, index, [last], enable)
