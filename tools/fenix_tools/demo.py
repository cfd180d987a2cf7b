# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix-demo: the Doctor maintenance scenario (seed 004), end to end.

One command, nothing to set up: a simulated cloud (Keystone, Nova, AODH on
one loopback port; three computes of two slots and a controller), Fenix's
all-in-one as a child process, the sample VNFM filling the computes with an
active/standby pair and four non-redundant servers, then a maintenance
session of every compute created and followed through the admin tool's
code. It prints a summary and exits 0 only when the session reached
MAINTENANCE_DONE, every compute was maintained and the application saw no
invariant violation. Everything it started is stopped, and its temporary
directory removed, whatever happens (also on Ctrl-C and SIGTERM).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time

import requests

from fenix.client import progress as client_progress

from fenix_tools.admin import cmd as admin_cmd
from fenix_tools.admin import progress
from fenix_tools import common
from fenix_tools import demo_cloud
from fenix_tools import demo_openstack
from fenix_tools.vnfm import app as app_mod
from fenix_tools.vnfm import manager as vnfm_mod

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_SETUP = 2
EXIT_INTERRUPTED = 130

FENIX_COMMAND = 'fenix-all-in-one'

# fenix-demo --upgrade: the version computes are upgraded to and the
# playbook that does it (etc/fenix/playbooks).
DEFAULT_UPGRADE = '2026.2'
UPGRADE_PLAYBOOK = 'simcloud-upgrade.yml'
CLIENT_AUTO, CLIENT_OPENSTACK, CLIENT_LIBRARY = 'auto', 'openstack', 'library'
CLIENTS = (CLIENT_AUTO, CLIENT_OPENSTACK, CLIENT_LIBRARY)


class DemoError(Exception):
    """Setting the demo up failed."""


def build_parser():
    p = argparse.ArgumentParser(
        prog='fenix-demo',
        description='Run the seed-004 maintenance scenario against a '
                    'simulated cloud and report what happened.')
    p.add_argument('--workflow', default='default',
                   help='Workflow plug-in of the session (default '
                        '"default").')
    p.add_argument('--timeout', type=float, default=300,
                   help='Seconds the session may take (default 300).')
    p.add_argument('--start-in', type=float, default=5,
                   help='maintenance_at this many seconds after the '
                        'session is created (default 5).')
    p.add_argument('--reply-window', type=int, default=20,
                   help='Seconds projects have to answer each event '
                        '(Fenix [workflow] reply windows; default 20).')
    p.add_argument('--event-type', default=vnfm_mod.DEFAULT_EVENT_TYPE,
                   choices=vnfm_mod.EVENT_TYPES,
                   help='Event type the VNFM subscribes to.')
    p.add_argument('--vnfm-silent', action='append', default=[],
                   metavar='STATE',
                   help='The sample VNFM never answers this event state '
                        '("*" = all; repeatable): see what Fenix does with '
                        'a silent manager.')
    p.add_argument('--vnfm-nack', action='append', default=[],
                   metavar='STATE',
                   help='The sample VNFM NACKs this event state '
                        '(repeatable).')
    p.add_argument('--fenix-command', default=None,
                   help='Command that runs the all-in-one (default: '
                        '%s beside this Python, else the fenix.cmd module)'
                        % FENIX_COMMAND)
    p.add_argument('--upgrade', nargs='?', const=DEFAULT_UPGRADE,
                   default=None, metavar='VERSION',
                   help='Upgrade every compute to VERSION (default %s) '
                        'with the ansible action plug-in and the shipped '
                        'playbook %s, which has the simulated cloud '
                        'advertise the new version; the demo then checks '
                        'that each compute was upgraded once, while '
                        'empty.' % (DEFAULT_UPGRADE, UPGRADE_PLAYBOOK))
    p.add_argument('--client', choices=CLIENTS, default=CLIENT_AUTO,
                   help='How the session is created and watched: '
                        '"openstack" (the openstack maintenance commands '
                        'with a clouds.yaml the demo writes for the '
                        'simulated cloud\'s admin), "library" (the client '
                        'library in this process), or "auto" (default: '
                        'openstack when python-openstackclient is '
                        'installed beside this Python).')
    p.add_argument('--keep', action='store_true',
                   help='Keep the temporary directory (config, logs, '
                        'database) for debugging.')
    p.add_argument('--verbose', '-v', action='store_true',
                   help='Debug logging in Fenix; on failure print longer '
                        'log tails and the cloud\'s last events.')
    p.add_argument('--json', action='store_true',
                   help='Print the summary as one JSON object on the last '
                        'line.')
    return p


