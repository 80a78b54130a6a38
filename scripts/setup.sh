#!/bin/sh
# Set up Vigil in a virtualenv at .venv/ in the repo root: pinned dependencies from requirements.lock,
# then Vigil itself in editable mode. Safe to run again; it only installs what is missing.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: Vigil needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
    exit 2
fi
# libarchive-c binds the system libarchive; hyperscan and yara-x ship their native code in their wheels.
if ! ldconfig -p 2>/dev/null | grep -q 'libarchive\.so'; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libarchive13 >/dev/null
    else
        echo "setup: libarchive is missing; install it (Debian: apt-get install libarchive13)" >&2
    fi
fi
if [ ! -x .venv/bin/python ] && ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
    # Debian splits venv support out of the interpreter package
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
        echo "setup: $PYTHON cannot create virtualenvs; install python3-venv" >&2
        exit 2
    fi
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.vigil-lock
if [ ! -f "$stamp" ] || ! cmp -s requirements.lock "$stamp"; then
    .venv/bin/pip install -q --disable-pip-version-check -r requirements.lock
    cp requirements.lock "$stamp"
fi
.venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . >/dev/null 2>&1 \
    || .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
# Byte-compile like a regular (non-editable) install does, so start-up never pays for compiling,
# even where PYTHONDONTWRITEBYTECODE is set.
.venv/bin/python -m compileall -q src >/dev/null
