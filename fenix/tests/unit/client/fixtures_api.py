# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The real API application (noauth, in-memory engine) served over HTTP
on a free loopback port, for the client's tests: the client goes through
keystoneauth, requests and a socket as it does against a real server."""
import threading
from wsgiref import simple_server

import fixtures

from fenix.api import app
from fenix.tests.unit.api import fakes


class _QuietHandler(simple_server.WSGIRequestHandler):

    def log_message(self, *args):
        pass


class LiveAPI(fixtures.Fixture):
    """``url``: the API's base URL; ``engine``: its FakeEngineAPI."""

    def _setUp(self):
        self.engine = fakes.FakeEngineAPI()
        wsgi_app = app.setup_app(engine_api=self.engine,
                                 auth_strategy='noauth',
                                 reader=self.engine)
        self.server = simple_server.make_server(
            '127.0.0.1', 0, wsgi_app, handler_class=_QuietHandler)
        self.url = 'http://127.0.0.1:%d' % self.server.server_port
        thread = threading.Thread(target=self.server.serve_forever,
                                  kwargs={'poll_interval': 0.05},
                                  daemon=True)
        thread.start()
        self.addCleanup(thread.join, 10)
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
