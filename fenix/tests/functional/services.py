# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""A RabbitMQ node, a MariaDB server and a PostgreSQL server of the
test's own, on their own ports and directories (never the machine's shared
5672/3306/5432), that the test may stop and start again (an outage).

They need the Debian packages (``rabbitmq-server``, ``mariadb-server``,
``postgresql``); :func:`missing` says which binaries are not there. Only
the processes started here are ever stopped or killed, by their own pid or
node name.
"""
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

import fixtures
import psycopg2
import pymysql

from fenix.tests.functional import base

RABBIT_BIN = '/usr/lib/rabbitmq/bin'
RABBIT_SERVER = os.path.join(RABBIT_BIN, 'rabbitmq-server')
RABBITMQCTL = os.path.join(RABBIT_BIN, 'rabbitmqctl')
MARIADBD = shutil.which('mariadbd') or '/usr/sbin/mariadbd'
MARIADB_INSTALL_DB = shutil.which('mariadb-install-db') or \
    '/usr/bin/mariadb-install-db'


def _postgresql_bin():
    """The newest Debian PostgreSQL's bin directory (or PG_BINDIR)."""
    if os.environ.get('PG_BINDIR'):
        return os.environ['PG_BINDIR']
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin'),
                   key=lambda p: [int(x) for x in p.split('/')[-2].split(
                       '.') if x.isdigit()])
    return found[-1] if found else '/usr/lib/postgresql/bin'


PG_BIN = _postgresql_bin()
INITDB = os.path.join(PG_BIN, 'initdb')
POSTGRES = os.path.join(PG_BIN, 'postgres')
# postgres refuses to run as root: as root, the server runs as this
# system user (Debian's package makes it).
PG_SYSTEM_USER = os.environ.get('PG_SYSTEM_USER', 'postgres')

# Bounds (seconds) of a start and of a stop: RabbitMQ boots in 5-30 s on a
# busy two-core machine.
START_TIMEOUT = 120
STOP_TIMEOUT = 60


RABBITMQ = (RABBIT_SERVER, RABBITMQCTL)
MARIADB = (MARIADBD, MARIADB_INSTALL_DB)
POSTGRESQL = (INITDB, POSTGRES)


def missing(binaries=RABBITMQ + MARIADB):
    """The ``binaries`` (default: RabbitMQ's and MariaDB's) that are not
    installed."""
    return [path for path in binaries if not os.access(path, os.X_OK)]


def _run(cmd, env=None, timeout=STOP_TIMEOUT, **kwargs):
    return subprocess.run(cmd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL,
                          **kwargs)


