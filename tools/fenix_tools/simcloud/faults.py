# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Fault injection: failing or slow migrations and failing API calls.

Rules come from the topology's ``faults:`` mapping, ``PUT /sim/faults`` or
the Python API. A migration rule matches when every criterion it gives
holds (``server`` by id or name, ``host`` as source or destination,
``type`` cold/live/evacuate/any); ``times`` limits how often it fires. On
top of the rules, ``migration_failure_rate`` fails that fraction of the
remaining migrations, drawn from a ``random.Random(seed)``.

``leak_allocations`` (default off) models a real Nova failure mode: a
failed migration leaves its destination's resources claimed in Placement,
so the scheduler counts them as used (``No valid host``) while the
hypervisor still reports them free, until the allocations are healed
(:meth:`Cloud.heal_allocations`). A migration rule's ``leak`` overrides it
for the migrations that rule fails.
"""
import collections
import random
import re

from fenix_tools.simcloud import topology

#: What :meth:`Faults.migration_outcome` decides for one migration.
#: ``leak``: on failure, the destination keeps its resources claimed
#: (a Placement allocation leak; see ``leak_allocations``).
Outcome = collections.namedtuple(
    'Outcome', 'fail duration vm_state reason rule leak')


class Faults:
    def __init__(self, config=None):
        self.configure(config or {})

    def configure(self, config):
        config = topology.normalize_faults(config)
        self.seed = config['seed']
        self.rate = config['migration_failure_rate']
        self.leak_allocations = config['leak_allocations']
        self.migration_rules = config['migrations']
        self.api_rules = config['api']
        for rule in self.api_rules:
            rule['regex'] = re.compile(rule['path'])
        self._rng = random.Random(self.seed)

    def to_dict(self):
        return {'seed': self.seed, 'migration_failure_rate': self.rate,
                'leak_allocations': self.leak_allocations,
                'migrations': [dict(r) for r in self.migration_rules],
                'api': [{k: v for k, v in r.items() if k != 'regex'}
                        for r in self.api_rules]}

    def _add_rule(self, kind, rule):
        config = self.to_dict()
        config[kind].append(rule)
        keep_rng = self._rng
        self.configure(config)
        self._rng = keep_rng

    def add_migration_rule(self, **rule):
        self._add_rule('migrations', rule)

    def add_api_rule(self, **rule):
        self._add_rule('api', rule)

    def leaks(self, rule_leak):
        """Whether a failed migration leaks its destination's claim."""
        return self.leak_allocations if rule_leak is None else rule_leak

    def migration_outcome(self, mtype, server, source, dest):
        """Decide a migration's fate when it starts (an :data:`Outcome`).

        ``rule`` is the index of the deciding rule, None when the random
        rate decided (or nothing failed).
        """
        duration = None
        for index, rule in enumerate(self.migration_rules):
            if rule['times'] is not None and rule['times'] <= 0:
                continue
            if rule['type'] not in ('any', mtype):
                continue
            if rule['server'] is not None and rule['server'] not in (
                    server.id, server.name):
                continue
            if rule['host'] is not None and rule['host'] not in (source,
                                                                 dest):
                continue
            if rule['times'] is not None:
                rule['times'] -= 1
            if rule['fail']:
                return Outcome(True, rule['duration'], rule['vm_state'],
                               rule['reason'], index,
                               self.leaks(rule['leak']))
            if rule['duration'] is not None:
                duration = rule['duration']
        if self.rate and self._rng.random() < self.rate:
            return Outcome(True, duration, 'active',
                           'Injected random migration failure', None,
                           self.leak_allocations)
        return Outcome(False, duration, None, None, None, False)

    def api_fault(self, service, method, path):
        """The first API rule matching this call (consumed), or None."""
        for rule in self.api_rules:
            if rule['times'] is not None and rule['times'] <= 0:
                continue
            if rule['service'] not in ('any', service):
                continue
            if rule['method'] and rule['method'] != method:
                continue
            if not rule['regex'].search(path):
                continue
            if rule['times'] is not None:
                rule['times'] -= 1
            return dict(rule)
        return None
