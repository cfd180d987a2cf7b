# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Real HTTP(S) servers on 127.0.0.1 for the download tests.

Each path answers what the test set in ``routes``: :func:`body`,
:func:`redirect`, :func:`trickle` (a server that sends one byte and then
nothing until the test lets it go). Every request is recorded with its
headers. The policy denies loopback by default: a test that downloads
from these servers allows 127.0.0.0/8 in ``[download] allowed_networks``.
"""
import datetime
import http.server
import ipaddress
import os
import socket
import ssl
import threading

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography import x509
from cryptography.x509.oid import NameOID

# Seconds a handler waits at most for what the test does (a bound, not a
# pause: the waits end on events).
BOUND = 30


def body(data, length=True, status=200):
    def answer(handler):
        handler.send_response(status)
        if length:
            handler.send_header('Content-Length', str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    return answer


def chunked(data, chunk=1024):
    """A body without Content-Length (chunked transfer)."""
    def answer(handler):
        handler.send_response(200)
        handler.send_header('Transfer-Encoding', 'chunked')
        handler.end_headers()
        for i in range(0, len(data), chunk):
            part = data[i:i + chunk]
            handler.wfile.write(b'%x\r\n%s\r\n' % (len(part), part))
        handler.wfile.write(b'0\r\n\r\n')
    return answer


def redirect(location, status=302):
    def answer(handler):
        handler.send_response(status)
        handler.send_header('Location', location)
        handler.send_header('Content-Length', '0')
        handler.end_headers()
    return answer


def trickle(server, headers_only=False, bound=BOUND):
    """One byte of 1000 (or only the headers), then nothing until the
    client goes away (``server.closed`` is set) or ``bound`` seconds
    pass. ``server.trickles`` counts the connections trickled to,
    ``server.gone`` those the client closed."""
    def answer(handler):
        handler.send_response(200)
        handler.send_header('Content-Length', '1000')
        handler.end_headers()
        if not headers_only:
            handler.wfile.write(b'x')
        handler.wfile.flush()
        server.count('trickles')
        server.trickling.set()
        # The client sends nothing more: this read ends when it closes.
        handler.connection.settimeout(bound)
        try:
            handler.rfile.read(1)
        except TimeoutError:
            return
        except OSError:
            pass  # reset by the client (data left unread): gone as well
        server.count('gone')
        server.closed.set()
    return answer


class Server(object):
    """An HTTP server (HTTPS with ``tls``: a ssl.SSLContext) on
    127.0.0.1 in a thread, stopped at the test's end."""

    def __init__(self, test, tls=None):
        self.routes = {}
        self.requests = []
        self.trickling = threading.Event()
        self.closed = threading.Event()
        self.counts = {'trickles': 0, 'gone': 0}
        self._counted = threading.Condition()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def do_GET(self):
                owner.requests.append((self.path, dict(self.headers)))
                answer = owner.routes.get(self.path.split('?')[0])
                if answer is None:
                    self.send_error(404)
                    return
                answer(self)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket,
                                                server_side=True)
        self.port = self.httpd.server_address[1]
        self.scheme = 'https' if tls is not None else 'http'
        thread = threading.Thread(target=self.httpd.serve_forever,
                                  daemon=True)
        thread.start()
        test.addCleanup(self.httpd.server_close)
        test.addCleanup(self.httpd.shutdown)

    def count(self, name):
        with self._counted:
            self.counts[name] += 1
            self._counted.notify_all()

    def wait_count(self, name, number, timeout):
        """Whether ``counts[name]`` reached ``number`` within
        ``timeout``."""
        with self._counted:
            return self._counted.wait_for(
                lambda: self.counts[name] >= number, timeout)

    def url(self, path='/', host='127.0.0.1', userinfo=''):
        return '%s://%s%s:%d%s' % (self.scheme, userinfo, host, self.port,
                                   path)


class Banner(object):
    """Not HTTP: a TCP service that says who it is and hangs up (what a
    port answered must not reach the session's error)."""

    TEXT = b'SSH-2.0-OpenSSH_9.6 secret-banner\r\n'

    def __init__(self, test):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        thread = threading.Thread(target=self._serve, daemon=True)
        thread.start()
        test.addCleanup(self.sock.close)

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(self.TEXT)


def tls_context(directory):
    """(server context, CA file): a self-signed certificate for
    127.0.0.1 and localhost, made here."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                         'fenix test')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName('localhost'),
                x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                           critical=True)
            .sign(key, hashes.SHA256()))
    cert_file = os.path.join(directory, 'cert.pem')
    key_file = os.path.join(directory, 'key.pem')
    with open(cert_file, 'wb') as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_file, 'wb') as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