def fenix_command(explicit=None):
    """argv prefix that runs Fenix's all-in-one."""
    if explicit:
        return explicit.split()
    here = os.path.join(os.path.dirname(sys.executable), FENIX_COMMAND)
    if os.access(here, os.X_OK):
        return [here]
    found = shutil.which(FENIX_COMMAND)
    if found:
        return [found]
    # Not installed (a plain checkout): run the entry point's function.
    return [sys.executable, '-c',
            'import sys; from fenix.cmd.all_in_one import main; '
            'sys.exit(main())']


def _source_root():
    """The checkout holding fenix/ (for PYTHONPATH when not installed)."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.abspath(os.path.join(here, '..', '..'))
    if os.path.isdir(os.path.join(root, 'fenix')):
        return root
    return None


def _entry_points_installed():
    """Whether Fenix's plug-in entry points are installed."""
    from importlib import metadata
    eps = metadata.entry_points(group='oslo.messaging.notify.drivers')
    return any(ep.name == 'fenix-http' for ep in eps)


def entry_point_shim(root, directory):
    """Make Fenix's entry points findable without installing it.

    Run from a plain checkout, Fenix's notification driver and workflow
    and action plug-ins (all stevedore entry points) would not be found.
    This writes a minimal ``fenix-*.dist-info`` with the entry points of
    the service's ``setup.cfg`` (the top of the checkout: the distribution
    ``fenix``; the tools' own, ``tools/setup.cfg``, has only console
    scripts, which the child does not need) into ``directory`` (to be put
    on the child's PYTHONPATH). Returns ``directory``, or None when there
    is nothing to do (Fenix is installed, or this is no checkout).
    """
    import configparser
    setup_cfg = os.path.join(root or '', 'setup.cfg')
    if not root or not os.path.exists(setup_cfg) or \
            _entry_points_installed():
        return None
    parser = configparser.ConfigParser()
    parser.read(setup_cfg)
    section = parser['options.entry_points']
    info = os.path.join(directory, 'fenix-0.0.0.dist-info')
    os.makedirs(info, exist_ok=True)
    with open(os.path.join(info, 'METADATA'), 'w') as f:
        f.write('Metadata-Version: 2.1\nName: fenix\nVersion: 0.0.0\n')
    with open(os.path.join(info, 'entry_points.txt'), 'w') as f:
        for group in section:
            f.write('[%s]\n' % group)
            for line in section[group].strip().splitlines():
                f.write(line.strip() + '\n')
            f.write('\n')
    return directory


def playbook_directory():
    """The shipped playbooks (etc/fenix/playbooks of the checkout)."""
    root = _source_root()
    path = os.path.join(root or '', 'etc', 'fenix', 'playbooks')
    if not root or not os.path.isfile(os.path.join(path, UPGRADE_PLAYBOOK)):
        raise DemoError('the playbook %s is not found (run fenix-demo '
                        '--upgrade from a checkout)' % UPGRADE_PLAYBOOK)
    return path


def upgrade_action(cloud, playbooks=None):
    """The session's action plug-in of ``fenix-demo --upgrade``."""
    return {'plugin': 'ansible', 'type': 'compute',
            'metadata': {'playbook': UPGRADE_PLAYBOOK,
                         'connection': 'local', 'timeout': 120,
                         'extra_vars': {
                             'sim_control_url': cloud.control_url}}}


def upgrade_problems(upgrades, computes, version):
    """What is wrong with the cloud's record of upgrades: every compute
    upgraded to ``version`` exactly once, empty and disabled."""
    problems = []
    for host in computes:
        mine = [u for u in upgrades if u['host'] == host]
        if len(mine) != 1:
            problems.append('%s upgraded %d times' % (host, len(mine)))
        for u in mine:
            if u['version'] != version:
                problems.append('%s upgraded to %s, not %s'
                                % (host, u['version'], version))
            if u['servers']:
                problems.append('%s upgraded while it held %d server(s)'
                                % (host, len(u['servers'])))
            if not u['disabled']:
                problems.append('%s upgraded while its nova-compute was '
                                'enabled' % host)
    return problems


