#!/bin/sh
# The notifier's test against a real Alertmanager (tests/integration/test_notify_alertmanager.py)
# runs Debian's prometheus-alertmanager: install it if missing (nothing downloads at run time).
set -e
if [ -x /usr/bin/prometheus-alertmanager ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "the Alertmanager test needs Debian's prometheus-alertmanager (it will be skipped):" >&2
    echo "  sudo apt-get install prometheus-alertmanager" >&2
    exit 0
fi
echo "installing prometheus-alertmanager from Debian's packages..."
export DEBIAN_FRONTEND=noninteractive
# Installed for its binary only: the tests start their own on a free loopback port.
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null; }; then
    echo "could not install prometheus-alertmanager: the Alertmanager test will be skipped" >&2
fi
