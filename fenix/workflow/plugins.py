# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Finding workflow and action plug-ins.

Installed plug-ins are stevedore entry points:

* workflow plug-ins: namespace ``fenix.workflow.plugins``; a class derived
  from :class:`fenix.workflow.base.BaseWorkflow`;
* action plug-ins: namespace ``fenix.action.plugins``; a class derived from
  :class:`fenix.workflow.actions.base.ActionPlugin`.

A session may also bring its own plug-ins in its downloads (SPEC 3.6): a
file ``<name>.py`` in the session's download directory defining one such
class. They are loaded only when the operator set
``[download] allow_plugin_code``, and only when that file came from an
https URL with a sha256 (the download manifest says so); an installed
plug-in of the same name always wins.
"""
import functools
import importlib.util
import inspect
import os

from oslo_config import cfg
import stevedore

from fenix.common import exception
from fenix.workflow import download

CONF = cfg.CONF

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


def _may_come_with(downloads):
    return bool(downloads) and CONF.download.allow_plugin_code


def check_workflow(name, downloads=None):
    """Raise UnknownPlugin (400) unless a workflow plug-in has this name
    (or may come with the session's downloads)."""
    if name not in _names(WORKFLOW_NAMESPACE) and \
            not _may_come_with(downloads):
        raise exception.UnknownPlugin(kind='workflow', name=name)


def check_action(name, downloads=None):
    if name not in _names(ACTION_NAMESPACE) and \
            not _may_come_with(downloads):
        raise exception.UnknownPlugin(kind='action', name=name)


def is_installed_workflow(name):
    return name in _names(WORKFLOW_NAMESPACE)


def _from_download(directory, name, kind, base_class):
    """The one ``base_class`` subclass defined in ``directory/name.py``."""
    if not (directory and CONF.download.allow_plugin_code):
        raise exception.UnknownPlugin(kind=kind, name=name)
    if not name.replace('_', '').isalnum():
        raise exception.UnknownPlugin(kind=kind, name=name)
    path = os.path.join(directory, name + '.py')
    if not os.path.isfile(path):
        raise exception.UnknownPlugin(kind=kind, name=name)
    if not download.is_trusted_code(directory, name + '.py'):
        raise exception.WorkflowError(
            reason='%s plug-in %s.py was not downloaded from an https URL '
                   'with a sha256: it is not loaded' % (kind, name))
    spec = importlib.util.spec_from_file_location(
        'fenix_download_%s_%s' % (kind, name), path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise exception.WorkflowError(
            reason='%s plug-in %s from the downloads does not load: %s'
            % (kind, name, e))
    found = [obj for obj in vars(module).values()
             if inspect.isclass(obj) and issubclass(obj, base_class)
             and obj is not base_class and obj.__module__ == module.__name__]
    if len(found) != 1:
        raise exception.WorkflowError(
            reason='%s must define exactly one %s subclass, not %d'
            % (path, base_class.__name__, len(found)))
    return found[0]


def workflow_class(name, download_dir=None, base_class=None):
    """The workflow plug-in ``name``: an entry point, else (with
    ``[download] allow_plugin_code``) the one ``base_class`` subclass of a
    downloaded ``<name>.py``. The caller gives ``base_class``
    (:class:`fenix.workflow.base.BaseWorkflow`), which itself loads action
    plug-ins from here."""
    if name in _names(WORKFLOW_NAMESPACE):
        return _load(WORKFLOW_NAMESPACE, name, 'workflow')
    if base_class is None:
        raise exception.WorkflowError(
            reason='workflow %s is not installed' % name)
    return _from_download(download_dir, name, 'workflow', base_class)


def action_class(name, download_dir=None):
    if name in _names(ACTION_NAMESPACE):
        return _load(ACTION_NAMESPACE, name, 'action')
    from fenix.workflow.actions import base
    return _from_download(download_dir, name, 'action', base.ActionPlugin)
