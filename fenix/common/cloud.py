# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The one door from Fenix to OpenStack: :class:`Cloud`.

Workflows never touch novaclient or aodhclient; they call :class:`Cloud`,
which answers with plain dicts, lists and sets, and turns every client or
keystoneauth error into :class:`fenix.common.exception.CloudError` whose
message names the server or host concerned and carries Nova's (or AODH's)
own error text. Every call that changes the cloud is logged at INFO.

Compute API microversions
-------------------------
``[service_user] nova_api_version`` is negotiated once per :class:`Cloud`
(on first use) and remembered in :attr:`Cloud.nova_version`:

* ``2.latest`` (the default): the highest version both python-novaclient
  and the server support (``novaclient.api_versions.discover_version``
  against the server's version document).
* an explicit version, e.g. ``2.60``: used as is if the server supports
  it, otherwise :class:`CloudError`.

Calls whose shape depends on the version pick the right form:

* services: enable/disable/force-down by service id (a UUID) at >= 2.53,
  by ``host`` + ``binary`` below; ``forced_down`` needs >= 2.11.
* hypervisors: microversion 2.88 removed ``vcpus``, ``memory_mb``,
  ``local_gb`` and their ``*_used`` fields (and ``running_vms``) from the
  hypervisor API. Fenix needs them to plan capacity, so hypervisor calls are
  **pinned to min(negotiated, 2.87)**; every other call uses the negotiated
  version. Should a server still answer without those fields, usage is
  computed from the servers on each host (their embedded flavors, 2.47+)
  and the capacity fields are ``None`` (``usage_source`` says which).
* servers: the flavor is embedded in the server at >= 2.47; below, flavors
  are read by id (once per call).
* cold migration to a named host needs >= 2.56; live migration passes
  ``block_migration='auto'`` at >= 2.25 (``False`` plus
  ``disk_over_commit=False`` below).
* server groups: ``policy`` + ``rules`` at >= 2.64, ``policies`` below;
  both keys are always returned.
"""
import contextlib
import datetime
import email.utils
import fnmatch
import logging
import re
import threading
import time
import urllib.parse

from aodhclient import exceptions as aodh_exc
from keystoneauth1 import exceptions as ks_exc
from novaclient import api_versions
from novaclient import exceptions as nova_exc

from fenix.common import clients
from fenix.common import exception
from fenix.common import fencing
from fenix.common import states as st
from fenix import conf as fenix_conf

LOG = logging.getLogger(__name__)

COMPUTE_BINARY = 'nova-compute'
CONTROLLER_BINARIES = ('nova-conductor', 'nova-scheduler')

# Highest microversion whose hypervisor API still reports capacity and
# usage (2.88 removed them).
HYPERVISOR_USAGE_MAX_VERSION = '2.87'

# Kinds of move, as understood by wait_for_move() and move().
COLD = 'cold'
LIVE = 'live'
_KINDS = {COLD: COLD, 'migrate': COLD, 'migration': COLD, st.MIGRATE: COLD,
          LIVE: LIVE, 'live-migration': LIVE, 'live_migrate': LIVE,
          st.LIVE_MIGRATE: LIVE}
# os-migrations migration_type of each kind (microversion >= 2.23).
_MIGRATION_TYPES = {COLD: ('migration',), LIVE: ('live-migration',)}

# Migration record states (nova.objects.migration): where a move ended.
MIGRATION_FAILED = ('error', 'failed', 'cancelled')
MIGRATION_DONE = ('completed', 'confirmed', 'finished', 'done',
                  'reverted')
MIGRATION_TERMINAL = MIGRATION_FAILED + MIGRATION_DONE

# vm_states a server may rest in after a move of that kind.
_SETTLED_VM_STATES = {COLD: ('active', 'stopped'),
                      LIVE: ('active', 'paused')}

# Alarms asked for per page of AODH's alarm list.
ALARM_PAGE_SIZE = 1000

# Consecutive failed reads of Nova a wait tolerates before giving up.
MAX_READ_ERRORS = 3

# Moves in flight are watched with one server listing for all of them
# (:class:`_ServerWatch`): ``changes-since`` the newest ``updated`` Nova
# showed (Nova keeps ``updated_at`` to the second and lists ``updated_at >=
# changes-since``: that second is listed again). A change committed while
# a listing ran may be older than the newest one that listing showed, so
# every ``WIDE_LISTING_EVERY`` seconds a listing reaches this many seconds
# further back.
CHANGES_SINCE_MARGIN = 2.0
WIDE_LISTING_EVERY = 1.0
# A watched server that no listing showed for this many seconds is read by
# itself (a deleted server drops out of the listings; a long move changes
# nothing for a while).
WATCH_FALLBACK = 2.0
# A move's migration records are those Nova created from this many
# seconds before the move was asked for, by Nova's clock (its ``Date``
# header and the records' ``created_at`` may both keep whole seconds
# only). An older record of the server (a move that ended just before) is
# then taken for this move's; it can only tell that the server, back on
# its host with no task after Nova accepted the move, did not move, which
# is so whatever record says it.
MIGRATION_SINCE_MARGIN = 2.0
# Nova's clock is taken as told again when an answer differs by more.
CLOCK_RESYNC = 5.0
# Seconds the listing thread lingers with nothing to watch before it ends.
WATCH_LINGER = 5.0


# Nova's words when the named target host cannot take the server: its
# nova-compute is disabled or down, it is gone, or it has no room (the
# scheduler's NoValidHost, 400 to a cold migration, the failed event of an
# asynchronous live migration; ComputeServiceUnavailable and
# ComputeHostNotFound name the host). Such a move is not tried again on
# the same target (see :func:`target_refused`).
_NO_VALID_HOST = re.compile(r'no\s*valid\s*host', re.IGNORECASE)
_HOST_UNAVAILABLE = ('Compute service of %s is unavailable',
                     'Compute host %s could not be found',
                     'ComputeServiceUnavailable: Compute service of %s ')
# A server-side or transport error: worth the same request again.
_TRANSIENT = re.compile(r'\(HTTP 5\d\d\)|timed out|time-out|'
                        r'Unable to establish connection|'
                        r'Connection (refused|reset|aborted)',
                        re.IGNORECASE)


def target_refused(message, host):
    """Whether a failed move to ``host`` failed because ``host`` cannot
    take the server (disabled, down, gone or full as Nova's scheduler
    sees it), not for a reason that may pass (a 5xx, a time-out): then
    asking again for the same target only repeats Nova's refusal; another
    target must be chosen. Pure (Nova's message only)."""
    if not host or not message:
        return False
    text = str(message)
    if _TRANSIENT.search(text):
        return False
    if _NO_VALID_HOST.search(text):
        return True
    return any(form % host in text for form in _HOST_UNAVAILABLE)


def normalize_kind(kind):
    """'MIGRATE'/'cold'/... → COLD, 'LIVE_MIGRATE'/'live'/... → LIVE."""
    try:
        return _KINDS[kind]
    except (KeyError, TypeError):
        raise exception.CloudError(
            reason='unknown kind of move %r (use %s or %s)'
                   % (kind, st.MIGRATE, st.LIVE_MIGRATE))


def _migration_id(mig):
    try:
        return int(mig.get('id'))
    except (TypeError, ValueError):
        return mig.get('id') or mig.get('uuid')


def _sort_key(mig):
    mid = _migration_id(mig)
    return (isinstance(mid, int), mid if isinstance(mid, int) else 0,
            str(mig.get('created_at') or ''))


def _working(server):
    """Nova has a task under way on the server (and it is not in ERROR):
    :func:`judge_move` then waits or confirms whatever its migration
    records say."""
    if server is None or not server.get('OS-EXT-STS:task_state'):
        return False
    status = (server.get('status') or '').upper()
    vm_state = (server.get('OS-EXT-STS:vm_state') or '').lower()
    return status not in ('ERROR', 'VERIFY_RESIZE') and \
        vm_state not in ('error', 'resized')


def judge_move(kind, source_host, server, migrations, confirmed=False,
               seen_busy=False):
    """Decide, from Nova's state alone, where a move stands.

    ``server``: the server as Nova shows it (a dict; None when it is gone).
    ``migrations``: the migration records of this move (started after the
    move was asked for), any order. ``confirmed``: a cold migration was
    already confirmed. ``seen_busy``: the server was seen with a task in
    progress (or with a migration record) since the move was asked for.

    Returns ``(verdict, message)``; ``verdict`` is one of ``'done'``,
    ``'failed'``, ``'confirm'`` (a cold migration waits in VERIFY_RESIZE)
    or ``'wait'``. Pure: no I/O, so every rule is unit-tested.
    """
    kind = normalize_kind(kind)
    if server is None:
        return 'failed', 'the server no longer exists'
    status = (server.get('status') or '').upper()
    vm_state = (server.get('OS-EXT-STS:vm_state') or '').lower()
    task_state = server.get('OS-EXT-STS:task_state')
    host = server.get('OS-EXT-SRV-ATTR:host')
    mig = sorted(migrations, key=_sort_key)[-1] if migrations else None
    mig_status = (mig.get('status') or '').lower() if mig else None

    if status == 'ERROR' or vm_state == 'error':
        return 'failed', 'the server went to ERROR'
    if mig_status in MIGRATION_FAILED and task_state is None:
        return 'failed', ("migration %s ended in status '%s'"
                          % (_migration_id(mig), mig_status))
    if kind == COLD and (status == 'VERIFY_RESIZE' or vm_state == 'resized'):
        return ('wait', 'confirming') if confirmed else ('confirm', '')
    settled = (task_state is None
               and vm_state in _SETTLED_VM_STATES[kind])
    if settled and host and host != source_host:
        return 'done', 'now on %s' % host
    if settled and host == source_host and mig is not None and \
            mig_status not in MIGRATION_TERMINAL:
        # Nova still counts the migration as under way although the
        # server rests on the source: a nova-compute restarted meanwhile
        # cleared the task state (init_host) while the migration's next
        # RPC may still wait in its queue. A new request now would race
        # with that RPC; wait until the record ends (or the time-out).
        return 'wait', ("migration %s is still '%s'"
                        % (_migration_id(mig), mig_status))
    if settled and host == source_host and (
            seen_busy or mig_status in MIGRATION_TERMINAL):
        detail = ''
        if mig is not None:
            detail = " (migration %s is '%s')" % (_migration_id(mig),
                                                  mig_status)
        return 'failed', ('the server is back %s on %s without having '
                          'moved%s' % (vm_state or status.lower(),
                                       source_host, detail))
    return 'wait', ''


def _settled_elsewhere(server, kind, source_host):
    """The server rests, not in ERROR and with no task, on a host other
    than ``source_host``: :func:`judge_move` says done whatever a record
    says, so its migration records are not read."""
    if server is None or server.get('OS-EXT-STS:task_state'):
        return False
    status = (server.get('status') or '').upper()
    vm_state = (server.get('OS-EXT-STS:vm_state') or '').lower()
    host = server.get('OS-EXT-SRV-ATTR:host')
    return (status != 'ERROR' and vm_state in _SETTLED_VM_STATES[kind]
            and bool(host) and host != source_host)


def _verifying(server, kind):
    """A cold migration waits in VERIFY_RESIZE (its record is 'finished'):
    it is confirmed without reading the records."""
    if kind != COLD or server is None:
        return False
    return ((server.get('status') or '').upper() == 'VERIFY_RESIZE' or
            (server.get('OS-EXT-STS:vm_state') or '').lower() == 'resized')


def _updated(raw):
    """The ``updated`` time of a Nova server (naive UTC), or None."""
    text = (raw or {}).get('updated')
    if not text:
        return None
    text = str(text).replace('Z', '').replace(' ', 'T')
    text = text.split('+')[0]
    for fmt in ('%Y-%m-%dT%H:%M:%S.%f', '%Y-%m-%dT%H:%M:%S'):
        try:
            return datetime.datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _created_since(mig, since):
    """The migration record was created at or after ``since`` (naive
    UTC); a record without a readable time counts as new."""
    created = _updated({'updated': mig.get('created_at')})
    return created is None or created >= since


def _in_transition(raw):
    """True while a server (Nova's raw answer) is in a task of Nova's or
    waits for its resize to be confirmed: a move is refused then."""
    if not raw:
        return False
    return bool(raw.get('OS-EXT-STS:task_state')) or (
        (raw.get('OS-EXT-STS:vm_state') or '').lower() == 'resized')


class _ServerWatch(object):
    """Nova's view of the servers being moved, read for all of them at
    once.

    Every move in flight (:meth:`Cloud.wait_for_move`) registers its
    server; one thread lists ``GET /servers/detail?all_tenants=True&
    changes-since=<newest updated seen>`` every ``[workflow]
    nova_poll_interval`` seconds while any is registered (``<newest updated
    seen - CHANGES_SINCE_MARGIN>`` at most every ``WIDE_LISTING_EVERY``
    seconds: :meth:`_marker`), keeps the latest view of each registered
    server and wakes its waiter when it changed. Nova thus sees one request
    per poll interval for all moves, not one per move, and each listing
    holds what changed in about the last second, not the last three. A
    waiter reads its server by itself before
    the first listing (which needs a ``changes-since`` marker from Nova's
    own clock) and when no listing showed it for ``WATCH_FALLBACK``
    seconds.
    """

    def __init__(self, cloud):
        self.cloud = cloud
        self.cond = threading.Condition()
        # server id -> [waiters, raw, listing, when its wait began]
        self.entries = {}
        self.started = 0        # listings started (each one's number)
        self.since = None       # newest ``updated`` seen (naive UTC)
        self.wide_at = None     # when the last wide listing began
        self.thread = None

    def add(self, server_id):
        with self.cond:
            entry = self.entries.setdefault(
                server_id, [0, None, -1, time.monotonic()])
            entry[0] += 1
            self._start()
            self.cond.notify_all()

    def _start(self):
        # Called with the lock held: listings need a marker.
        if self.thread is None and self.since is not None:
            self.thread = threading.Thread(
                target=self._run, name='nova-server-watch', daemon=True)
            self.thread.start()

    def remove(self, server_id):
        with self.cond:
            entry = self.entries.get(server_id)
            if entry is not None:
                entry[0] -= 1
                if entry[0] <= 0:
                    del self.entries[server_id]

    def seen(self, raw):
        """A server read by other means: its ``updated`` moves the
        marker (the listings start from Nova's clock)."""
        updated = _updated(raw)
        if updated is None:
            return
        with self.cond:
            if self.since is None or updated > self.since:
                self.since = updated
            if self.entries:
                self._start()

    def ready(self):
        """Listings run (a marker is known)."""
        return self.since is not None

    def latest(self, server_id, after):
        """``(raw, listing)`` of the server as the latest listing started
        after listing number ``after`` showed it, or None."""
        with self.cond:
            entry = self.entries.get(server_id)
            if entry is None or entry[2] <= after:
                return None
            return entry[1], entry[2]

    def wait(self, server_id, after, timeout):
        """Wait at most ``timeout`` seconds for a listing started after
        listing number ``after`` that shows the server."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                entry = self.entries.get(server_id)
                if entry is None or entry[2] > after:
                    return
                left = deadline - time.monotonic()
                if left <= 0 or self.cloud._stop.is_set():
                    return
                self.cond.wait(left)

    def _marker(self, since, now):
        """``changes-since`` of a listing that begins at ``now``
        (monotonic): ``since``, or ``CHANGES_SINCE_MARGIN`` seconds before
        it when the last such wide listing began ``WIDE_LISTING_EVERY``
        seconds ago or more (the first listing is wide)."""
        if self.wide_at is not None and \
                now - self.wide_at < WIDE_LISTING_EVERY:
            return since
        self.wide_at = now
        return since - datetime.timedelta(seconds=CHANGES_SINCE_MARGIN)

    def _run(self):
        cloud = self.cloud
        while True:
            with self.cond:
                if not self.entries:
                    self.cond.wait(WATCH_LINGER)
                    if not self.entries:
                        self.thread = None
                        return
                since = self.since
                # As often as the youngest move asks (Cloud._poll_interval:
                # long moves are read less often).
                base = cloud._wf.nova_poll_interval
                interval = min([cloud._poll_interval(e[3], base)
                                for e in self.entries.values()] or [base])
            with self.cond:
                self.started += 1
                number = self.started
            marker = self._marker(since, time.monotonic())
            params = {'all_tenants': 'True',
                      'changes-since': marker.strftime('%Y-%m-%dT%H:%M:%SZ')}
            try:
                with cloud._errors('listing the servers changed since %s'
                                   % params['changes-since']):
                    raw = cloud._nova_list(cloud._nova(), '/servers/detail',
                                           'servers', params)
            except Exception as e:  # noqa - waiters read by themselves
                LOG.warning('%s', e)
                raw = []
            # One Nova writes one format: the newest by text, parsed once.
            newest = _updated({'updated': max(
                (str(item.get('updated') or '') for item in raw),
                default='')})
            with self.cond:
                if newest is not None and newest > self.since:
                    self.since = newest
                for item in raw:
                    entry = self.entries.get(item.get('id'))
                    if entry is not None and entry[2] < number:
                        entry[1] = item
                        entry[2] = number
                self.cond.notify_all()
            if cloud._stop.wait(interval):
                with self.cond:
                    self.thread = None
                    self.cond.notify_all()
                return


def _to_dict(resource):
    if resource is None:
        return None
    if isinstance(resource, dict):
        return dict(resource)
    return resource.to_dict()


class Cloud(object):
    """Nova and AODH, as Fenix needs them.

    :param conf: an oslo.config ``ConfigOpts`` with Fenix's options
        (default: the global ``fenix.conf.CONF``).
    :param session: a keystoneauth session to use instead of the one built
        from ``[service_user]`` (tests, embedding).
    :param stop_event: a ``threading.Event``; once set, waits in progress
        (:meth:`wait_for_move`, :meth:`wait_host_empty`) end early with a
        failure, so an engine can stop a session without waiting for Nova.

    Thread-safe: one instance may be shared by the threads of an engine.
    """

    def __init__(self, conf=None, session=None, stop_event=None):
        self.conf = conf or fenix_conf.CONF
        self._session = session
        self._stop = stop_event or threading.Event()
        self._lock = threading.RLock()
        self._nova_version = None
        self._novas = {}
        # server id -> (migration ids known before the move, request id)
        self._moves = {}
        # Nova's clock minus ours, in seconds (_note_clock), or None.
        self._clock_offset = None
        # One server listing for every move in flight.
        self._watch = _ServerWatch(self)
        # host -> id of its nova-compute, as the last listing showed it.
        self._compute_ids = {}

    # --- plumbing ----------------------------------------------------------

    @property
    def session(self):
        if self._session is None:
            self._session = clients.get_session(self.conf)
        return self._session

    @property
    def _wf(self):
        return self.conf.workflow

    @contextlib.contextmanager
    def _errors(self, what):
        """Turn client errors into CloudError('<what>: <error>')."""
        try:
            yield
        except exception.CloudError:
            raise
        except (nova_exc.ClientException, aodh_exc.ClientException,
                ks_exc.ClientException, nova_exc.UnsupportedVersion,
                nova_exc.VersionNotFoundForAPIMethod,
                nova_exc.UnsupportedAttribute) as e:
            raise exception.CloudError(reason='%s: %s' % (what, e))

    @property
    def nova_version(self):
        """The negotiated compute API microversion (``APIVersion``)."""
        with self._lock:
            if self._nova_version is None:
                self._nova_version = self._negotiate()
            return self._nova_version

    def _negotiate(self):
        wanted = self.conf.service_user.nova_api_version
        with self._errors('compute API version %s' % wanted):
            requested = api_versions.get_api_version(wanted)
            probe = clients.nova_client('2.1', self.session, self.conf)
            version = api_versions.discover_version(probe, requested)
        LOG.info('Compute API microversion %s in use (asked for %s)',
                 version.get_string(), wanted)
        return version

    def _supports(self, version):
        return self.nova_version >= api_versions.APIVersion(version)

    def _nova(self, at_most=None):
        """A novaclient at the negotiated version, or ``at_most``."""
        version = self.nova_version
        if at_most is not None:
            version = min(version, api_versions.APIVersion(at_most))
        key = version.get_string()
        with self._lock:
            client = self._novas.get(key)
            if client is None:
                with self._errors('compute client %s' % key):
                    client = clients.nova_client(key, self.session,
                                                 self.conf)
                self._novas[key] = client
            return client

    def _poll_interval(self, started, base):
        """Seconds to the next read of a move that began at ``started``
        (monotonic): ``base``, growing to a tenth of the move's age (Nova
        is asked less often about long moves; a move is noticed done
        within about 10 % of its time), at most ``[workflow]
        nova_poll_max_interval``."""
        age = time.monotonic() - started
        return max(base, min(age / 10.0, self._wf.nova_poll_max_interval))

    def _pause(self, seconds):
        """Wait between two reads of Nova; True if Fenix is stopping."""
        return self._stop.wait(max(0.0, seconds))

    def _note_clock(self, resp):
        """Learn Nova's clock from the ``Date`` of one of its answers
        (:meth:`_nova_now`)."""
        try:
            text = resp.headers.get('Date')
        except AttributeError:
            return
        if not isinstance(text, str) or not text:
            return
        try:
            told = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return
        if told.tzinfo is not None:
            told = told.astimezone(datetime.timezone.utc).replace(
                tzinfo=None)
        # The header keeps whole seconds: Nova's clock is at least this.
        offset = (told - datetime.datetime.utcnow()).total_seconds()
        with self._lock:
            if self._clock_offset is None or offset > self._clock_offset \
                    or abs(offset - self._clock_offset) > CLOCK_RESYNC:
                self._clock_offset = offset

    def _nova_now(self):
        """Nova's clock now (naive UTC), as its answers told it (at
        most about a second early), or None before any answer."""
        with self._lock:
            offset = self._clock_offset
        if offset is None:
            return None
        return datetime.datetime.utcnow() + datetime.timedelta(
            seconds=offset)

    def _nova_list(self, nova, path, key, params=None):
        """Every item of a Nova collection, following its ``next`` links.

        Nova caps each page at its ``max_limit`` and adds a
        ``<key>_links`` entry with ``rel: next`` when there may be more;
        following it (rather than asking with the last id until a page is
        empty) also avoids a marker that vanished meanwhile (a server that
        left the filtered host). Returns raw dicts.
        """
        params = dict(params or {})
        items, seen = [], set()
        while True:
            url = path
            if params:
                url += '?' + urllib.parse.urlencode(sorted(params.items()))
            resp, body = nova.client.get(url)
            self._note_clock(resp)
            body = body or {}
            new = [i for i in body.get(key) or []
                   if i.get('id') not in seen]
            items.extend(new)
            seen.update(i.get('id') for i in new)
            nxt = [link.get('href') for link in
                   body.get(key + '_links') or []
                   if link.get('rel') == 'next' and link.get('href')]
            if not new or not nxt:
                return items
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(
                nxt[0]).query)
            if not query.get('marker'):
                return items
            params['marker'] = query['marker'][0]
            if query.get('limit'):
                params['limit'] = query['limit'][0]

    # --- services ----------------------------------------------------------

    @staticmethod
    def _service(raw):
        return {'id': raw.get('id'), 'host': raw.get('host'),
                'binary': raw.get('binary'), 'zone': raw.get('zone'),
                'status': raw.get('status'), 'state': raw.get('state'),
                'disabled_reason': raw.get('disabled_reason'),
                'forced_down': bool(raw.get('forced_down', False)),
                'updated_at': raw.get('updated_at')}

    def compute_services(self, binary=COMPUTE_BINARY, host=None):
        """Nova services of ``binary`` (optionally on ``host``).

        :returns: ``[{id, host, binary, zone, status ('enabled' |
            'disabled'), state ('up' | 'down'), disabled_reason,
            forced_down, updated_at}]`` sorted by host. ``id`` is a UUID at
            microversion >= 2.53, an integer below.
        """
        what = 'listing %s services%s' % (binary,
                                          ' on %s' % host if host else '')
        params = {}
        if host:
            params['host'] = host
        if binary:
            params['binary'] = binary
        with self._errors(what):
            # The raw listing: novaclient's Service objects are deep-copied
            # into dicts, which cost more than the request (the executor
            # reads every service each second).
            raw = self._nova_list(self._nova(), '/os-services', 'services',
                                  params)
        found = sorted((self._service(s) for s in raw),
                       key=lambda s: (s['host'] or '', str(s['id'])))
        with self._lock:
            self._compute_ids.update(
                (s['host'], s['id']) for s in found
                if s['binary'] == COMPUTE_BINARY and s['id'] is not None)
        return found

    def controller_hosts(self):
        """Sorted hosts that run nova-conductor or nova-scheduler."""
        hosts = set()
        for binary in CONTROLLER_BINARIES:
            hosts.update(s['host'] for s in self.compute_services(binary))
        return sorted(h for h in hosts if h)

    def _one_service(self, host, binary=COMPUTE_BINARY):
        found = self.compute_services(binary=binary, host=host)
        found = [s for s in found if s['host'] == host]
        if not found:
            raise exception.CloudError(
                reason='no %s service on host %s' % (binary, host))
        return found[0]

    def _service_after(self, host, answer):
        """The service dict after a change, from Nova's answer to it
        when that is the whole service (at microversion >= 2.53), else
        read again (an older answer holds only host, binary, status and
        reason)."""
        try:
            raw = _to_dict(answer)
        except AttributeError:
            raw = None
        if self._supports('2.53') and isinstance(raw, dict) and \
                raw.get('host') == host and raw.get('id') is not None and \
                all(k in raw for k in ('status', 'state', 'forced_down')):
            return self._service(raw)
        return self._one_service(host)

    def _compute_id(self, host, again=False):
        """The id of nova-compute on ``host``: as a listing of the
        services showed it (an id lasts as long as its service), else (or
        ``again``) read."""
        with self._lock:
            known = None if again else self._compute_ids.get(host)
        return known if known is not None else self._one_service(host)['id']

    def _change_compute(self, host, what, change):
        """``change(services, id)`` of nova-compute on ``host`` (``id``
        None below 2.53: Nova takes host and binary); a service registered
        again since its id was listed (404) is read once more."""
        by_id = self._supports('2.53')
        service_id = self._compute_id(host)
        # The session's stale owner does not act (see fencing).
        fencing.before_action('%s nova-compute on %s' % (what, host))
        with self._errors('%s nova-compute on %s' % (what, host)):
            services = self._nova().services
            try:
                changed = change(services, service_id if by_id else None)
            except nova_exc.NotFound:
                if not by_id:
                    raise
                service_id = self._compute_id(host, again=True)
                changed = change(services, service_id)
        return self._service_after(host, changed)

    def disable_compute(self, host, reason):
        """Disable nova-compute on ``host`` with ``reason``.

        :returns: the service dict after the change.
        """
        LOG.info('Disabling nova-compute on %s: %s', host, reason)

        def disable(services, service_id):
            if service_id is None:
                return services.disable_log_reason(host, COMPUTE_BINARY,
                                                   reason)
            return services.disable_log_reason(service_id, reason)
        return self._change_compute(host, 'disabling', disable)

    def enable_compute(self, host):
        """Enable nova-compute on ``host`` (clears the disabled reason).

        :returns: the service dict after the change.
        """
        LOG.info('Enabling nova-compute on %s', host)

        def enable(services, service_id):
            if service_id is None:
                return services.enable(host, COMPUTE_BINARY)
            return services.enable(service_id)
        return self._change_compute(host, 'enabling', enable)

    def force_down(self, host, down=True):
        """Mark nova-compute on ``host`` forced down (or clear it).

        Needs microversion >= 2.11. :returns: the service dict.
        """
        if not self._supports('2.11'):
            raise exception.CloudError(
                reason='forcing nova-compute on %s down needs compute API '
                       '2.11, the server offers %s'
                       % (host, self.nova_version.get_string()))
        svc = self._one_service(host)
        LOG.info('Setting forced_down=%s on nova-compute of %s (service '
                 '%s)', bool(down), host, svc['id'])
        # The session's stale owner does not act (see fencing).
        fencing.before_action('forcing nova-compute on %s down' % host)
        with self._errors('forcing nova-compute on %s %s'
                          % (host, 'down' if down else 'up')):
            services = self._nova().services
            if self._supports('2.53'):
                services.force_down(svc['id'], bool(down))
            else:
                services.force_down(host, COMPUTE_BINARY, bool(down))
        return self._one_service(host)

    # --- hypervisors -------------------------------------------------------

    _USAGE = ('vcpus', 'vcpus_used', 'memory_mb', 'memory_mb_used',
              'local_gb', 'local_gb_used', 'running_vms')

    def hypervisors(self):
        """Every hypervisor with its capacity and usage.

        :returns: ``[{id, hostname, hypervisor_hostname, vcpus, vcpus_used,
            memory_mb, memory_mb_used, local_gb, local_gb_used, running_vms,
            state, status, usage_source}]`` sorted by hostname.
            ``hostname`` is the compute service's host (what servers' host
            and the services API use); ``hypervisor_hostname`` is the node.
            ``usage_source`` is ``'hypervisor'`` (read at microversion
            <= 2.87, see the module doc) or ``'servers'`` (the server did
            not report usage: ``*_used`` and ``running_vms`` are summed
            from the servers' flavors and capacities are ``None``).
        """
        nova = self._nova(at_most=HYPERVISOR_USAGE_MAX_VERSION)
        with self._errors('listing hypervisors'):
            raw = self._nova_list(nova, '/os-hypervisors/detail',
                                  'hypervisors')
        result = []
        for h in raw:
            service = h.get('service') or {}
            item = {'id': h.get('id'),
                    'hostname': (service.get('host')
                                 or h.get('hypervisor_hostname')),
                    'hypervisor_hostname': h.get('hypervisor_hostname'),
                    'state': h.get('state'), 'status': h.get('status'),
                    'usage_source': 'hypervisor'}
            for key in self._USAGE:
                item[key] = h.get(key)
            result.append(item)
        if any(h.get('vcpus_used') is None for h in result):
            self._usage_from_servers(result)
        return sorted(result, key=lambda h: h['hostname'] or '')

    def _usage_from_servers(self, hypervisors):
        usage = {}
        for srv in self.servers():
            used = usage.setdefault(srv['host'], [0, 0, 0, 0])
            flavor = srv['flavor']
            used[0] += flavor.get('vcpus') or 0
            used[1] += flavor.get('ram') or 0
            used[2] += flavor.get('disk') or 0
            used[3] += 1
        for h in hypervisors:
            if h.get('vcpus_used') is not None:
                continue
            used = usage.get(h['hostname'], [0, 0, 0, 0])
            h.update(vcpus_used=used[0], memory_mb_used=used[1],
                     local_gb_used=used[2], running_vms=used[3],
                     usage_source='servers')

    # --- servers -----------------------------------------------------------

    def _flavor(self, raw, cache):
        flavor = raw.get('flavor') or {}
        if 'vcpus' in flavor:
            return {'vcpus': flavor.get('vcpus'), 'ram': flavor.get('ram'),
                    'disk': flavor.get('disk'),
                    'ephemeral': flavor.get('ephemeral', 0),
                    'swap': flavor.get('swap', 0),
                    'name': flavor.get('original_name', flavor.get('name'))}
        flavor_id = flavor.get('id')
        if flavor_id not in cache:
            try:
                found = _to_dict(self._nova().flavors.get(flavor_id))
            except nova_exc.NotFound:
                found = {}
            except nova_exc.ClientException as e:
                raise exception.CloudError(
                    reason='reading flavor %s of server %s: %s'
                           % (flavor_id, raw.get('id'), e))
            swap = found.get('swap')
            cache[flavor_id] = {
                'vcpus': found.get('vcpus'), 'ram': found.get('ram'),
                'disk': found.get('disk'),
                'ephemeral': found.get('OS-FLV-EXT-DATA:ephemeral', 0),
                'swap': swap if isinstance(swap, int) else 0,
                'name': found.get('name', flavor_id)}
        return dict(cache[flavor_id])

    def _server(self, raw, flavor_cache):
        addresses = raw.get('addresses') or {}
        floating = any(addr.get('OS-EXT-IPS:type') == 'floating'
                       for addrs in addresses.values() for addr in addrs)
        return {'id': raw.get('id'), 'name': raw.get('name'),
                'project_id': raw.get('tenant_id'),
                'user_id': raw.get('user_id'),
                'host': raw.get('OS-EXT-SRV-ATTR:host'),
                'status': raw.get('status'),
                'vm_state': raw.get('OS-EXT-STS:vm_state'),
                'task_state': raw.get('OS-EXT-STS:task_state'),
                'flavor': self._flavor(raw, flavor_cache),
                'floating_ip': floating, 'addresses': addresses,
                'metadata': raw.get('metadata') or {}}

    def servers(self, host=None, all_tenants=True):
        """Servers (of every project by default), optionally on ``host``.

        :returns: ``[{id, name, project_id, user_id, host, status, vm_state,
            task_state, flavor: {vcpus, ram, disk, ephemeral, swap, name},
            floating_ip (bool), addresses, metadata}]``.
        """
        opts = {}
        if all_tenants:
            opts['all_tenants'] = 'True'
        if host:
            opts['host'] = host
        nova = self._nova()
        with self._errors('listing servers%s' % (' on %s' % host
                                                 if host else '')):
            raw = self._nova_list(nova, '/servers/detail', 'servers', opts)
            cache = {}
            result = [self._server(r, cache) for r in raw]
        if host:
            # Nova filters by host; a simplistic backend may not.
            result = [s for s in result if s['host'] == host]
        return result

    def _raw_server(self, server_id):
        try:
            return _to_dict(self._nova().servers.get(server_id))
        except nova_exc.NotFound:
            return None

    def server(self, server_id):
        """One server (the dict of :meth:`servers`), or None if gone."""
        with self._errors('reading server %s' % server_id):
            raw = self._raw_server(server_id)
            return None if raw is None else self._server(raw, {})

    def server_groups(self):
        """Server groups of every project.

        :returns: ``[{id, name, policy, policies, rules, members,
            project_id, user_id}]``.
        """
        nova = self._nova()
        groups, seen, offset = [], set(), 0
        with self._errors('listing server groups'):
            while True:
                page = [_to_dict(g) for g in nova.server_groups.list(
                    all_projects=True, offset=offset)]
                new = [g for g in page if g.get('id') not in seen]
                if not new:
                    break
                seen.update(g['id'] for g in new)
                groups.extend(new)
                offset += len(page)
        result = []
        for g in groups:
            policies = list(g.get('policies') or [])
            policy = g.get('policy') or (policies[0] if policies else None)
            result.append({'id': g.get('id'), 'name': g.get('name'),
                           'policy': policy,
                           'policies': policies or ([policy] if policy
                                                    else []),
                           'rules': g.get('rules') or {},
                           'members': list(g.get('members') or []),
                           'project_id': g.get('project_id'),
                           'user_id': g.get('user_id')})
        return result

    # --- moving servers ----------------------------------------------------

    def _migrations(self, server_id, kind=None):
        """Migration records of one server (os-migrations)."""
        with self._errors('listing migrations of server %s' % server_id):
            raw = [_to_dict(m) for m in
                   self._nova().migrations.list(instance_uuid=server_id)]
        raw = [m for m in raw
               if m.get('instance_uuid') in (None, server_id)]
        if kind is not None:
            types = _MIGRATION_TYPES[kind]
            raw = [m for m in raw if m.get('migration_type') in
                   types + (None,)]
        return raw

    def _remember_move(self, server_id, kind):
        """What tells this move's migration records from older ones:
        the time just before it was asked for, by Nova's clock (records
        created from then on are the move's; nothing to read), or, while
        Nova's clock is not known yet, the ids of the records there
        already (one read of them)."""
        now = self._nova_now()
        if now is not None:
            marker = {'kind': kind, 'known': None, 'request_id': None,
                      'since': now - datetime.timedelta(
                          seconds=MIGRATION_SINCE_MARGIN)}
        else:
            marker = {'kind': kind, 'request_id': None, 'since': None,
                      'known': {_migration_id(m)
                                for m in self._migrations(server_id)}}
        with self._lock:
            self._moves[server_id] = marker

    def _started(self, server_id, response):
        request_ids = getattr(response, 'request_ids', None)
        if not isinstance(request_ids, (list, tuple)):
            request_ids = []
        with self._lock:
            if server_id in self._moves and request_ids:
                self._moves[server_id]['request_id'] = request_ids[0]
        return {'server_id': server_id,
                'request_id': request_ids[0] if request_ids else None}

    def migrate(self, server_id, host=None):
        """Ask Nova to cold-migrate a server.

        To ``host``, or where the scheduler chooses. Does not wait; see
        :meth:`wait_for_move`.

        :returns: ``{server_id, request_id}``.
        """
        if host and not self._supports('2.56'):
            raise exception.CloudError(
                reason='cold migration of server %s to host %s needs '
                       'compute API 2.56, the server offers %s'
                       % (server_id, host, self.nova_version.get_string()))
        self._remember_move(server_id, COLD)
        LOG.info('Cold-migrating server %s%s', server_id,
                 ' to %s' % host if host else '')
        # The session's stale owner does not act (see fencing).
        fencing.before_action('cold migration of %s' % server_id)
        with self._errors('cold migration of server %s' % server_id):
            servers = self._nova().servers
            if self._supports('2.56'):
                resp = servers.migrate(server_id, host=host)
            else:
                resp = servers.migrate(server_id)
        return self._started(server_id, resp)

    def live_migrate(self, server_id, host=None):
        """Ask Nova to live-migrate a server.

        To ``host``, or where the scheduler chooses;
        ``block_migration='auto'`` at >= 2.25. Does not wait; see
        :meth:`wait_for_move`.

        :returns: ``{server_id, request_id}``.
        """
        self._remember_move(server_id, LIVE)
        LOG.info('Live-migrating server %s%s', server_id,
                 ' to %s' % host if host else '')
        # The session's stale owner does not act (see fencing).
        fencing.before_action('live migration of %s' % server_id)
        with self._errors('live migration of server %s' % server_id):
            servers = self._nova().servers
            if self._supports('2.25'):
                resp = servers.live_migrate(server_id, host, 'auto')
            else:
                resp = servers.live_migrate(server_id, host, False, False)
        return self._started(server_id, resp)

    def confirm_resize(self, server_id):
        """Confirm a cold migration waiting in VERIFY_RESIZE."""
        LOG.info('Confirming the migration of server %s', server_id)
        # The session's stale owner does not act (see fencing).
        fencing.before_action('confirming the migration of %s' % server_id)
        with self._errors('confirming the migration of server %s'
                          % server_id):
            self._nova().servers.confirm_resize(server_id)

    _MOVE_ACTIONS = ('migrate', 'live-migration', 'confirmResize')

    @staticmethod
    def _action_errors(action):
        """Texts of the failed events of one instance action."""
        texts = []
        for event in action.get('events') or []:
            if (event.get('result') or '').lower() != 'error':
                continue
            text = event.get('details')  # microversion >= 2.84
            if not text and event.get('traceback'):
                lines = event['traceback'].strip().splitlines()
                text = lines[-1] if lines else None
            texts.append((text or '%s failed' % event.get('event')).strip())
        return texts

    def _nova_reason(self, server_id, raw, request_id=None):
        """Nova's own words on why the last move failed (best effort).

        The server's fault (when it is in ERROR), then the failed events of
        the move's instance action: the one of ``request_id`` (the request
        that started the move) if Nova knows it, else the latest move.
        """
        reasons = []
        fault = (raw or {}).get('fault') or {}
        if fault.get('message'):
            reasons.append(fault['message'].strip())
        nova = self._nova()
        texts = []
        try:
            if request_id:
                try:
                    texts = self._action_errors(_to_dict(
                        nova.instance_action.get(server_id, request_id)))
                except nova_exc.NotFound:
                    texts = []
            if not texts:
                actions = [_to_dict(a) for a in
                           nova.instance_action.list(server_id)]
                moves = [a for a in actions
                         if a.get('action') in self._MOVE_ACTIONS]
                moves.sort(key=lambda a: str(a.get('start_time') or ''))
                if moves:
                    texts = self._action_errors(_to_dict(
                        nova.instance_action.get(
                            server_id, moves[-1]['request_id'])))
        except (nova_exc.ClientException, ks_exc.ClientException,
                KeyError) as e:
            LOG.debug('No instance action details for %s: %s',
                      server_id, e)
        for text in texts:
            if text and text not in reasons:
                reasons.append(text)
        return '; '.join(reasons)

    def wait_for_move(self, server_id, source_host, kind, timeout=None):
        """Wait until a move of a server away from ``source_host`` ends.

        Judged from Nova's state only.

        ``kind``: ``MIGRATE`` (cold) or ``LIVE_MIGRATE``. Reads the server
        (``status``, ``OS-EXT-STS:vm_state``/``task_state``,
        ``OS-EXT-SRV-ATTR:host``) and its migration records
        (``os-migrations?instance_uuid=``) every ``[workflow]
        nova_poll_interval`` seconds (more seldom as the move gets old:
        :meth:`_poll_interval`), for at most ``timeout`` (default
        ``[workflow] migration_timeout``) seconds:

        * cold: when it waits in ``VERIFY_RESIZE`` it is confirmed, then it
          must settle (ACTIVE or SHUTOFF, no task) on another host;
        * live: it must settle (ACTIVE or PAUSED, no task) on another host;
        * a migration record in ``error``/``failed``/``cancelled``, a server
          in ERROR, or a server settled back on the source after the move
          started is a failure, reported with Nova's reason (the fault,
          or the failed instance-action event).

        The records are read only while they can decide: not while Nova
        works on the server, not in VERIFY_RESIZE, and not once it rests
        on another host (done).

        Only migration records that appeared after :meth:`migrate` or
        :meth:`live_migrate` was called count; called without them, records
        that had already ended at the first read are ignored.

        :returns: ``{'ok': bool, 'host': <new host or None>,
            'message': str}``.
        """
        kind = normalize_kind(kind)
        timeout = self._wf.migration_timeout if timeout is None else timeout
        interval = self._wf.nova_poll_interval
        what = '%s migration of server %s from %s' % (
            'Cold' if kind == COLD else 'Live', server_id, source_host)
        with self._lock:
            marker = self._moves.pop(server_id, None)
        if marker is not None and marker['kind'] != kind:
            marker = None
        known = marker['known'] if marker else None
        since = marker.get('since') if marker else None
        request_id = marker['request_id'] if marker else None
        started = time.monotonic()
        deadline = started + timeout
        confirmed = seen_busy = False
        raw, new = None, []
        # Migration records are read once a move is known (``known``) only
        # when the server has settled: while Nova works on it (a task
        # state, not in ERROR) only the server decides (judge_move).
        migrations = None if known is None and since is None else []
        read_errors = 0
        watch = self._watch
        watch.add(server_id)
        # Views of the server from listings started after ``listed``
        # count (an earlier listing may show it as it was before the
        # move); ``seen_at``: when a view or a read last came.
        listed = watch.started
        seen_at = None
        try:
            while True:
                now = time.monotonic()
                fresh = False
                try:
                    view = watch.latest(server_id, listed)
                    if view is not None:
                        raw, listed = view
                        fresh = True
                    elif not watch.ready() or now - (seen_at or started) >= \
                            max(WATCH_FALLBACK,
                                self._poll_interval(started, interval)):
                        listed = watch.started
                        with self._errors('%s: reading server' % what):
                            raw = self._raw_server(server_id)
                        watch.seen(raw)
                        fresh = True
                    if fresh:
                        seen_at = now
                        if migrations is None or not (
                                _working(raw) or _verifying(raw, kind) or
                                _settled_elsewhere(raw, kind, source_host)):
                            migrations = self._migrations(server_id, kind)
                except exception.CloudError as e:
                    # Nova may blink (a restarted API, a proxy): keep
                    # waiting, but not forever on an error that will not
                    # go away.
                    read_errors += 1
                    LOG.warning('%s: %s', what, e)
                    if read_errors >= MAX_READ_ERRORS:
                        message = '%s: cannot read its state: %s' % (what, e)
                        return {'ok': False, 'host': None, 'message': message}
                    if (time.monotonic() >= deadline
                            or self._pause(interval)):
                        return {'ok': False, 'host': None,
                                'message': '%s: %s' % (what, e)}
                    continue
                if fresh:
                    read_errors = 0
                if seen_at is not None:
                    if since is not None:
                        new = [m for m in migrations or ()
                               if _created_since(m, since)]
                    else:
                        if known is None:
                            known = {_migration_id(m)
                                     for m in migrations or ()
                                     if (m.get('status') or '').lower()
                                     in MIGRATION_TERMINAL}
                        new = [m for m in migrations or ()
                               if _migration_id(m) not in known]
                    verdict, detail = judge_move(kind, source_host, raw, new,
                                                 confirmed, seen_busy)
                    if raw is not None and (raw.get('OS-EXT-STS:task_state')
                                            or new):
                        seen_busy = True
                    if verdict == 'done':
                        LOG.info('%s done: %s', what, detail)
                        return {'ok': True,
                                'host': raw.get('OS-EXT-SRV-ATTR:host'),
                                'message': '%s done: %s' % (what, detail)}
                    if verdict == 'failed':
                        reason = ''
                        if raw is not None:
                            reason = self._nova_reason(server_id, raw,
                                                       request_id)
                        message = '%s failed: %s%s' % (
                            what, detail, ': %s' % reason if reason else '')
                        LOG.warning(message)
                        return {'ok': False, 'host': None, 'message': message}
                    if verdict == 'confirm':
                        try:
                            self.confirm_resize(server_id)
                        except exception.CloudError as e:
                            message = '%s failed: %s' % (what, e)
                            LOG.warning(message)
                            return {'ok': False, 'host': None,
                                    'message': message}
                        confirmed = True
                        continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                step = min(self._poll_interval(started, interval), remaining)
                if watch.ready():
                    # Woken by the next listing that shows the server.
                    watch.wait(server_id, listed, step)
                    stopping = self._stop.is_set()
                else:
                    stopping = self._pause(step)
                if stopping:
                    message = ('%s: Fenix is stopping, no longer waiting'
                               % what)
                    LOG.warning(message)
                    return {'ok': False, 'host': None, 'message': message}
        finally:
            watch.remove(server_id)
        state = 'gone'
        if raw is not None:
            state = 'status %s, task_state %s, host %s' % (
                raw.get('status'), raw.get('OS-EXT-STS:task_state'),
                raw.get('OS-EXT-SRV-ATTR:host'))
        if new:
            last = sorted(new, key=_sort_key)[-1]
            state += ", migration %s '%s'" % (_migration_id(last),
                                              last.get('status'))
        message = '%s timed out after %s s (%s)' % (what, timeout, state)
        LOG.warning(message)
        return {'ok': False, 'host': None, 'message': message}

    def move(self, server_id, kind, host=None, source=None, apart_from=()):
        """Move a server and wait for the outcome, retrying failures.

        Starts a cold (``MIGRATE``) or live (``LIVE_MIGRATE``) migration
        and waits with :meth:`wait_for_move`; a failed attempt (refused
        request, failed migration, time-out) is retried up to
        ``[workflow] migration_retries`` times. A server in ERROR is not
        retried. ``source``: the host the caller knows the server is on
        (its own model, just read from Nova): the first attempt does not
        read the server before its request (a retry does).

        A move the named ``host`` refused (:func:`target_refused`: its
        compute is disabled, down or gone, or it has no room) is not
        retried: the result has ``target_refused`` True and the caller
        places the server elsewhere. Only other failures (a 5xx, a
        time-out, a failed migration) are retried on the same target.

        ``apart_from``: servers that must not share ``host`` with this one
        (its peers in an anti-affinity group of Fenix's constraints, which
        Nova does not know; a Nova server group's policy Nova checks
        itself). Each is read before the request: one found on ``host``
        (moved there by another session, say, since the caller's model
        was read) refuses the target as Nova would: nothing is asked of
        Nova and the result has ``target_refused`` and ``peer_on_target``
        (the peer's id).

        :returns: ``{'ok', 'host', 'message', 'attempts'}`` (and
            ``target_refused``); on failure the message is the last
            attempt's reason (earlier ones are logged as warnings when
            retried).
        """
        kind = normalize_kind(kind)
        peer = self._peer_on(host, apart_from)
        if peer is not None:
            return {'ok': False, 'host': None, 'attempts': 0,
                    'target_refused': True, 'peer_on_target': peer,
                    'message': 'instance %s of its anti-affinity group is '
                               'on %s now' % (peer, host)}
        retries = self._wf.migration_retries
        failures = []
        attempts = 0
        while True:
            attempts += 1
            result = self._move_once(server_id, kind, host,
                                     source if attempts == 1 else None)
            if result['ok']:
                if failures:
                    result['message'] += ' (after %d failed attempt%s)' % (
                        len(failures), '' if len(failures) == 1 else 's')
                result['attempts'] = attempts
                return result
            failures.append(result['message'])
            if target_refused(result['message'], host):
                # The target is disabled, down, gone or full: the same
                # request would be refused again. The caller chooses
                # another target (never Nova: that room may be reserved).
                LOG.warning('Move of server %s: target %s refused it, not '
                            'tried there again: %s', server_id, host,
                            result['message'])
                return {'ok': False, 'host': None,
                        'message': result['message'], 'attempts': attempts,
                        'target_refused': True}
            raw = None
            with contextlib.suppress(exception.CloudError):
                with self._errors('reading server %s' % server_id):
                    raw = self._raw_server(server_id)
            in_error = raw is not None and (
                (raw.get('OS-EXT-STS:vm_state') or '').lower() == 'error')
            if in_error and 'went to ERROR' not in failures[-1]:
                # E.g. the migration record ended first: say what the
                # operator must deal with before anything moves it again.
                fault = ((raw.get('fault') or {}).get('message') or
                         '').strip()
                failures[-1] += '; the server is now in ERROR%s' % (
                    ' (%s)' % fault if fault else '')
            stuck = raw is None or in_error
            if attempts > retries or stuck or self._stop.is_set():
                break
            LOG.warning('Retrying the move of server %s (attempt %d of %d)'
                        ' after: %s', server_id, attempts + 1, retries + 1,
                        result['message'])
            if self._pause(self._wf.nova_poll_interval):
                break
            if _in_transition(raw) and not self._settled(server_id):
                break
        # Earlier attempts' reasons were logged when they were retried.
        message = failures[-1]
        if len(failures) > 1:
            message = 'gave up after %d attempts; last: %s' % (
                len(failures), message)
        return {'ok': False, 'host': None, 'message': message,
                'attempts': attempts}

    def _peer_on(self, host, servers):
        """The first of ``servers`` that Nova has on ``host`` (None: none,
        or no ``host``). A server that cannot be read does not count."""
        if not host:
            return None
        for server_id in servers:
            raw = None
            with contextlib.suppress(exception.CloudError):
                with self._errors('reading server %s' % server_id):
                    raw = self._raw_server(server_id)
            if raw is not None and \
                    raw.get('OS-EXT-SRV-ATTR:host') == host:
                return server_id
        return None

    def _settled(self, server_id):
        """Wait (at most ``migration_timeout``) until a server that is in
        the middle of a task of Nova's (a move someone else started, a
        resize awaiting its confirmation) is out of it: a retry while it
        is in one is refused at once (409), and the attempts would be
        spent in a fraction of a second. False if it did not settle, or
        Fenix is stopping."""
        deadline = time.monotonic() + self._wf.migration_timeout
        while time.monotonic() < deadline:
            raw = None
            with contextlib.suppress(exception.CloudError):
                with self._errors('reading server %s' % server_id):
                    raw = self._raw_server(server_id)
            if raw is not None and not _in_transition(raw):
                return True
            if self._pause(self._wf.nova_poll_interval):
                return False
        LOG.warning('Server %s is still in a task of Nova after %s s',
                    server_id, self._wf.migration_timeout)
        return False

    def _move_once(self, server_id, kind, host, source=None):
        try:
            if source is None:
                with self._errors('reading server %s' % server_id):
                    raw = self._raw_server(server_id)
                if raw is None:
                    return {'ok': False, 'host': None,
                            'message': 'server %s does not exist'
                            % server_id}
                source = raw.get('OS-EXT-SRV-ATTR:host')
            if kind == COLD:
                self.migrate(server_id, host=host)
            else:
                self.live_migrate(server_id, host=host)
        except exception.CloudError as e:
            return {'ok': False, 'host': None, 'message': str(e)}
        return self.wait_for_move(server_id, source, kind)

    def wait_host_empty(self, host, timeout=None):
        """Wait until Nova lists no server on ``host``.

        Polls the servers API (``host`` filter, all projects) every
        ``[workflow] nova_poll_interval`` seconds for at most ``timeout``
        (default ``[workflow] own_action_timeout``) seconds.

        :returns: True when empty, False on time-out or when stopping.
        """
        timeout = self._wf.own_action_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            left = self.servers(host=host)
            if not left:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                LOG.warning('Host %s still holds %d server(s) after %s s: '
                            '%s', host, len(left), timeout,
                            ', '.join(s['id'] for s in left))
                return False
            if self._pause(min(self._wf.nova_poll_interval, remaining)):
                return False

    # --- AODH --------------------------------------------------------------

    def projects_with_manager(self, event_types=None):
        """Projects whose manager (VNFM) listens to the project event.

        A project has a manager when it owns an **enabled event alarm**
        whose ``event_rule.event_type`` matches one of ``event_types``
        (default ``[workflow] project_event_types``); the alarm's type is a
        pattern as AODH reads it (``fnmatch``: ``maintenance.*`` and ``*``
        count). Alarms of every project are listed as admin with AODH's
        ``all_projects`` *filter* (``q.field=all_projects``; the complex
        query API refuses it).

        If the catalog has no ``alarming`` (AODH) endpoint, a warning is
        logged and the empty set is returned: no project is treated as
        having a manager, so every project gets the default behaviour.

        :returns: set of project ids.
        """
        types = list(self._wf.project_event_types
                     if event_types is None else event_types)
        with self._errors('looking up AODH in the catalog'):
            has_aodh = clients.has_service(self.session,
                                           clients.ALARMING_SERVICE_TYPE,
                                           self.conf)
        if not has_aodh:
            LOG.warning('No %s (AODH) endpoint in the catalog: no project '
                        'is considered to have a manager',
                        clients.ALARMING_SERVICE_TYPE)
            return set()
        with self._errors('listing AODH alarms of all projects'):
            aodh = clients.aodh_client(self.session, self.conf)
            alarms, seen, marker = [], set(), None
            while True:
                page = aodh.alarm.list(
                    filters={'all_projects': 'true', 'type': 'event'},
                    limit=ALARM_PAGE_SIZE, marker=marker) or []
                new = [a for a in page if a.get('alarm_id') not in seen]
                alarms.extend(new)
                seen.update(a.get('alarm_id') for a in new)
                if len(page) < ALARM_PAGE_SIZE or not new:
                    break
                marker = new[-1]['alarm_id']
        projects = set()
        for alarm in alarms:
            if alarm.get('type', 'event') != 'event':
                continue
            if not alarm.get('enabled', True):
                continue
            pattern = (alarm.get('event_rule') or {}).get('event_type')
            pattern = pattern or '*'
            if any(fnmatch.fnmatchcase(t, pattern) for t in types):
                if alarm.get('project_id'):
                    projects.add(alarm['project_id'])
        return projects
