#!/bin/sh
# The browser tests drive Debian's chromium (no browser download at run time) and need
# CJK fonts for the Chinese wall display. Install both if missing.
set -e
have_fonts() { fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; }
if [ -x /usr/bin/chromium ] && have_fonts; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "browser tests need Debian's chromium and fonts-noto-cjk:" >&2
    echo "  sudo apt-get install chromium fonts-noto-cjk" >&2
    exit 1
fi
echo "installing chromium and fonts-noto-cjk from Debian's packages..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
