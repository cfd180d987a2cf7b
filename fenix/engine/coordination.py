# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Which engines are alive, and which of them takes which session.

Two modes, chosen by ``[coordination] backend_url``:

* **Database only** (empty URL; the all-in-one, or engines sharing one
  database and nothing else): each engine heartbeats in the ``engines``
  table at the database server's time, and an engine is alive while its
  heartbeat is at most ``[engine] takeover_after`` seconds old by the
  database's clock (never the engines' own: their skew does not matter).
* **tooz** (e.g. ``redis://127.0.0.1:6379``, ``etcd3+http://...``,
  ``zookeeper://...``): each engine joins the group ``[coordination]
  group`` and beats there; the group's members are the live engines, as
  the backend judges them: Redis expires a member whose beats stopped for
  ``takeover_after`` seconds, etcd revokes its lease after as long, and
  ZooKeeper ends its session (the ephemeral member node goes with it)
  after as long. The engines still beat in the database too, for
  ``/metrics`` and the operator.

In both modes the sessions to take over (those without an owner, or whose
owner is not alive) are spread over the live engines with a consistent
hash ring: each engine takes only its share, so a new engine picks up its
part and two engines do not race for the same session. The claim itself is
a compare-and-set in the database that raises the session's generation:
whatever the coordinator says, a stale owner is fenced by the database
(:mod:`fenix.common.fencing`).
"""
import bisect
import hashlib
import urllib.parse

from oslo_config import cfg
from oslo_log import log as logging

from fenix.db import api as db_api

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# The URL option that is a member's expiry, by tooz backend: Redis's
# member key and etcd's lease TTL (both default 30 s otherwise) are
# ``membership_timeout``; ZooKeeper's session time-out (kazoo's, default
# 10 s; the server bounds it to 2 to 20 tickTimes) is ``timeout``.
_MEMBER_EXPIRY_OPTION = {
    'redis': 'membership_timeout',
    'rediss': 'membership_timeout',
    'etcd3+http': 'membership_timeout',
    'etcd3+https': 'membership_timeout',
    'zookeeper': 'timeout',
    'kazoo': 'timeout',
}


def _encode(text):
    return text.encode('utf-8')


class Coordinator(object):
    """Liveness and the share of sessions of one engine (see the module
    doc). ``backend_url``: None reads ``[coordination] backend_url``."""

    def __init__(self, host, backend_url=None, group=None):
        self.host = host
        self.backend_url = (CONF.coordination.backend_url
                            if backend_url is None else backend_url)
        self.group = _encode(group or CONF.coordination.group)
        self._tooz = None
        # The group's members at the last alive() (tooz).
        self._members = frozenset()

    @property
    def mode(self):
        return 'tooz' if self.backend_url else 'database'

    def _url(self):
        """The backend URL, with the member expiry set to ``[engine]
        takeover_after`` where the driver reads it from the URL (unless
        the URL says otherwise)."""
        parsed = urllib.parse.urlsplit(self.backend_url)
        query = urllib.parse.parse_qs(parsed.query)
        option = _MEMBER_EXPIRY_OPTION.get(parsed.scheme)
        if option and option not in query:
            extra = '%s=%d' % (option, CONF.engine.takeover_after)
            return urllib.parse.urlunsplit(parsed._replace(
                query='&'.join(q for q in (parsed.query, extra) if q)))
        return self.backend_url

    # --- life cycle --------------------------------------------------------
    def start(self):
        """Join the group (tooz) and beat once."""
        if self.backend_url:
            # Imported only in this mode: tooz loads futurist (and with
            # it eventlet), which the database-only engine does without.
            from tooz import coordination as tooz_coordination
            self._tooz = tooz_coordination.get_coordinator(
                self._url(), _encode(self.host))
            self._tooz.start(start_heart=False)
            try:
                self._tooz.create_group(self.group).get()
            except tooz_coordination.GroupAlreadyExist:
                pass
            self._join()
            LOG.info('Engine %s joined the tooz group %s', self.host,
                     self.group.decode())
        self.heartbeat()

    def _join(self):
        from tooz import coordination as tooz_coordination
        # Beat first: etcd binds the member's key to the engine's lease,
        # and the lease of an engine that stalled past its TTL is gone;
        # tooz's beat grants a new one (joining under the old one fails:
        # lease not found).
        self._tooz.heartbeat()
        try:
            self._tooz.join_group(self.group).get()
        except tooz_coordination.MemberAlreadyExist:
            pass
        # A member is alive to the others once it beat.
        self._tooz.heartbeat()

    def stop(self):
        """Leave the group: the other engines take over at once rather
        than after the member expired."""
        if self._tooz is None:
            return
        try:
            self._tooz.leave_group(self.group).get()
        except Exception:  # noqa - expiry does it anyway
            LOG.warning('Engine %s could not leave the tooz group %s',
                        self.host, self.group.decode(), exc_info=True)
        try:
            self._tooz.stop()
        finally:
            self._tooz = None

    # --- liveness ------------------------------------------------------------
    def heartbeat(self):
        """Beat: in the database (always) and to the backend."""
        db_api.engine_heartbeat(self.host)
        if self._tooz is not None:
            self._tooz.heartbeat()
            self._tooz.run_watchers()

    def alive(self):
        """Hosts of the live engines (this one included)."""
        if self._tooz is None:
            alive = db_api.engines_alive(CONF.engine.takeover_after)
        else:
            from tooz import coordination as tooz_coordination
            try:
                members = self._tooz.get_members(self.group).get()
            except tooz_coordination.GroupNotCreated:
                members = set()
            alive = {m.decode('utf-8') for m in members}
            if self.host not in alive:
                # Expired while this engine stalled: join again (its
                # stale runners are fenced by the database meanwhile).
                LOG.warning('Engine %s was no longer a member of the tooz '
                            'group %s; joining again', self.host,
                            self.group.decode())
                self._join()
            self._members = frozenset(alive | {self.host})
        alive.add(self.host)
        return alive

    def known_alive(self):
        """The live engines for a caller other than the heartbeat (a full
        engine that forwards a create): as :meth:`alive` judges them, but
        in tooz mode as of the heartbeat's last look (at most one
        ``heartbeat_interval`` old: the backend's client stays the
        heartbeat thread's)."""
        if self.backend_url:
            return set(self._members)
        return self.alive()

    # --- the share of each engine ------------------------------------------
    def ring(self, alive):
        return HashRing(alive, CONF.coordination.hash_replicas)

    def mine(self, session_id, ring):
        """True when this engine should claim ``session_id`` (an orphan)
        according to ``ring`` (of the live engines)."""
        return ring.owner(session_id) == self.host


class HashRing(object):
    """A consistent hash ring of engine names: a session maps to the same
    engine while that engine lives, and only the sessions of an engine
    that joins or leaves move. Each engine has ``replicas`` points on the
    ring (MD5 of ``name:i``); a key belongs to the first point at or after
    its own hash. Every engine computes the same ring from the same
    members."""

    def __init__(self, nodes, replicas):
        points = []
        for node in set(nodes):
            for i in range(replicas):
                points.append((_hash('%s:%d' % (node, i)), node))
        points.sort()
        self._keys = [p[0] for p in points]
        self._nodes = [p[1] for p in points]

    def owner(self, key):
        """The engine ``key`` belongs to (None on an empty ring)."""
        if not self._keys:
            return None
        index = bisect.bisect_left(self._keys, _hash(key))
        return self._nodes[index % len(self._nodes)]


def _hash(text):
    return int.from_bytes(hashlib.md5(
        _encode(text), usedforsecurity=False).digest()[:8], 'big')
