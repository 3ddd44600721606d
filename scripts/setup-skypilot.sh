#!/usr/bin/env bash
# Installs SkyPilot's Python package (skypilot==0.14.1, ~30 s and ~460 MB once) into the runner's cache,
# so the tests can check `runner fleet --scheduler skypilot` task files with SkyPilot's own validation
# (`sky.Task.from_yaml`, which needs no cloud account). Idempotent.
#   ${RUNNER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runner}/skypilot-0.14.1
# Contract: standard output carries exactly one line, RUNNER_SKY_PYTHON=<path>; all else goes to
# standard error.
set -euo pipefail
exec 3>&1 1>&2

VERSION="0.14.1"
CACHE="${RUNNER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runner}"
VENV="$CACHE/skypilot-$VERSION"
say() { printf '[setup-skypilot] %s\n' "$*" >&2; }
die() { printf '[setup-skypilot] error: %s\n' "$*" >&2; exit 1; }

command -v python3 >/dev/null || die "'python3' is not installed (on Debian: apt-get install python3 python3-venv)"
installed() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sky' 2>/dev/null; }
if ! installed; then
  say "installing skypilot==$VERSION into $VENV (about 30 s, once)"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "skypilot==$VERSION" \
    || die "pip could not install skypilot==$VERSION (is PyPI reachable?)"
  installed || die "skypilot installed but 'import sky' fails"
fi
echo "RUNNER_SKY_PYTHON=$VENV/bin/python" >&3
