# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The demo's session driven as an operator drives it: ``openstack
maintenance session create`` and ``openstack maintenance session watch``
with a clouds.yaml of the simulated cloud's admin.

The commands are the ``openstack`` program of python-openstackclient with
Fenix's plug-in (``fenix.client.osc``); they find Fenix in the simulated
Keystone's catalog, as they would in a real cloud.
"""
import importlib.metadata
import json
import os
import subprocess
import sys
import threading

import yaml

CLOUD = 'fenix-demo'
OPENSTACK = 'openstack'
# Seconds a create (one request and its retries) may take.
CREATE_TIMEOUT = 120


class OpenStackError(Exception):
    pass


def openstack_command():
    """The ``openstack`` program of this Python's environment when it has
    Fenix's plug-in; None otherwise (the demo then uses the library)."""
    here = os.path.join(os.path.dirname(sys.executable), OPENSTACK)
    if not os.access(here, os.X_OK):
        return None
    plugins = importlib.metadata.entry_points(
        group='openstack.cli.extension')
    if not any(ep.name == 'maintenance' for ep in plugins):
        return None
    return here


def write_clouds_yaml(path, credentials, cloud=CLOUD):
    """A clouds.yaml with one cloud: ``credentials`` (auth_url, username,
    password, project_name) in the Default domain."""
    auth = dict(credentials, user_domain_name='Default',
                project_domain_name='Default')
    with open(path, 'w') as f:
        yaml.safe_dump({'clouds': {cloud: {
            'auth': auth, 'identity_api_version': 3,
            'interface': 'public'}}}, f, default_flow_style=False)
    return path


def create_arguments(body):
    """``openstack maintenance session create`` options for a POST body
    (as :func:`fenix_tools.admin.cmd.create_body` makes it)."""
    argv = ['--workflow', body['workflow']]
    for host in body.get('hosts') or ():
        argv += ['--hosts', host]
    if body.get('maintenance_at'):
        argv += ['--maintenance-at', body['maintenance_at']]
    for key, value in sorted((body.get('metadata') or {}).items()):
        argv += ['--metadata', '%s=%s' % (key, value)]
    for action in body.get('actions') or ():
        text = '%s:%s' % (action['plugin'], action['type'])
        if action.get('metadata'):
            text += ':' + json.dumps(action['metadata'])
        argv += ['--action', text]
    return argv


class OpenStackCLI(object):
    """Runs ``openstack --os-cloud CLOUD maintenance ...``."""

    def __init__(self, command, clouds_yaml, cloud=CLOUD):
        self.command = command
        self.cloud = cloud
        # Only the clouds.yaml speaks: no OS_* of the caller's shell.
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith('OS_')}
        self.env['OS_CLIENT_CONFIG_FILE'] = clouds_yaml

    def argv(self, *args):
        return [self.command, '--os-cloud', self.cloud, 'maintenance'] + \
            list(args)

    def shown(self, *args):
        """How to type the command (for the demo's output)."""
        return 'openstack --os-cloud %s maintenance %s' % (
            self.cloud, ' '.join(args))

    def create_session(self, body):
        """The new session's id."""
        argv = self.argv('session', 'create', '-f', 'json',
                         *create_arguments(body))
        proc = subprocess.run(argv, capture_output=True, text=True,
                              env=self.env, timeout=CREATE_TIMEOUT,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise OpenStackError('session create: exit %d: %s' % (
                proc.returncode, (proc.stderr or proc.stdout).strip()))
        try:
            return json.loads(proc.stdout)['session_id']
        except (ValueError, KeyError) as e:
            raise OpenStackError('session create printed no session id '
                                 '(%s): %r' % (e, proc.stdout[:500]))

    def watch(self, session_id, out, interval=1.0, timeout=None,
              stop_event=None):
        """``session watch``, its lines copied to ``out`` (None: dropped);
        its exit status (0: MAINTENANCE_DONE). ``stop_event`` ends it."""
        args = ['session', 'watch', session_id, '--interval', str(interval)]
        if timeout:
            args += ['--timeout', str(timeout)]
        proc = subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                env=self.env, stdin=subprocess.DEVNULL)
        stop_event = stop_event or threading.Event()

        def stopper():
            while proc.poll() is None:
                if stop_event.wait(0.2):
                    proc.terminate()
                    return
        threading.Thread(target=stopper, daemon=True).start()
        for line in proc.stdout:
            if out is not None:
                out.write(line)
                out.flush()
        return proc.wait()
