#!/usr/bin/env bash
# Opens a rendered report.html in headless Chromium and saves a screenshot, to check that the page
# loads and its SVG charts render. Installs Debian's chromium if it is missing (needs root/apt).
#   scripts/screenshot-report.sh results/<scenario>/<run>/reports/report.html [out.png]
set -euo pipefail
html="$(realpath "${1:?usage: $0 REPORT_HTML [OUT_PNG]}")"
out="$(realpath -m "${2:-${html%.html}.png}")"
if ! command -v chromium >/dev/null; then
  echo "installing chromium (Debian package)..." >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size=1200,2400 \
  --screenshot="$out" "file://$html" >/dev/null 2>&1
[ -s "$out" ] || { echo "error: no screenshot written" >&2; exit 1; }
echo "$out"
