#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Benchmark of the simulated cloud at scale.

Loads a generated cloud (default 1000 computes, 10 000 servers), starts it
on a loopback port, and times through the real python-novaclient over HTTP:

- ``servers.list(search_opts={'host': H, 'all_tenants': True})`` for
  random hosts (what Fenix does per host),
- ``hypervisors.list(detailed=True)`` (every hypervisor with usage).

Prints the figures; with ``--json`` the last line is one JSON object::

    python tools/bench/simcloud_bench.py --json
"""
import argparse
import json
import os
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..'))  # tools/ (uninstalled checkout)

from keystoneauth1.identity import v3  # noqa: E402
from keystoneauth1 import session as ks_session  # noqa: E402
from novaclient import client as nova_client  # noqa: E402

from fenix_tools.simcloud import server as sim_server  # noqa: E402
from fenix_tools.simcloud import topology  # noqa: E402


def percentile(samples, fraction):
    ordered = sorted(samples)
    index = min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))
    return ordered[index]


def timed(func, samples):
    out = []
    for _ in range(samples):
        started = time.perf_counter()
        func()
        out.append((time.perf_counter() - started) * 1000.0)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--computes', type=int, default=1000)
    parser.add_argument('--servers', type=int, default=10000)
    parser.add_argument('--samples', type=int, default=50)
    parser.add_argument('--microversion', default='2.87',
                        help='2.87 is the last with hypervisor usage')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--json', action='store_true',
                        help='print one JSON object on the last line')
    args = parser.parse_args(argv)
    os.environ.setdefault('no_proxy', '*')

    started = time.perf_counter()
    topo = topology.normalize({'generate': {'computes': args.computes,
                                            'servers': args.servers}})
    generate_s = time.perf_counter() - started
    started = time.perf_counter()
    sim = sim_server.SimCloud(topo)
    load_s = time.perf_counter() - started
    url = sim.start()
    try:
        sess = ks_session.Session(auth=v3.Password(**sim.auth_args('fenix')))
        nova = nova_client.Client(args.microversion, session=sess)
        hosts = [h.name for h in sim.cloud.compute_hosts]
        rng = random.Random(args.seed)
        # warm up: token, connection
        nova.servers.list(search_opts={'host': hosts[0],
                                       'all_tenants': True})
        counts = []

        def by_host():
            found = nova.servers.list(search_opts={
                'host': rng.choice(hosts), 'all_tenants': True})
            counts.append(len(found))

        host_ms = timed(by_host, args.samples)
        hyp_count = []

        def hypervisors():
            hyp_count.append(len(nova.hypervisors.list(detailed=True)))

        hyp_ms = timed(hypervisors, args.samples)
    finally:
        sim.stop()
    result = {
        'computes': args.computes, 'servers': args.servers,
        'microversion': args.microversion, 'samples': args.samples,
        'generate_s': round(generate_s, 3), 'load_s': round(load_s, 3),
        'servers_by_host_ms': {
            'p50': round(statistics.median(host_ms), 2),
            'p95': round(percentile(host_ms, 0.95), 2),
            'servers_per_answer': round(statistics.mean(counts), 1)},
        'hypervisors_detail_ms': {
            'p50': round(statistics.median(hyp_ms), 2),
            'p95': round(percentile(hyp_ms, 0.95), 2),
            'hypervisors_per_answer': hyp_count[0] if hyp_count else 0},
        'url': url,
    }
    print('simulated cloud: %d computes, %d servers' % (args.computes,
                                                        args.servers))
    print('  generate topology     %7.3f s' % generate_s)
    print('  load into the model   %7.3f s' % load_s)
    print('  servers.list(host=H, all_tenants) p50 %7.2f ms  p95 %7.2f ms'
          % (result['servers_by_host_ms']['p50'],
             result['servers_by_host_ms']['p95']))
    print('  hypervisors.list(detailed) (%d)  p50 %7.2f ms  p95 %7.2f ms'
          % (result['hypervisors_detail_ms']['hypervisors_per_answer'],
             result['hypervisors_detail_ms']['p50'],
             result['hypervisors_detail_ms']['p95']))
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