class RabbitNode(fixtures.Fixture):
    """A RabbitMQ node of its own: ``rabbit://guest:guest@127.0.0.1:PORT``.

    No plug-ins (no management listener to collide with the machine's
    node), its own Erlang cookie (HOME), mnesia and log directories.
    """

    def __init__(self, workdir, name):
        super().__init__()
        self.dir = os.path.join(workdir, 'rabbit')
        self.node = '%s@localhost' % name
        self.port = None

    def _setUp(self):
        for sub in ('mnesia', 'log', 'home'):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        plugins = os.path.join(self.dir, 'enabled_plugins')
        with open(plugins, 'w') as f:
            f.write('[].\n')
        self.port = base.free_port()
        dist_port = base.free_port()
        self.env = dict(
            os.environ, HOME=os.path.join(self.dir, 'home'),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS='127.0.0.1',
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(dist_port),
            RABBITMQ_MNESIA_BASE=os.path.join(self.dir, 'mnesia'),
            RABBITMQ_LOG_BASE=os.path.join(self.dir, 'log'),
            RABBITMQ_ENABLED_PLUGINS_FILE=plugins,
            RABBITMQ_PID_FILE=os.path.join(self.dir, 'pid'),
            RABBITMQ_CONFIG_FILE=os.path.join(self.dir, 'rabbitmq'),
            # A node killed on purpose writes its crash dump here, not
            # into the checkout.
            ERL_CRASH_DUMP=os.path.join(self.dir, 'erl_crash.dump'))
        self.addCleanup(self._kill)
        self.start()

    @property
    def url(self):
        return 'rabbit://guest:guest@127.0.0.1:%d/' % self.port

    def _pid(self):
        try:
            with open(self.env['RABBITMQ_PID_FILE']) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def start(self):
        result = _run([RABBIT_SERVER, '-detached'], env=self.env)
        if result.returncode != 0:
            raise AssertionError('rabbitmq-server failed: %s %s'
                                 % (result.stdout, result.stderr))
        # The AMQP port opens once the node has booted; then the node
        # must say it has started (a detached node is not reachable by
        # rabbitmqctl at once).
        base.wait_for(lambda: base.port_open(self.port), START_TIMEOUT,
                      interval=0.2, what='RabbitMQ on port %d' % self.port)
        result = _run([RABBITMQCTL, '-n', self.node, 'await_startup',
                       '--timeout', str(START_TIMEOUT)], env=self.env,
                      timeout=START_TIMEOUT + 10)
        if result.returncode != 0:
            raise AssertionError('RabbitMQ node %s did not start: %s %s'
                                 % (self.node, result.stdout, result.stderr))

    def stop(self):
        """Stop the node (its connections drop, its port closes)."""
        result = _run([RABBITMQCTL, '-n', self.node, 'stop'], env=self.env)
        if result.returncode != 0:
            raise AssertionError('rabbitmqctl stop failed: %s %s'
                                 % (result.stdout, result.stderr))
        base.wait_for(lambda: not base.port_open(self.port), STOP_TIMEOUT,
                      what='RabbitMQ port %d to close' % self.port)

    def _kill(self):
        if base.port_open(self.port):
            try:
                _run([RABBITMQCTL, '-n', self.node, 'stop'], env=self.env)
            except subprocess.TimeoutExpired:
                pass
        pid = self._pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


