# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Serve one WSGI application on 127.0.0.1 with a threaded stdlib server.

Usage: wsgi_serve.py PORT MODULE:ATTR [-- APP ARGS...]

``ATTR`` may be an application or a factory (a name starting with
``build``/``init``/``make``) called with no arguments. Everything after
``--`` becomes ``sys.argv[1:]`` of the application, because the OpenStack
applications let oslo.config parse ``sys.argv``.
"""
import importlib
import socketserver
import sys
from wsgiref import simple_server


class Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class Handler(simple_server.WSGIRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write('%s %s\n' % (self.address_string(), fmt % args))


def main():
    port, target = int(sys.argv[1]), sys.argv[2]
    rest = sys.argv[sys.argv.index('--') + 1:] if '--' in sys.argv else []
    sys.argv = sys.argv[:1] + rest
    module, attr = target.split(':')
    app = getattr(importlib.import_module(module), attr)
    if attr.startswith(('build', 'init', 'make')):
        app = app()
    server = simple_server.make_server('127.0.0.1', port, app,
                                       server_class=Server,
                                       handler_class=Handler)
    sys.stderr.write('serving %s on 127.0.0.1:%d\n' % (target, port))
    sys.stderr.flush()
    server.serve_forever()


if __name__ == '__main__':
    main()
