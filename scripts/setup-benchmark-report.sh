#!/usr/bin/env bash
# Installs the llm-d Benchmark Report package (llmd-benchmark-report==0.2.1, its schema's own
# validator, ~60 MB once) into the runner's cache, so the tests can validate the documents
# `runner export --format benchmark-report` writes with the schema's own pydantic models.
#   ${RUNNER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runner}/benchmark-report-0.2.1
# Provenance: the package is published to PyPI from github.com/llm-d/llm-d-benchmark by its
# `br-release` workflow (trusted publishing; see its METADATA). Its wheel is installed only when its
# SHA-256 is the one pinned below (the file PyPI served on 2026-12-07); its dependencies (pydantic,
# PyYAML, numpy) come from PyPI at the pinned versions.
# Contract: standard output carries exactly one line, RUNNER_BR_PYTHON=<path>; all else goes to
# standard error.
set -euo pipefail
exec 3>&1 1>&2

VERSION="0.2.1"
WHEEL_SHA256="8690b8432e4872cd928edc6755d82ee95096d52064b80afc3bb35c2afdbf657e"
CACHE="${RUNNER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runner}"
VENV="$CACHE/benchmark-report-$VERSION"
say() { printf '[setup-benchmark-report] %s\n' "$*" >&2; }
die() { printf '[setup-benchmark-report] error: %s\n' "$*" >&2; exit 1; }

command -v python3 >/dev/null || die "'python3' is not installed (on Debian: apt-get install python3 python3-venv)"
installed() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import llmd_benchmark_report.core, importlib.metadata as m; assert m.version("llmd-benchmark-report") == "'"$VERSION"'"' 2>/dev/null
}
if ! installed; then
  say "installing llmd-benchmark-report==$VERSION into $VENV (about 20 s, once)"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  pip=("$VENV/bin/pip" install --quiet --disable-pip-version-check)
  "${pip[@]}" "pydantic==2.14.4" "PyYAML==6.0.4" "numpy==2.4.6" || die "pip could not install pydantic, PyYAML and numpy (is PyPI reachable?)"
  req="$(mktemp)"
  trap 'rm -f "$req"' EXIT
  echo "llmd-benchmark-report==$VERSION --hash=sha256:$WHEEL_SHA256" >"$req"
  "${pip[@]}" --no-deps --require-hashes -r "$req" || die "pip could not install llmd-benchmark-report==$VERSION with the pinned hash (PyPI unreachable, or the file changed)"
  installed || die "llmd-benchmark-report installed but 'import llmd_benchmark_report' fails"
fi
echo "RUNNER_BR_PYTHON=$VENV/bin/python" >&3