class MariaDBServer(fixtures.Fixture):
    """A mariadbd of its own (own datadir, port, socket), root without a
    password on 127.0.0.1, with one database ``fenix``."""

    DATABASE = 'fenix'

    def __init__(self, workdir):
        super().__init__()
        self.dir = os.path.join(workdir, 'mariadb')
        self.proc = None
        self.port = None

    def _setUp(self):
        os.makedirs(self.dir, exist_ok=True)
        self.datadir = os.path.join(self.dir, 'data')
        result = _run([MARIADB_INSTALL_DB, '--no-defaults',
                       '--datadir=%s' % self.datadir, '--user=%s'
                       % _user(), '--auth-root-authentication-method=normal',
                       '--skip-test-db'], timeout=START_TIMEOUT)
        if result.returncode != 0:
            raise AssertionError('mariadb-install-db failed: %s %s'
                                 % (result.stdout, result.stderr))
        self.port = base.free_port()
        self.addCleanup(self._kill)
        self.start()
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute('CREATE DATABASE %s CHARACTER SET utf8mb4'
                            % self.DATABASE)
        finally:
            conn.close()

    @property
    def url(self):
        return ('mysql+pymysql://root@127.0.0.1:%d/%s?charset=utf8mb4'
                % (self.port, self.DATABASE))

    def _connect(self):
        return pymysql.connect(host='127.0.0.1', port=self.port,
                               user='root', password='',
                               connect_timeout=5)

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError('mariadbd exited with %s; see %s'
                                 % (self.proc.returncode, self.log))
        try:
            self._connect().close()
            return True
        except pymysql.err.OperationalError:
            return False

    def start(self):
        self.log = os.path.join(self.dir, 'server.log')
        with open(self.log, 'ab') as log:
            self.proc = subprocess.Popen(
                [MARIADBD, '--no-defaults', '--datadir=%s' % self.datadir,
                 '--port=%d' % self.port, '--bind-address=127.0.0.1',
                 '--socket=%s' % os.path.join(self.dir, 'sock'),
                 '--pid-file=%s' % os.path.join(self.dir, 'pid'),
                 '--user=%s' % _user(), '--skip-log-bin',
                 '--innodb-buffer-pool-size=32M'],
                stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        base.wait_for(self._answers, START_TIMEOUT, interval=0.2,
                      what='MariaDB on port %d' % self.port)

    def stop(self):
        """SIGTERM (a clean shutdown: connections drop, port closes)."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(STOP_TIMEOUT)

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)


class PostgreSQLServer(fixtures.Fixture):
    """A PostgreSQL server of its own (own data directory, port and socket
    directory), user ``postgres`` trusted on 127.0.0.1, with one database
    ``fenix``.

    postgres refuses to run as root: run by root, the data directory is
    made in a directory of its own owned by :data:`PG_SYSTEM_USER`, and
    initdb and the server run as that user (nothing else is needed: no
    sudo, no cluster of ``pg_createcluster``). Stopped with SIGINT (a
    "fast" shutdown: the server ends its clients' connections, as a
    fail-over does, where SIGTERM would wait for them to leave).
    """

    DATABASE = 'fenix'

    def __init__(self, workdir):
        super().__init__()
        self.workdir = workdir
        self.proc = None
        self.port = None

    def _setUp(self):
        self.user = None
        if os.getuid() == 0:
            self.user = pwd.getpwnam(PG_SYSTEM_USER)
            # The test's own directories are root's (mode 700): the
            # server's is a directory of its own, removed at the end.
            self.dir = tempfile.mkdtemp(prefix='fenix-pg-')
            self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        else:
            self.dir = os.path.join(self.workdir, 'postgresql')
            os.makedirs(self.dir, exist_ok=True)
        self.datadir = os.path.join(self.dir, 'data')
        result = _run([INITDB, '-D', self.datadir, '-U', 'postgres',
                       '--auth=trust', '--encoding=UTF8', '--no-locale',
                       '--no-sync'], timeout=START_TIMEOUT,
                      **self._as_user())
        if result.returncode != 0:
            raise AssertionError('initdb failed: %s %s'
                                 % (result.stdout, result.stderr))
        self.port = base.free_port()
        self.addCleanup(self._kill)
        self.start()
        conn = self._connect('postgres')
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("CREATE DATABASE %s ENCODING 'UTF8' "
                            "TEMPLATE template0" % self.DATABASE)
        finally:
            conn.close()

    def _as_user(self):
        if self.user is None:
            return {}
        return {'user': self.user.pw_uid, 'group': self.user.pw_gid,
                'extra_groups': [],
                'env': dict(os.environ, HOME=self.dir)}

    @property
    def url(self):
        return ('postgresql+psycopg2://postgres@127.0.0.1:%d/%s'
                % (self.port, self.DATABASE))

    def _connect(self, dbname=None):
        return psycopg2.connect(host='127.0.0.1', port=self.port,
                                user='postgres',
                                dbname=dbname or self.DATABASE,
                                connect_timeout=5)

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError('postgres exited with %s; see %s'
                                 % (self.proc.returncode, self.log))
        try:
            self._connect('postgres').close()
            return True
        except psycopg2.OperationalError:
            return False

    def start(self):
        self.log = os.path.join(self.dir, 'server.log')
        with open(self.log, 'ab') as log:
            if self.user is not None:
                os.chown(self.log, self.user.pw_uid, self.user.pw_gid)
            self.proc = subprocess.Popen(
                [POSTGRES, '-D', self.datadir, '-p', str(self.port),
                 '-c', 'listen_addresses=127.0.0.1',
                 '-c', 'unix_socket_directories=%s' % self.dir,
                 '-c', 'fsync=off', '-c', 'synchronous_commit=off',
                 '-c', 'full_page_writes=off',
                 '-c', 'shared_buffers=16MB', '-c', 'max_connections=200'],
                stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, **self._as_user())
        base.wait_for(self._answers, START_TIMEOUT, interval=0.2,
                      what='PostgreSQL on port %d' % self.port)

    def stop(self):
        """SIGINT: a fast shutdown (connections end, the port closes)."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(STOP_TIMEOUT)

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            # SIGQUIT: an immediate shutdown, the server's children
            # included (SIGKILL would leave them).
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)


def _user():
    return pwd.getpwuid(os.getuid()).pw_name


def elapsed(since):
    return time.monotonic() - since
