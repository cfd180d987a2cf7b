# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Finding workflow and action plug-ins (stevedore entry points).

Workflow plug-ins: namespace ``fenix.workflow.plugins``; a class derived
from :class:`fenix.workflow.base.BaseWorkflow`.
Action plug-ins: namespace ``fenix.action.plugins``; a class derived from
:class:`fenix.workflow.actions.base.ActionPlugin`.
"""
import functools

import stevedore

from fenix.common import exception

WORKFLOW_NAMESPACE = 'fenix.workflow.plugins'
ACTION_NAMESPACE = 'fenix.action.plugins'


@functools.lru_cache(maxsize=None)
def _names(namespace):
    return frozenset(stevedore.ExtensionManager(namespace).names())


def workflow_names():
    return sorted(_names(WORKFLOW_NAMESPACE))


def action_names():
    return sorted(_names(ACTION_NAMESPACE))


def _load(namespace, name, kind):
    if name not in _names(namespace):
        raise exception.UnknownPlugin(kind=kind, name=name)
    return stevedore.DriverManager(namespace, name,
                                   invoke_on_load=False).driver


def check_workflow(name):
    """Raise UnknownPlugin (400) unless a workflow plug-in has this name."""
    if name not in _names(WORKFLOW_NAMESPACE):
        raise exception.UnknownPlugin(kind='workflow', name=name)


def check_action(name):
    if name not in _names(ACTION_NAMESPACE):
        raise exception.UnknownPlugin(kind='action', name=name)


def workflow_class(name):
    return _load(WORKFLOW_NAMESPACE, name, 'workflow')


def action_class(name):
    return _load(ACTION_NAMESPACE, name, 'action')
