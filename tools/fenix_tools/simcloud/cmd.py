# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``fenix-simcloud``: run the simulated cloud as a program.

Prints the base URL on the first line of stdout, optionally writes a JSON
ready file (url, port, pid and the service URLs), and stops cleanly on
SIGTERM or SIGINT (saving ``--state-file`` if given).
"""
import argparse
import json
import logging
import os
import signal
import sys
import threading

import yaml

from fenix_tools.simcloud import server
from fenix_tools.simcloud import topology


def _generate_args(text):
    out = {}
    for part in text.split(','):
        if not part.strip():
            continue
        key, sep, value = part.partition('=')
        if not sep:
            raise argparse.ArgumentTypeError(
                'expected key=value[,key=value...], got %r' % part)
        key = key.strip()
        value = value.strip()
        try:
            out[key] = int(value)
        except ValueError:
            out[key] = value
    return out


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog='fenix-simcloud',
        description='Simulated OpenStack cloud (Keystone, Nova, AODH) for '
                    'Fenix tests and demos.')
    parser.add_argument('--topology', metavar='FILE',
                        help='topology file (YAML or JSON)')
    parser.add_argument('--generate', metavar='K=V,...',
                        type=_generate_args,
                        help='generate a large cloud, e.g. '
                             'computes=1000,servers=10000 (merged with '
                             '--topology when both are given)')
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to bind (default 127.0.0.1)')
    parser.add_argument('--port', type=int, default=0,
                        help='port to bind (default 0: any free port)')
    parser.add_argument('--public-host',
                        help='host name to put in URLs and the catalog')
    parser.add_argument('--transport-url',
                        help='also listen for notifications on this '
                             'oslo.messaging transport (topic '
                             'notifications)')
    parser.add_argument('--listener-pool',
                        help='oslo.messaging listener pool name (to share '
                             'the notifications topic with ceilometer)')
    parser.add_argument('--maintenance-url',
                        help="Fenix's URL for the maintenance catalog entry")
    parser.add_argument('--state-file', metavar='FILE',
                        help='load the cloud from FILE if it exists; save '
                             'it there on exit')
    parser.add_argument('--ready-file', metavar='FILE',
                        help='write {url, port, pid, ...} as JSON to FILE '
                             'once serving (removed on exit)')
    parser.add_argument('--log-level', default='WARNING',
                        help='DEBUG shows every request (default WARNING)')
    args = parser.parse_args(argv)
    if not args.topology and not args.generate and not (
            args.state_file and os.path.exists(args.state_file)):
        parser.error('one of --topology, --generate or an existing '
                     '--state-file is required')
    return args


def build_topology(args):
    data = {}
    if args.topology:
        with open(args.topology) as f:
            text = f.read()
        if args.topology.endswith('.json'):
            data = json.loads(text)
        else:
            loader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
            data = yaml.load(text, Loader=loader) or {}
        data.setdefault('name', os.path.splitext(
            os.path.basename(args.topology))[0])
    if args.generate:
        gen = dict(data.get('generate') or {})
        gen.update(args.generate)
        data['generate'] = gen
    return topology.normalize(data)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(),
                                      logging.WARNING),
                        format='%(asctime)s %(levelname)s %(name)s '
                               '%(message)s')
    try:
        topo = None
        if not (args.state_file and os.path.exists(args.state_file)):
            topo = build_topology(args)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print('fenix-simcloud: bad topology: %s' % exc, file=sys.stderr)
        return 2
    sim = server.SimCloud(topology=topo, host=args.host, port=args.port,
                          public_host=args.public_host,
                          transport_url=args.transport_url,
                          maintenance_url=args.maintenance_url,
                          state_file=args.state_file,
                          listener_pool=args.listener_pool)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    url = sim.start()
    if args.ready_file:
        info = {'url': url, 'port': sim.port, 'pid': os.getpid(),
                'host': sim.public_host, 'auth_url': sim.auth_url,
                'identity_url': sim.identity_url,
                'compute_url': sim.compute_url,
                'alarming_url': sim.alarming_url,
                'control_url': sim.control_url,
                'notifications_url': sim.control_url + '/notifications'}
        tmp = args.ready_file + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(info, f)
        os.replace(tmp, args.ready_file)
    # Printed last: once the URL is out, the ready file exists too.
    print(url, flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        sim.stop()
        if args.ready_file:
            try:
                os.unlink(args.ready_file)
            except OSError:
                pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
