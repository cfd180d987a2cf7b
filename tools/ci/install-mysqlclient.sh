#!/usr/bin/env bash
# Install mysqlclient (the C MySQL/MariaDB driver: connection URLs
# mysql+mysqldb://...) into the Python environment given (default: the
# python3 on PATH), with the Debian/Ubuntu packages it builds against.
# Optional: Fenix runs on PyMySQL without it; CI does not need it.
set -eu
PYTHON=${1:-python3}
if ! pkg-config --exists libmariadb 2>/dev/null \
        && ! pkg-config --exists mysqlclient 2>/dev/null; then
    apt-get install -y libmariadb-dev pkg-config
fi
"$PYTHON" -m pip install 'mysqlclient>=2.2.0'
"$PYTHON" -c 'import MySQLdb; print("mysqlclient", ".".join(map(str, MySQLdb.version_info[:3])))'
