# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Bounded readiness checks of the integration stack.

Usage:
  wait_ready.py port PORT [TIMEOUT]
  wait_ready.py computes CLOUD_JSON N [TIMEOUT]   N nova-compute up+enabled
                                                  with a hypervisor each
  wait_ready.py consumers AMQP_URL QUEUE... [--timeout T]
  wait_ready.py aodh CLOUD_JSON [TIMEOUT]          alarm list answers
  wait_ready.py flavor CLOUD_JSON                  create flavor fenix.half
Exit 0 when ready, 1 (with the last error) on timeout.
"""
import json
import socket
import sys
import time


def until(check, timeout, what, interval=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as e:  # keep polling; report the last one
            last = '%s: %s' % (type(e).__name__, e)
        time.sleep(interval)
    sys.stderr.write('not ready after %ss: %s (last error: %s)\n'
                     % (timeout, what, last))
    sys.exit(1)


def admin_session(cloud):
    from keystoneauth1.identity import v3
    from keystoneauth1 import session as ks_session
    return ks_session.Session(auth=v3.Password(
        auth_url=cloud['auth_url'], username='admin',
        password=cloud['users']['admin']['password'], project_name='admin',
        user_domain_id='default', project_domain_id='default'), timeout=10)


def port(args):
    p, timeout = int(args[0]), float(args[1]) if len(args) > 1 else 60

    def check():
        with socket.create_connection(('127.0.0.1', p), timeout=1):
            return True
    until(check, timeout, 'port %d' % p, interval=0.2)


def computes(args):
    from novaclient import client
    with open(args[0]) as f:
        cloud = json.load(f)
    n = int(args[1])
    timeout = float(args[2]) if len(args) > 2 else 120
    nova = client.Client('2.87', session=admin_session(cloud))

    def check():
        up = [s.host for s in nova.services.list(binary='nova-compute')
              if s.state == 'up' and s.status == 'enabled']
        hyps = [h.hypervisor_hostname for h in nova.hypervisors.list()
                if h.state == 'up']
        return len(up) >= n and len(hyps) >= n
    until(check, timeout, '%d computes up with hypervisors' % n)


def consumers(args):
    import kombu
    timeout = 90.0
    if '--timeout' in args:
        i = args.index('--timeout')
        timeout = float(args[i + 1])
        args = args[:i] + args[i + 2:]
    url, queues = args[0], args[1:]
    with kombu.Connection(url) as conn:
        def check():
            ch = conn.channel()
            try:
                return all(ch.queue_declare(q, passive=True).consumer_count
                           > 0 for q in queues)
            finally:
                ch.close()
        until(check, timeout, 'consumers on %s' % ', '.join(queues))


def aodh(args):
    from aodhclient import client
    with open(args[0]) as f:
        cloud = json.load(f)
    timeout = float(args[1]) if len(args) > 1 else 60
    a = client.Client('2', session=admin_session(cloud))
    until(lambda: a.alarm.list() is not None, timeout, 'aodh alarm list')


def flavor(args):
    """The public flavor ``fenix.half``: half a fake compute
    ([fake_capacity] 4 vCPU / 4096 MB / 40 GB), two servers per host."""
    from novaclient import client
    from novaclient import exceptions
    with open(args[0]) as f:
        cloud = json.load(f)
    nova = client.Client('2.87', session=admin_session(cloud))
    try:
        nova.flavors.find(name='fenix.half')
    except exceptions.NotFound:
        nova.flavors.create('fenix.half', 2048, 2, 20, is_public=True)


if __name__ == '__main__':
    {'port': port, 'computes': computes, 'consumers': consumers,
     'aodh': aodh, 'flavor': flavor}[sys.argv[1]](sys.argv[2:])
