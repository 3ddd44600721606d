# Sourced by scripts/quickstart.sh and scripts/test.sh: runs scripts/setup-cpu-engine.sh and exports
# exactly the two variables of its contract. Any other line on its standard output is an error (the
# contract is broken), and so is a setup that fails or leaves a path that does not exist.
# Usage: . scripts/engine-env.sh && runner_engine_env
runner_engine_env() {
  local here out line
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  out="$("$here/setup-cpu-engine.sh")" || { echo "error: scripts/setup-cpu-engine.sh failed (its messages are above)" >&2; return 1; }
  unset RUNNER_LLAMA_SERVER RUNNER_TINY_MODEL
  while IFS= read -r line; do
    case "$line" in
      RUNNER_LLAMA_SERVER=/*) export RUNNER_LLAMA_SERVER="${line#RUNNER_LLAMA_SERVER=}" ;;
      RUNNER_TINY_MODEL=/*) export RUNNER_TINY_MODEL="${line#RUNNER_TINY_MODEL=}" ;;
      *) echo "error: scripts/setup-cpu-engine.sh printed a line outside its contract: '$line'" >&2; return 1 ;;
    esac
  done <<<"$out"
  [ -x "${RUNNER_LLAMA_SERVER:-}" ] || { echo "error: setup did not hand over an executable RUNNER_LLAMA_SERVER" >&2; return 1; }
  [ -f "${RUNNER_TINY_MODEL:-}" ] || { echo "error: setup did not hand over an existing RUNNER_TINY_MODEL" >&2; return 1; }
}

# The same for scripts/setup-vllm-cpu.sh (vLLM's CPU build and the tiny Hugging Face model): exports
# RUNNER_VLLM and RUNNER_TINY_HF_MODEL. Needs the cache that runner_engine_env filled (the llama.cpp
# source holds the tokenizer and chat template).
# Usage: . scripts/engine-env.sh && runner_engine_env && runner_vllm_env
runner_vllm_env() {
  local here out line
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  out="$("$here/setup-vllm-cpu.sh")" || { echo "error: scripts/setup-vllm-cpu.sh failed (its messages are above)" >&2; return 1; }
  unset RUNNER_VLLM RUNNER_TINY_HF_MODEL
  while IFS= read -r line; do
    case "$line" in
      RUNNER_VLLM=/*) export RUNNER_VLLM="${line#RUNNER_VLLM=}" ;;
      RUNNER_TINY_HF_MODEL=/*) export RUNNER_TINY_HF_MODEL="${line#RUNNER_TINY_HF_MODEL=}" ;;
      *) echo "error: scripts/setup-vllm-cpu.sh printed a line outside its contract: '$line'" >&2; return 1 ;;
    esac
  done <<<"$out"
  [ -x "${RUNNER_VLLM:-}" ] || { echo "error: setup did not hand over an executable RUNNER_VLLM" >&2; return 1; }
  [ -f "${RUNNER_TINY_HF_MODEL:-}/config.json" ] || { echo "error: setup did not hand over a model folder in RUNNER_TINY_HF_MODEL" >&2; return 1; }
}
