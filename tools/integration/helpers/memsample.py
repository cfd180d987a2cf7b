# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Sample the summed RSS of the integration stack + Fenix until killed.

Usage: memsample.py DIR OUT_JSON [INTERVAL]

Counts every process whose command line mentions DIR (all stack services
and Fenix run with config files under it) and their descendants (cotyledon
and oslo.service workers rename themselves). Writes the peak to OUT_JSON
after every sample.
"""
import json
import os
import signal
import sys
import time


def procs():
    out = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                cmd = f.read().replace(b'\0', b' ').decode(errors='replace')
            with open('/proc/%s/status' % pid) as f:
                st = dict(line.split(':', 1) for line in f if ':' in line)
            out[int(pid)] = (cmd, int(st['PPid']),
                             int(st.get('VmRSS', '0 kB').split()[0]))
        except (OSError, KeyError, ValueError):
            continue
    return out


def main():
    d, path = sys.argv[1], sys.argv[2]
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    me = os.getpid()
    peak = {'rss_mb': 0, 'time': None, 'processes': 0, 'samples': 0}
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    while True:
        ps = procs()
        ours = {p for p, (cmd, _, _) in ps.items() if d in cmd and p != me
                and 'memsample' not in cmd}
        changed = True
        while changed:
            changed = False
            for p, (_, ppid, _) in ps.items():
                if ppid in ours and p not in ours:
                    ours.add(p)
                    changed = True
        rss = sum(ps[p][2] for p in ours) / 1024.0
        peak['samples'] += 1
        if rss > peak['rss_mb']:
            peak.update(rss_mb=round(rss, 1), processes=len(ours),
                        time=time.strftime('%H:%M:%S'))
        with open(path, 'w') as f:
            json.dump(peak, f)
        time.sleep(interval)


if __name__ == '__main__':
    main()
