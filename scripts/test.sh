#!/usr/bin/env bash
# README command 2 (and CI): builds the CPU engine if it is not cached, then runs every test, including
# the end-to-end tests against a real llama-server. With CI=true a missing engine fails those tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v cargo >/dev/null || { echo "error: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }
while IFS='=' read -r key value; do export "$key=$value"; done < <(scripts/setup-cpu-engine.sh)
cargo test --no-fail-fast "$@"