def write_fenix_config(path, tmpdir, fenix_port, cloud, reply_window,
                       verbose=False, playbooks=None):
    """The all-in-one's configuration: noauth API on loopback, SQLite,
    notifications over HTTP to the simulated cloud, the cloud's Keystone
    for its own credentials."""
    svc = cloud.service_credentials()
    lines = [
        '[DEFAULT]',
        'debug = %s' % ('true' if verbose else 'false'),
        '',
        '[api]',
        'host = 127.0.0.1',
        'port = %d' % fenix_port,
        'auth_strategy = noauth',
        'public_endpoint = http://127.0.0.1:%d' % fenix_port,
        '',
        '[service_user]',
        'auth_type = password',
        'auth_url = %s' % svc['auth_url'],
        'username = %s' % svc['username'],
        'password = %s' % svc['password'],
        'project_name = %s' % svc['project_name'],
        'user_domain_name = Default',
        'project_domain_name = Default',
        '',
        '[database]',
        'connection = sqlite:///%s' % os.path.join(tmpdir, 'fenix.sqlite'),
        '',
        '[oslo_messaging_notifications]',
        'driver = fenix-http',
        '',
        '[notification_http]',
        'url = %s' % cloud.notification_url,
        '',
        '[workflow]',
    ]
    for state in ('maintenance', 'scale_in', 'prepare_maintenance',
                  'planned_maintenance', 'maintenance_complete'):
        lines.append('reply_window_%s = %d' % (state, reply_window))
    lines += [
        'nova_poll_interval = 0.1',
        'migration_timeout = 60',
        'own_action_timeout = 60',
        '',
        '[download]',
        'directory = %s' % os.path.join(tmpdir, 'downloads'),
        '',
    ]
    if playbooks:
        lines += ['[action_plugins]',
                  'playbook_directories = %s' % playbooks, '']
    with open(path, 'w') as f:
        f.write('\n'.join(lines))
    return path


