#!/usr/bin/env bash
# Installs uvscope with its GUI and test extras into the current Python environment.
# Without an NVIDIA GPU it installs the CPU build of PyTorch first (a plain `torch`
# requirement would pull a several-GB CUDA build); with one, pip picks a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    "$PY" -m pip install -q "torch>=2.2,<3"
  else
    "$PY" -m pip install -q "torch==2.13.0"
  fi
fi
"$PY" -m pip install -q -e ".[gui,test]"
