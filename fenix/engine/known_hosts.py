# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The hosts Nova knows, for the check of a create's ``hosts``.

A host of a session must run nova-compute or a controller service
(nova-conductor, nova-scheduler), as the session's discovery requires
(:meth:`fenix.workflow.session_flow.SessionFlow._discover`). The engine
keeps Nova's list of services for ``[engine] known_hosts_cache_time``
seconds so that a create costs no Nova call while it is fresh; a name not
in the list is looked up once more before the create is refused (a host
added a moment ago). When Nova does not answer within ``[engine]
known_hosts_timeout`` seconds, or cannot be reached, nothing is refused:
the session checks its hosts itself when it starts, as before.
"""
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging

from fenix.common import cloud as cloud_mod

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

# The services that make a host one of Nova's (SessionFlow._discover).
BINARIES = frozenset([cloud_mod.COMPUTE_BINARY]) | frozenset(
    cloud_mod.CONTROLLER_BINARIES)


class KnownHosts(object):
    """Nova's hosts, kept for a while.

    :param cloud_factory: makes the :class:`fenix.common.cloud.Cloud` to
        ask (tests give a fake).
    """

    def __init__(self, cloud_factory=None, clock=time.monotonic):
        self._factory = cloud_factory or cloud_mod.Cloud
        self._cloud = None
        self._clock = clock
        self._lock = threading.Lock()
        self._hosts = None
        self._read_at = None

    def _list(self):
        if self._cloud is None:
            self._cloud = self._factory()
        return {s['host'] for s in self._cloud.compute_services(binary=None)
                if s['host'] and s['binary'] in BINARIES}

    def _read(self):
        """Nova's hosts now, or None when Nova did not answer in time."""
        timeout = CONF.engine.known_hosts_timeout
        outcome = {}

        def run():
            try:
                outcome['hosts'] = self._list()
            except Exception as e:  # noqa - any failure: cannot tell
                outcome['error'] = e

        thread = threading.Thread(target=run, name='fenix-known-hosts',
                                  daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            LOG.warning('Nova did not list its hosts within %d s: the hosts '
                        'of a new session are checked when it starts',
                        timeout)
            return None
        if 'error' in outcome:
            LOG.warning('Cannot list the hosts Nova knows (%s): the hosts of '
                        'a new session are checked when it starts',
                        outcome['error'])
            return None
        return outcome['hosts']

    def unknown(self, names):
        """The names of ``names`` Nova does not know (in their order,
        each once); [] when Nova cannot tell."""
        names = list(dict.fromkeys(names))
        if not names:
            return []
        with self._lock:
            fresh = (self._hosts is not None and self._clock() -
                     self._read_at < CONF.engine.known_hosts_cache_time)
            if not fresh or any(n not in self._hosts for n in names):
                hosts = self._read()
                if hosts is None:
                    return []
                self._hosts, self._read_at = hosts, self._clock()
            return [n for n in names if n not in self._hosts]