class Demo(object):
    """One run of the demo; ``run()`` returns the exit code."""

    def __init__(self, args, out=None):
        self.args = args
        self.out = out or sys.stdout
        self.tmpdir = None
        self.cloud = None
        self.fenix = None
        self.vnfm = None
        self.fenix_url = None
        self.session_id = None
        self.summary = {'ok': False, 'stage': 'setup'}
        self._stop = threading.Event()

    def say(self, text):
        if not self.args.json:
            self.out.write(text + '\n')
            self.out.flush()

    # --- setup --------------------------------------------------------------

    def start_cloud(self):
        self.cloud = demo_cloud.DemoCloud()
        self.cloud.start()
        self.say('simulated cloud: %s (3 computes x 2 slots + controller)'
                 % self.cloud.url)

    def start_fenix(self, fenix_port, attempts=3):
        """Start the all-in-one; a port taken meanwhile by another
        program (free_port() can only say it was free) gets another."""
        for attempt in range(1, attempts + 1):
            try:
                return self._start_fenix(fenix_port)
            except DemoError:
                in_use = 'Address already in use' in self.fenix.tail(20)
                if not in_use or attempt == attempts:
                    raise
                self.fenix.stop()
                fenix_port = common.free_port()

    def _start_fenix(self, fenix_port):
        conf = write_fenix_config(
            os.path.join(self.tmpdir, 'fenix.conf'), self.tmpdir,
            fenix_port, self.cloud, self.args.reply_window,
            self.args.verbose,
            playbooks=playbook_directory() if self.args.upgrade else None)
        os.makedirs(os.path.join(self.tmpdir, 'downloads'), exist_ok=True)
        env = dict(os.environ)
        root = _source_root()
        if root:
            shim = entry_point_shim(root, os.path.join(self.tmpdir,
                                                       'entry-points'))
            env['PYTHONPATH'] = os.pathsep.join(
                [p for p in (shim, root, env.get('PYTHONPATH')) if p])
        argv = fenix_command(self.args.fenix_command) + [
            '--config-file', conf]
        self.fenix = common.ManagedProcess(
            'fenix-all-in-one', argv, os.path.join(self.tmpdir, 'fenix.log'),
            env=env, cwd=self.tmpdir).start()
        self.fenix_url = 'http://127.0.0.1:%d' % fenix_port
        health = self.fenix_url + '/healthcheck'

        def healthy():
            if not self.fenix.alive():
                raise DemoError('fenix-all-in-one exited with code %s'
                                % self.fenix.returncode())
            try:
                return requests.get(health, timeout=2).status_code == 200
            except requests.RequestException:
                return False
        try:
            common.wait_until(healthy, 60, interval=0.2,
                              what='Fenix /healthcheck',
                              stop_event=self._stop)
        except common.WaitTimeout as e:
            raise DemoError(str(e))
        # Now that it answers, Fenix goes into the catalog (service type
        # maintenance), where the VNFM finds it.
        self.cloud.set_fenix_url(self.fenix_url + '/v1')
        self.say('fenix: %s (pid %d, log %s)'
                 % (self.fenix_url, self.fenix.pid, self.fenix.log_path))

    def start_vnfm(self):
        creds = self.cloud.tenant_credentials()
        session = common.make_session(
            creds['auth_url'], creds['username'], creds['password'],
            creds['project_name'])
        app = app_mod.get_app('seed004').updated(
            flavor=self.cloud.flavor, image=self.cloud.image)
        # No fenix_url: the VNFM finds Fenix in the catalog, as a real one.
        behaviour = app_mod.Behaviour(silent=self.args.vnfm_silent,
                                      nack=self.args.vnfm_nack)
        self.vnfm = vnfm_mod.SampleVNFM(
            session=session, app=app, behaviour=behaviour,
            event_types=(self.args.event_type,), name='vnfm-demo')
        try:
            self.vnfm.start()
        except vnfm_mod.VNFMError as e:
            raise DemoError('sample VNFM: %s' % e)
        placement = ', '.join('%s@%s' % (s['name'], s.get('host') or '?')
                              for s in self._vnfm_servers())
        self.say('sample VNFM: %s, project %s; servers: %s'
                 % (self.vnfm.url, self.vnfm.project_id, placement))

    def _vnfm_servers(self):
        hosts = self.cloud.server_hosts()
        return [dict(s, host=hosts.get(s['id'])) for s in
                self.vnfm.servers()]

    # --- the scenario -------------------------------------------------------

    def openstack_cli(self):
        """The openstack commands to drive the session with, or None (the
        library)."""
        if self.args.client == CLIENT_LIBRARY:
            return None
        command = demo_openstack.openstack_command()
        if command is None:
            if self.args.client == CLIENT_OPENSTACK:
                raise DemoError(
                    'no openstack command with the maintenance plug-in '
                    'beside %s (pip install python-openstackclient)'
                    % sys.executable)
            return None
        clouds = demo_openstack.write_clouds_yaml(
            os.path.join(self.tmpdir, 'clouds.yaml'),
            self.cloud.admin_credentials())
        return demo_openstack.OpenStackCLI(command, clouds)

    def run_session(self):
        client = common.FenixClient(url=self.fenix_url)
        body = admin_cmd.create_body(
            hosts=[], workflow=self.args.workflow,
            in_seconds=self.args.start_in,
            metadata={'openstack_version': self.args.upgrade or 'Train'})
        if self.args.upgrade:
            body['actions'] = [upgrade_action(self.cloud)]
        cli = self.openstack_cli()
        self.summary['client'] = CLIENT_OPENSTACK if cli else CLIENT_LIBRARY
        self.started = time.monotonic()
        if cli is None:
            self.session_id = client.create_session(body)['session_id']
        else:
            self.say('$ %s' % cli.shown('session', 'create', '...'))
            # A refusal fails the demo as the library's error does.
            self.session_id = cli.create_session(body)
        self.say('session %s created: workflow %s, maintenance_at %s'
                 % (self.session_id, body['workflow'],
                    body['maintenance_at']))
        if cli is None:
            display = (None if self.args.json else
                       client_progress.Display(self.out))
            result = progress.follow(client, self.session_id, interval=0.5,
                                     timeout=self.args.timeout,
                                     display=display, stop_event=self._stop)
        else:
            self.say('$ %s' % cli.shown('session', 'watch', self.session_id))
            cli.watch(self.session_id, None if self.args.json else self.out,
                      interval=0.5, timeout=self.args.timeout,
                      stop_event=self._stop)
            detail = client.get_session_detail(self.session_id) or {}
            result = client_progress.WatchResult(
                detail, detail.get('state') not in progress.FINAL_STATES,
                time.monotonic() - self.started)
        self.duration = time.monotonic() - self.started
        # Let the VNFM finish what the last event asked, and the checker
        # look once more at the final state.
        self.vnfm.wait_idle(30)
        if self.vnfm.checker is not None:
            self.vnfm.checker.wait_checks(2, timeout=5)
        return result

    def build_summary(self, result):
        detail = result.detail or {}
        session = progress.summarize(detail, self.duration)
        status = self.vnfm.status()
        project_servers = [s['id'] for s in status['servers']]
        moves = self.cloud.migrations(self.vnfm.project_id)
        left_disabled = self.cloud.disabled_computes()
        on_maintained = self.cloud.maintenance_overlaps(
            project_servers + [m['server'] for m in moves])
        computes = self.cloud.compute_names()
        events = [e['state'] for e in status['events']
                  if not e.get('duplicate') and not e.get('ignored')]
        replies = [r['state'] + ('' if r['ok'] else ' (FAILED)')
                   for r in status['replies']]
        switch_overs = [a for a in status['actions']
                        if a['action'] == 'switch_over']
        names = self.cloud.server_names()
        problems = []
        if result.timed_out:
            problems.append('session did not end within %.0f s'
                            % self.args.timeout)
        if session['state'] != progress.DONE:
            problems.append('session ended in %s' % session['state'])
        missing = sorted(set(computes) - set(session['hosts_maintained']))
        if missing:
            problems.append('computes not maintained: %s'
                            % ', '.join(missing))
        if status['violations']:
            problems.append('%d application invariant violation(s)'
                            % len(status['violations']))
        if left_disabled:
            problems.append('computes left disabled: %s'
                            % ', '.join(left_disabled))
        if on_maintained:
            problems.append('%d server(s) on a host while it was in '
                            'maintenance' % len(on_maintained))
        upgrades = self.cloud.upgrades()
        if self.args.upgrade:
            problems += upgrade_problems(upgrades, computes,
                                         self.args.upgrade)
        failed_replies = [r for r in status['replies'] if not r['ok']]
        if failed_replies:
            problems.append('%d VNFM reply(ies) failed'
                            % len(failed_replies))
        self.summary = {
            'ok': not problems,
            'problems': problems,
            'client': self.summary.get('client'),
            'session_id': self.session_id,
            'workflow': self.args.workflow,
            'state': session['state'],
            'duration': round(self.duration, 2),
            'hosts_maintained': session['hosts_maintained'],
            'hosts_not_maintained': session['hosts_not_maintained'],
            'computes': computes,
            'instance_actions': session['instance_actions'],
            'migrations': moves,
            'vnfm': {
                'project_id': status['project_id'],
                'events': events,
                'replies': replies,
                'switch_overs': [{'from': names.get(a['old_active'],
                                                    a['old_active']),
                                  'to': names.get(a['new_active'],
                                                  a['new_active']),
                                  'reason': a['reason'], 'time': a['time']}
                                 for a in switch_overs],
                'servers': len(status['servers']),
                'errors': [e['message'] for e in status['errors']],
                'checks': (status['checker'] or {}).get('checks'),
            },
            'violations': [dict(v, name=names.get(v['subject']))
                           for v in status['violations']],
            'servers_on_hosts_in_maintenance': on_maintained,
            'computes_left_disabled': left_disabled,
            'upgrades': upgrades,
            'session_errors': session['errors'],
        }
        return self.summary

    def render_summary(self):
        s = self.summary
        lines = ['', '=== fenix-demo summary ===',
                 'result: %s' % ('PASS' if s['ok'] else 'FAIL')]
        if s.get('session_id'):
            lines.append('session %s (%s): %s in %.1f s' % (
                s['session_id'], s.get('workflow'), s.get('state'),
                s.get('duration') or 0))
            lines.append('created and watched with: %s' % (
                'openstack maintenance commands'
                if s.get('client') == CLIENT_OPENSTACK else
                'the client library'))
        if 'hosts_maintained' in s:
            lines.append('hosts maintained: %d/%d %s' % (
                len(s['hosts_maintained']), len(s['computes']),
                ', '.join(s['hosts_maintained']) or '-'))
            by_type = {}
            for m in s['migrations']:
                by_type.setdefault(m['type'], []).append(m)
            lines.append('instances moved: %d (%s)' % (
                len(s['migrations']), ', '.join(
                    '%s x%d' % (t, len(ms))
                    for t, ms in sorted(by_type.items())) or 'none'))
            for m in s['migrations']:
                lines.append('  %-22s %-5s %s -> %s%s' % (
                    m['name'], m['type'], m['source'], m['dest'],
                    '' if m['ok'] else ' (FAILED)'))
            v = s['vnfm']
            lines.append('VNFM events: %s' % ' '.join(v['events']))
            lines.append('VNFM replies: %s' % ' '.join(v['replies']))
            for so in v['switch_overs']:
                lines.append('switch-over at %s (%s): %s -> %s' % (
                    so['time'], so['reason'], so['from'], so['to']))
            lines.append('application invariant violations: %d '
                         '(%s checks)' % (len(s['violations']),
                                          v['checks']))
            for viol in s['violations']:
                lines.append('  %s%s %s..%s: %s' % (
                    viol['kind'],
                    ' (%s)' % viol['name'] if viol.get('name') else '',
                    viol['since'], viol['until'] or 'open',
                    viol['detail']))
        for u in s.get('upgrades') or ():
            lines.append('upgraded %s: %s -> %s (%d server(s) on it, '
                         'nova-compute %s)' % (
                             u['host'], u['previous'], u['version'],
                             len(u['servers'] or ()),
                             'disabled' if u['disabled'] else 'enabled'))
        for problem in s.get('problems') or ():
            lines.append('problem: %s' % problem)
        return '\n'.join(lines)

    # --- failure help and cleanup -------------------------------------------

    def debug_tails(self):
        lines = 200 if self.args.verbose else 40
        out = []
        if self.fenix is not None:
            out.append('--- last %d lines of the Fenix log (%s) ---'
                       % (lines, self.fenix.log_path))
            out.append(self.fenix.tail(lines) or '(empty)')
        if self.args.verbose and self.cloud is not None:
            out.append('--- last cloud events ---')
            for event in self.cloud.last_events(40):
                out.append(json.dumps(event, sort_keys=True, default=str))
        if self.args.verbose and self.vnfm is not None:
            out.append('--- VNFM errors ---')
            for e in self.vnfm.errors.list():
                out.append('%s %s' % (e['time'], e['message']))
        return '\n'.join(out)

    def cleanup(self):
        self._stop.set()
        if self.vnfm is not None:
            try:
                self.vnfm.stop()
            except Exception as e:
                sys.stderr.write('fenix-demo: stopping the VNFM: %s\n' % e)
        if self.fenix is not None:
            self.fenix.stop(grace=10)
        if self.cloud is not None:
            try:
                self.cloud.stop()
            except Exception as e:
                sys.stderr.write('fenix-demo: stopping the cloud: %s\n' % e)
        if self.tmpdir:
            if self.args.keep:
                self.say('kept %s' % self.tmpdir)
            else:
                shutil.rmtree(self.tmpdir, ignore_errors=True)

    def run(self):
        code = EXIT_FAILED
        show_tails = False
        try:
            self.tmpdir = tempfile.mkdtemp(prefix='fenix-demo-')
            self.start_cloud()
            self.start_fenix(common.free_port())
            self.start_vnfm()
            self.summary['stage'] = 'session'
            result = self.run_session()
            self.build_summary(result)
            code = EXIT_OK if self.summary['ok'] else EXIT_FAILED
            show_tails = not self.summary['ok']
        except DemoError as e:
            self.summary.update(ok=False, problems=['setup: %s' % e])
            code = EXIT_SETUP
            show_tails = True
        except (KeyboardInterrupt, SystemExit) as e:
            self.summary.update(ok=False, problems=['interrupted'])
            code = (e.code if isinstance(e, SystemExit) and
                    isinstance(e.code, int) else EXIT_INTERRUPTED)
        except Exception as e:
            self.summary.update(ok=False, problems=['error: %s' % e])
            code = EXIT_FAILED
            show_tails = True
        finally:
            if show_tails:
                sys.stderr.write(self.debug_tails() + '\n')
            try:
                self.cleanup()
            finally:
                self.say(self.render_summary())
                if self.args.json:
                    self.out.write(json.dumps(self.summary, sort_keys=True,
                                              default=str) + '\n')
                    self.out.flush()
        return code


def main(argv=None):
    args = build_parser().parse_args(argv)
    with common.terminate_on_signals():
        return Demo(args).run()


if __name__ == '__main__':
    sys.exit(main())
