#!/usr/bin/env bash
# Install headless Chromium and its WebDriver from Debian's packages if
# they are missing: the functional test of the web dashboard
# (fenix/tests/functional/test_dashboard.py) drives them with Selenium.
# CI runs as root on a fresh Debian machine. Idempotent.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    echo "chromium and chromedriver are installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "chromium or chromedriver is missing: run as root, or" \
         "apt-get install chromium chromium-driver" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium chromium-driver
chromium --version
chromedriver --version
