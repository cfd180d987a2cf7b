# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The ``dummy`` action plug-in: succeeds, or fails when asked to.

Metadata: ``fail_on`` (list of host names it fails on), ``async`` (bool:
return ASYNC and let a test report the result through the API).
It does nothing on the host, so starting it again is harmless
(``idempotent``); with ``async`` it hands its run over
(:attr:`~fenix.workflow.actions.base.ActionPlugin.hands_over`) to whoever
reports it, and a second hand-over of the same attempt changes nothing.
"""
from oslo_log import log as logging

from fenix.workflow.actions import base

LOG = logging.getLogger(__name__)


class DummyAction(base.ActionPlugin):

    idempotent = True

    @property
    def hands_over(self):
        return bool(self.metadata.get('async'))

    def run(self):
        hostname = (self.host or {}).get('hostname', '')
        if self.metadata.get('async'):
            return base.ASYNC
        if hostname and hostname in (self.metadata.get('fail_on') or []):
            return base.Result(False, 'dummy failure on %s' % hostname)
        LOG.info('dummy action %s on %s', self.plugin.get('type'),
                 hostname or 'session')
        return base.Result(True, 'done')
