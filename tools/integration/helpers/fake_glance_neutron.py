# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Just enough Glance and Neutron for fake-driver servers to boot.

Usage: fake_glance_neutron.py GLANCE_PORT NEUTRON_PORT IMAGE_ID

Glance serves one public image (``IMAGE_ID``); Neutron has no networks and
no ports (servers boot with ``nics='none'``). Tokens are not checked.
Unknown requests get 404 and are logged, so a Nova release that asks for
more shows up in the log.
"""
from http import server
import json
import sys
import threading
import urllib.parse

CREATED = '2025-01-01T00:00:00Z'


def image(image_id, base):
    return {
        'id': image_id, 'name': 'fenix-integration-image',
        'status': 'active', 'visibility': 'public', 'protected': False,
        'os_hidden': False, 'disk_format': 'qcow2',
        'container_format': 'bare', 'size': 1024, 'virtual_size': 1024,
        'min_disk': 0, 'min_ram': 0,
        'checksum': 'd41d8cd98f00b204e9800998ecf8427e',
        'owner': 'admin', 'tags': [], 'created_at': CREATED,
        'updated_at': CREATED, 'file': '/v2/images/%s/file' % image_id,
        'self': '/v2/images/%s' % image_id, 'schema': '/v2/schemas/image',
    }


class Handler(server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    kind = None
    image_id = None

    def _send(self, code, body=None):
        data = b'' if body is None else json.dumps(body).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _drain(self):
        length = int(self.headers.get('Content-Length') or 0)
        if length:
            self.rfile.read(length)

    def log_message(self, fmt, *args):
        pass

    def _unknown(self):
        sys.stderr.write('%s: unhandled %s %s\n'
                         % (self.kind, self.command, self.path))
        sys.stderr.flush()
        self._send(404, {'error': 'not faked: %s %s'
                                  % (self.command, self.path)})

    def do_GET(self):
        self._drain()
        path = urllib.parse.urlparse(self.path).path.rstrip('/')
        port = self.server.server_address[1]
        if self.kind == 'glance':
            img = image(self.image_id, 'http://127.0.0.1:%d' % port)
            if path == '':
                return self._send(200, {'versions': [{
                    'id': 'v2.16', 'status': 'CURRENT', 'links': [{
                        'rel': 'self',
                        'href': 'http://127.0.0.1:%d/v2/' % port}]}]})
            if path == '/v2/schemas/image':
                return self._send(200, {
                    'name': 'image', 'links': [],
                    'additionalProperties': {'type': 'string'},
                    'properties': {k: {} for k in img}})
            if path == '/v2/images':
                return self._send(200, {'images': [img]})
            if path == '/v2/images/%s' % self.image_id:
                return self._send(200, img)
            if path.startswith('/v2/images/'):
                return self._send(404, {'error': 'no such image'})
            return self._unknown()
        if path == '':
            return self._send(200, {'versions': [{
                'id': 'v2.0', 'status': 'CURRENT', 'links': [{
                    'rel': 'self',
                    'href': 'http://127.0.0.1:%d/v2.0/' % port}]}]})
        if path == '/v2.0/extensions':
            return self._send(200, {'extensions': []})
        if path.startswith('/v2.0/'):
            collection = path[len('/v2.0/'):].split('/')[0]
            if '/' in path[len('/v2.0/'):]:
                return self._send(404, {'NeutronError': {
                    'message': 'not found', 'type': 'NotFound'}})
            return self._send(200, {collection.replace('-', '_'): []})
        return self._unknown()

    def do_DELETE(self):
        self._drain()
        if self.kind == 'neutron':
            return self._send(204)
        return self._unknown()

    def do_POST(self):
        self._drain()
        return self._unknown()

    do_PUT = do_POST


def serve(kind, port, image_id):
    handler = type('%sHandler' % kind.title(), (Handler,),
                   {'kind': kind, 'image_id': image_id})
    httpd = server.ThreadingHTTPServer(('127.0.0.1', port), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return thread


def main():
    glance_port, neutron_port = int(sys.argv[1]), int(sys.argv[2])
    image_id = sys.argv[3]
    threads = [serve('glance', glance_port, image_id),
               serve('neutron', neutron_port, image_id)]
    sys.stderr.write('fake glance on %d, neutron on %d\n'
                     % (glance_port, neutron_port))
    sys.stderr.flush()
    for t in threads:
        t.join()


if __name__ == '__main__':
    main()
