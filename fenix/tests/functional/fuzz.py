# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""schemathesis against a live Fenix, driven by the API's own OpenAPI
description (``/v1/openapi.json``).

:func:`run` starts the ``schemathesis`` command line against a base URL
and reads its HAR report back: how many requests were sent, how many
were answered 5xx, which operations were reached and which checks
failed. Used by the functional test (a short run) and by the long run of
``tox -e schemathesis`` (doc/source/testing.rst).
"""
import collections
import json
import os
import re
import subprocess
import sys

# What every run checks, beyond "no 5xx": answers of documented status
# codes, content types and headers, bodies of the documented shape.
CHECKS = ('not_a_server_error', 'status_code_conformance',
          'content_type_conformance', 'response_headers_conformance',
          'response_schema_conformance', 'negative_data_rejection')

# Environment of the runs (tox -e schemathesis sets the long run's).
EXAMPLES_ENV = 'FENIX_SCHEMATHESIS_EXAMPLES'
SEED_ENV = 'FENIX_SCHEMATHESIS_SEED'
REPORT_ENV = 'FENIX_SCHEMATHESIS_REPORT'
# The short run (the functional tier): examples per operation.
SHORT_EXAMPLES = 10
# Bound of one run, seconds: a run that does not end is a failure.
RUN_TIMEOUT_BASE = 600
RUN_TIMEOUT_PER_EXAMPLE = 6

Result = collections.namedtuple(
    'Result', 'returncode seed requests server_errors statuses requested '
              'succeeded output')


def examples():
    """Examples per operation: the environment's, else the short run's."""
    return int(os.environ.get(EXAMPLES_ENV) or SHORT_EXAMPLES)


def _har_entries(path):
    with open(path) as f:
        har = json.load(f)
    return har.get('log', {}).get('entries', [])


def _template(paths, url_path):
    """The documented path a request path matches (None: none)."""
    for template in paths:
        pattern = '^' + re.sub(r'\\{[^/]+?\\}', '[^/]+',
                               re.escape(template)) + '/?$'
        if re.match(pattern, url_path):
            return template
    return None


def run(base_url, workdir, operations, max_examples=None, seed=None,
        config_file=None, extra_args=()):
    """Run schemathesis against ``base_url``; :class:`Result`.

    :param operations: the documented operations, ``{(path template,
        method)}`` (to tell which ones the run reached: ``requested`` and
        ``succeeded`` of the result are subsets).
    """
    # Most specific first: more segments, then fewer variable ones
    # (.../{session_id}/detail before .../{session_id}/{project_id}).
    paths = sorted({p for p, m in operations},
                   key=lambda p: (-p.count('/'), p.count('{'), p))
    max_examples = max_examples or examples()
    har = os.path.join(workdir, 'schemathesis.har')
    cmd = [sys.executable, '-m', 'schemathesis.cli']
    if config_file:
        cmd += ['--config-file', config_file]
    cmd += ['run', base_url + '/v1/openapi.json',
            '--url', base_url,
            '--checks', ','.join(CHECKS),
            '--max-examples', str(max_examples),
            # One worker: schemathesis's workers are threads, and two
            # threads parsing source at once (hypothesis describes its
            # filters with ast.parse) can hit CPython 3.11.7's
            # "AST constructor recursion depth mismatch" (a race in the
            # ast module fixed in later releases); it made both short
            # runs fail in CI with a runtime error of schemathesis itself.
            '--workers', '1',
            '--request-timeout', '30',
            '--no-color',
            '--report', 'har', '--report-har-path', har,
            '--suppress-health-check', 'all']
    seed = seed if seed is not None else os.environ.get(SEED_ENV)
    if seed:
        cmd += ['--seed', str(seed)]
    cmd += list(extra_args)
    timeout = RUN_TIMEOUT_BASE + RUN_TIMEOUT_PER_EXAMPLE * max_examples
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL,
                          cwd=workdir,
                          env=dict(os.environ, SCHEMATHESIS_HOOKS=''))
    statuses = collections.Counter()
    requested, succeeded = set(), set()
    entries = _har_entries(har) if os.path.exists(har) else []
    for entry in entries:
        status = entry.get('response', {}).get('status', 0)
        statuses[status] += 1
        url = entry.get('request', {}).get('url', '')
        path = '/' + url.split('://', 1)[-1].split('/', 1)[-1]
        path = path.split('?', 1)[0]
        template = _template(paths, path)
        method = entry.get('request', {}).get('method', '').lower()
        if (template, method) in operations:
            requested.add((template, method))
            if 200 <= status < 300:
                succeeded.add((template, method))
    seed = re.search(r'^Seed: (\d+)', proc.stdout, re.M)
    return Result(proc.returncode, seed and seed.group(1), len(entries),
                  sum(n for s, n in statuses.items() if s >= 500),
                  dict(statuses), requested, succeeded,
                  proc.stdout[-20000:] + proc.stderr[-5000:])


def report(result, label):
    """Append the figures of a run to $FENIX_SCHEMATHESIS_REPORT."""
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    with open(path, 'a') as f:
        f.write(json.dumps({'run': label, 'requests': result.requests,
                            'server_errors': result.server_errors,
                            'statuses': {str(k): v for k, v in
                                         sorted(result.statuses.items())},
                            'operations': len(result.requested),
                            'operations_2xx': len(result.succeeded),
                            'never_2xx': sorted(
                                '%s %s' % (m.upper(), p) for p, m in
                                result.requested - result.succeeded),
                            'seed': result.seed,
                            'returncode': result.returncode}) + '\n')


# How often a path parameter takes the id of an existing resource (the
# rest of the time it is generated).
KNOWN_ID_PROBABILITY = 0.7


def _binding(name, prefix):
    return '"path.%s" = { dictionary = "%s%s", probability = %s }' % (
        name, prefix, name, KNOWN_ID_PROBABILITY)


def config(ids, delete_ids):
    """A schemathesis.toml that gives the path parameters the ids of
    existing resources most of the time: ``ids`` (name -> id) to every
    operation but DELETE, ``delete_ids`` to DELETE (so that a delete does
    not take the resources the other operations are tested on)."""
    lines = []
    for prefix, values in (('', ids), ('delete_', delete_ids)):
        for name, value in sorted(values.items()):
            lines += ['[dictionaries.%s%s]' % (prefix, name),
                      'values = [%s]' % json.dumps(value), '']
    lines += ['[parameters]']
    lines += [_binding(name, '') for name in sorted(ids)]
    lines += ['', '[[operations]]', 'include-method = "DELETE"',
              'parameters = { %s }' % ', '.join(
                  _binding(name, 'delete_') for name in sorted(delete_ids))]
    return '\n'.join(lines) + '\n'
