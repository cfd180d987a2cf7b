# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix-engine: runs maintenance sessions, serves RPC from fenix-api."""
import sys

from fenix import cmd
from fenix.common import clients
from fenix.common import config
from fenix.engine import service


def main(argv=None):
    config.parse_args(sys.argv[1:] if argv is None else argv)
    hint = clients.service_user_hint()
    if hint:
        sys.stderr.write('fenix-engine: %s\n' % hint)
    engine = service.EngineService()
    engine.start()
    cmd.wait_for_signal()
    engine.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
