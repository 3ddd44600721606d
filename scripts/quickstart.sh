#!/usr/bin/env bash
# README command 1: builds everything it needs (cached), then runs the CPU quickstart scenario against a
# real llama-server and prints the capacity grid. Extra arguments go to `runner run`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v cargo >/dev/null || { echo "error: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }
. scripts/engine-env.sh
runner_engine_env
cargo build --release --quiet
exec ./target/release/runner run scenarios/quickstart_cpu.toml "$@"
