# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix-api: the REST API service.

    fenix-api [--config-file FILE]

Listens on ``[api] host``:``[api] port`` until SIGTERM or SIGINT. Exits 0
after a clean stop, 1 when it cannot listen, 2 when it refuses to start
(no authentication on a non-loopback address, or a ``[keystone_authtoken]``
that cannot validate tokens).
"""
import sys

from fenix.api.middleware import auth_token
from fenix.api import server
from fenix import cmd
from fenix.common import config
from fenix.common import rpc


def main(argv=None):
    config.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        auth_token.check_config(config.CONF)
    except auth_token.IncompleteConfig as e:
        sys.stderr.write('fenix-api: %s\n' % e)
        return 2
    api = server.APIServer()
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


if __name__ == '__main__':
    sys.exit(main())
