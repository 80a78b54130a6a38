#!/bin/sh
# Set up everything the tests need (Debian packages for the reference ClamAV tools, the virtualenv),
# then run lint, type checks and the whole test suite. Extra arguments go to pytest.
set -eu
cd "$(dirname "$0")/.."
need=""
command -v clamscan >/dev/null || need="$need clamav"
command -v clamdscan >/dev/null || need="$need clamdscan"
command -v clamd >/dev/null || need="$need clamav-daemon"
command -v sigtool >/dev/null || need="$need clamav"
command -v yara >/dev/null || need="$need yara"
[ -d /usr/share/clamav-testfiles ] || need="$need clamav-testfiles"
command -v 7z >/dev/null || need="$need p7zip-full"
command -v minisign >/dev/null || need="$need minisign"
command -v bsdtar >/dev/null || need="$need libarchive-tools"
command -v makensis >/dev/null || need="$need nsis"
command -v arj >/dev/null || need="$need arj"
command -v extract_chmLib >/dev/null || need="$need libchm-bin"
command -v gcab >/dev/null || need="$need gcab"
if [ -n "$need" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "test: missing Debian packages:$need (run as root or install them)" >&2
        exit 2
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
sh scripts/setup.sh
.venv/bin/pip install -q --disable-pip-version-check --no-deps -e '.[dev]' >/dev/null
.venv/bin/ruff check src tests bench
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
