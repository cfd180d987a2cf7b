# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""What the sample VNFM runs and how it behaves.

:class:`AppProfile` is the application: an active/standby pair in an
anti-affinity server group plus non-redundant servers, and the constraints
it registers with Fenix. :class:`Behaviour` holds the knobs tests use to
make the manager misbehave (silence, NACKs, slowness).
"""
import copy

MIGRATE = 'MIGRATE'
LIVE_MIGRATE = 'LIVE_MIGRATE'
OWN_ACTION = 'OWN_ACTION'
INSTANCE_ACTIONS = (MIGRATE, LIVE_MIGRATE, OWN_ACTION)

HA = 'ha'
NON_HA = 'nonha'


class AppProfile(object):
    """An application's shape and constraints (all overridable)."""

    def __init__(self, name='app', ha_count=2, nonha_count=4,
                 flavor=None, image=None, scale_in_count=2,
                 scale_in_policy='newest',
                 ha_max_impacted_members=1, ha_recovery_time=2,
                 nonha_max_impacted_members=2, nonha_recovery_time=1,
                 lead_time=10, max_interruption_time=120,
                 migration_type=MIGRATE, resource_mitigation=True,
                 build_timeout=60):
        if migration_type not in INSTANCE_ACTIONS:
            raise ValueError('migration_type %r is not one of %s'
                             % (migration_type, ', '.join(INSTANCE_ACTIONS)))
        if scale_in_policy not in ('newest', 'colocated'):
            raise ValueError('scale_in_policy must be newest or colocated')
        if ha_count < 0 or nonha_count < 0 or scale_in_count < 0:
            raise ValueError('server counts must be >= 0')
        self.name = name
        self.ha_count = ha_count
        self.nonha_count = nonha_count
        self.flavor = flavor
        self.image = image
        self.scale_in_count = scale_in_count
        self.scale_in_policy = scale_in_policy
        self.ha_max_impacted_members = ha_max_impacted_members
        self.ha_recovery_time = ha_recovery_time
        self.nonha_max_impacted_members = nonha_max_impacted_members
        self.nonha_recovery_time = nonha_recovery_time
        self.lead_time = lead_time
        self.max_interruption_time = max_interruption_time
        self.migration_type = migration_type
        self.resource_mitigation = resource_mitigation
        self.build_timeout = build_timeout

    def updated(self, **changes):
        """A copy with the given (non-None) fields changed."""
        new = copy.copy(self)
        for key, value in changes.items():
            if value is None:
                continue
            if not hasattr(new, key):
                raise ValueError('unknown application setting %r' % key)
            setattr(new, key, value)
        return new

    def to_dict(self):
        return dict(vars(self))


# The Doctor maintenance scenario (seed 004): three computes of two slots
# each, filled to capacity by 2 HA servers and 4 non-redundant ones; scale
# in by 2 non-redundant servers.
APPS = {
    'seed004': AppProfile(name='seed004', ha_count=2, nonha_count=4,
                          scale_in_count=2),
    'ha-pair': AppProfile(name='ha-pair', ha_count=2, nonha_count=0,
                          scale_in_count=0),
}


def get_app(name):
    try:
        return APPS[name]
    except KeyError:
        raise ValueError('unknown app %r (known: %s)'
                         % (name, ', '.join(sorted(APPS))))


class Behaviour(object):
    """How the manager answers.

    ``silent``: event states never answered ('*' = all). ``nack``: event
    states answered with NACK. ``reply_delay``: seconds to wait before
    answering (capped so the answer still lands before ``reply_at`` unless
    ``honour_reply_at`` is False). ``instance_actions``: action per server
    name or id (else the profile's ``migration_type``).
    ``ack_instance_action_done``: answer INSTANCE_ACTION_DONE with
    ACK_INSTANCE_ACTION_DONE as Tacker does. ``switch_over``: move the
    active role away from an instance about to be moved (turn off to see
    the checker catch it). ``reply_retries``/``retry_interval``: the
    bounded retries of a reply. ``repeat_replies``: seconds after each
    reply at which it is delivered again, as it was (same URL, same body:
    what an HTTP retry after a time-out or a proxy would do), e.g.
    ``(1.2, 2.5)``; Fenix must refuse the copies (409) and never take one
    as the answer to another event. ``hold_replies``: event state -> a
    ``threading.Event``; the answer to such an event waits (after
    ``reply_delay``, at most until ``reply_at``) until it is set: a test
    chooses the moment the answer is sent, e.g. while Fenix is away.
    """

    def __init__(self, silent=(), nack=(), reply_delay=0.0,
                 honour_reply_at=True, instance_actions=None,
                 ack_instance_action_done=False, switch_over=True,
                 reply_retries=5, retry_interval=0.5, reply_margin=0.5,
                 repeat_replies=(), hold_replies=None):
        self.silent = set(silent)
        self.nack = set(nack)
        self.reply_delay = float(reply_delay)
        self.honour_reply_at = honour_reply_at
        self.instance_actions = dict(instance_actions or {})
        for action in self.instance_actions.values():
            if action not in INSTANCE_ACTIONS:
                raise ValueError('instance action %r is not one of %s'
                                 % (action, ', '.join(INSTANCE_ACTIONS)))
        self.ack_instance_action_done = ack_instance_action_done
        self.switch_over = switch_over
        self.reply_retries = max(1, int(reply_retries))
        self.retry_interval = float(retry_interval)
        self.reply_margin = float(reply_margin)
        self.repeat_replies = tuple(float(d) for d in repeat_replies)
        if any(d < 0 for d in self.repeat_replies):
            raise ValueError('repeat_replies: delays must be >= 0, not %s'
                             % (self.repeat_replies,))
        self.hold_replies = dict(hold_replies or {})

    def is_silent(self, state):
        return '*' in self.silent or state in self.silent

    def is_nack(self, state):
        return '*' in self.nack or state in self.nack

    def to_dict(self):
        data = dict(vars(self))
        data['silent'] = sorted(self.silent)
        data['nack'] = sorted(self.nack)
        data['repeat_replies'] = list(self.repeat_replies)
        data['hold_replies'] = sorted(self.hold_replies)
        return data
