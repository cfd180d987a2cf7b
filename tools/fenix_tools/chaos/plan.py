# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Where the kills go: the moments of a session worth a crash.

A *trigger* names a moment; the campaign arms it, waits for the next such
moment after the engine's last (re)start, SIGKILLs the engine at once and
starts it again. Triggers are dealt from a seeded shuffle of all of them,
round after round, so that every moment gets its share of kills whatever
the number of kills asked for; within one session they are put in the
order a session meets them (a kill after the final state comes last).
A trigger whose moment never came in its session is dealt again first.
"""
import random

RANDOM = 'random'
PROJECT_EVENT = 'project-event'
MIGRATION_START = 'migration-start'
MIGRATION_FINISH = 'migration-finish'
HOST_DISABLED = 'host-disabled'
IN_MAINTENANCE = 'in-maintenance'
PLUGIN_START = 'plugin-start'
HOST_COMPLETE = 'host-complete'
FINAL_STATE = 'final-state'

# In the order a session meets them (random fits anywhere).
TRIGGERS = (RANDOM, PROJECT_EVENT, MIGRATION_START, MIGRATION_FINISH,
            HOST_DISABLED, IN_MAINTENANCE, PLUGIN_START, HOST_COMPLETE,
            FINAL_STATE)

MEANING = {
    RANDOM: 'a random time (up to --random-max seconds) after the engine '
            'is up',
    PROJECT_EVENT: 'right after a project event (maintenance.planned) '
                   'reached the cloud',
    MIGRATION_START: 'right after Nova started a migration',
    MIGRATION_FINISH: 'right after a migration finished (a cold one in '
                      'VERIFY_RESIZE, not yet confirmed)',
    HOST_DISABLED: 'right after a nova-compute service was disabled',
    IN_MAINTENANCE: 'right after maintenance.host IN_MAINTENANCE reached '
                    'the cloud',
    PLUGIN_START: 'right after the agent got an action plug-in start',
    HOST_COMPLETE: 'right after maintenance.host MAINTENANCE_COMPLETE '
                   'reached the cloud',
    FINAL_STATE: "right after the session's final state appeared in the "
                 'database',
}

_ORDER = {name: index for index, name in enumerate(TRIGGERS)}


def parse_triggers(text):
    """``'a,b'`` or ``'all'`` -> a tuple of known trigger names."""
    if not text or text.strip() == 'all':
        return TRIGGERS
    names = tuple(t.strip() for t in text.split(',') if t.strip())
    unknown = [n for n in names if n not in _ORDER]
    if unknown or not names:
        raise ValueError('unknown trigger(s) %s (known: %s)'
                         % (', '.join(unknown) or '(none)',
                            ', '.join(TRIGGERS)))
    return names


class KillPlan(object):
    """Deals triggers to sessions, reproducibly for a seed."""

    def __init__(self, seed, triggers=TRIGGERS, per_session=3):
        if per_session < 1:
            raise ValueError('per_session must be at least 1')
        self.rng = random.Random(seed)
        self.triggers = tuple(triggers)
        self.per_session = per_session
        self._deck = []
        self._again = []

    def _next(self):
        if self._again:
            return self._again.pop(0)
        if not self._deck:
            self._deck = list(self.triggers)
            self.rng.shuffle(self._deck)
        return self._deck.pop(0)

    def deal(self, count=None):
        """The triggers of the next session, in session order."""
        count = self.per_session if count is None else count
        hand = [self._next() for _ in range(max(0, count))]
        return sorted(hand, key=lambda t: _ORDER[t])

    def again(self, triggers):
        """Deal these first next time (their moment did not come)."""
        self._again.extend(triggers)

    def delay(self, upper):
        """A random delay for RANDOM kills, in ``[0.1, upper]`` seconds."""
        return self.rng.uniform(0.1, max(0.1, float(upper)))


# What a disruption of one of several engines does (``--engines N``).
KILL = 'SIGKILL'
STOP = 'SIGSTOP'
# Share of disruptions aimed at the engine owning the session (when it is
# known); the others go to another engine.
OWNER_SHARE = 0.75


def disruption(rng, engines, owner, stop_share, takeover_after, extra):
    """``(action, engine, seconds)`` of one disruption among ``engines``.

    The session's ``owner`` is chosen :data:`OWNER_SHARE` of the times
    (when it is one of ``engines``), another engine otherwise. A
    :data:`STOP` (``stop_share`` of the times) lasts past the takeover
    time: ``takeover_after`` plus 1 to ``1 + extra`` seconds. A
    :data:`KILL` is followed by a restart at once (half of the times: the
    engine resumes its own sessions) or after as long as a stop (another
    engine took them over first).
    """
    engines = list(engines)
    others = [e for e in engines if e != owner] or engines
    if owner in engines and rng.random() < OWNER_SHARE:
        engine = owner
    else:
        engine = rng.choice(others)
    action = STOP if rng.random() < stop_share else KILL
    past = takeover_after + rng.uniform(1, 1 + max(0.0, extra))
    if action == KILL and rng.random() < 0.5:
        past = 0.0
    return action, engine, round(past, 2)
