# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix-api: the REST API service.

    fenix-api [--config-file FILE]

Listens on ``[api] host``:``[api] port`` until SIGTERM or SIGINT. With
``[api] workers`` > 1 it forks that many worker processes that share the
listening socket and replaces any that dies (:mod:`fenix.api.workers`).
Exits 0 after a clean stop, 1 when it cannot listen, 2 when it refuses to
start (no authentication on a non-loopback address, or a
``[keystone_authtoken]`` that cannot validate tokens).
"""
import sys

from fenix.api.middleware import auth_token
from fenix.api import server
from fenix.api import workers
from fenix import cmd
from fenix.common import config
from fenix.common import rpc


def _serve(api):
    """Serve with ``api`` until SIGTERM/SIGINT; the exit status."""
    try:
        api.start()
    except (server.UnsafeBindAddress) as e:
        sys.stderr.write('fenix-api: %s\n' % e)
        return 2
    except OSError as e:
        sys.stderr.write('fenix-api: cannot listen on %s: %s\n'
                         % (api.url, e))
        return 1
    cmd.wait_for_signal()
    api.stop()
    rpc.cleanup()
    return 0


def _serve_workers(conf):
    host, port = conf.api.host, conf.api.port
    try:
        sock = server.listen(host, port, conf)
    except server.UnsafeBindAddress as e:
        sys.stderr.write('fenix-api: %s\n' % e)
        return 2
    except OSError as e:
        sys.stderr.write('fenix-api: cannot listen on %s:%s: %s\n'
                         % (host, port, e))
        return 1

    def serve(index):
        # In the worker, after the fork: the application, its database
        # engine and its RPC transport are made here, per process.
        return _serve(server.APIServer(host, port, conf=conf, sock=sock))

    try:
        return workers.Supervisor(conf.api.workers, serve).run()
    finally:
        sock.close()


def main(argv=None):
    config.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        auth_token.check_config(config.CONF)
    except auth_token.IncompleteConfig as e:
        sys.stderr.write('fenix-api: %s\n' % e)
        return 2
    if config.CONF.api.workers > 1:
        return _serve_workers(config.CONF)
    return _serve(server.APIServer())


if __name__ == '__main__':
    sys.exit(main())
