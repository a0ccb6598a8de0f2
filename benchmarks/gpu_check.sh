#!/usr/bin/env bash
# The GPU check in one short run (under 8 minutes on an H100-class machine):
#   bash benchmarks/gpu_check.sh                  # on a CUDA machine: install, CUDA tests, figures
#   bash benchmarks/gpu_check.sh --device cpu --quick --no-install   # the same steps on CPU, seconds
# 1. installs uvscope from this checkout (scripts/install.sh keeps a CUDA torch that is there);
# 2. runs the CUDA tests (CPU/CUDA agreement per network, the pipeline's cells on both);
# 3. benchmarks/bench_gpu.py: small and paper-sized networks in bf16 at batch 1-16 (tiles/s,
#    FLOPs per tile, fraction of the GPU's bf16 limit), the pipeline sequential vs overlapped,
#    the lag from the last tile to the differential;
# 4. benchmarks/bench_scan_analysis.py on the real-time simulated rig: scan with / without
#    analysis and the time from the last tile to every end product (differential, stained mosaic).
# Figures go to stdout and to $OUT (default gpu_check_out/); copy them into benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEVICE=cuda QUICK="" INSTALL=1
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --quick) QUICK=--quick; shift ;;
    --no-install) INSTALL=0; shift ;;
    *) echo "unknown option $1 (use --device cpu|cuda, --quick, --no-install)" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
export PYTHONPATH=.
t0=$(date +%s)
step() { echo; echo "== $1 ($(( $(date +%s) - t0 )) s)"; }

if [ "$INSTALL" = 1 ]; then
  step "install"
  bash scripts/install.sh
fi
step "device"
"$PY" - "$DEVICE" <<'PYEOF' | tee "$OUT/device.txt"
import sys, torch
dev = sys.argv[1]
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if dev == "cuda":
    if not torch.cuda.is_available():
        sys.exit("no CUDA device visible to torch: install a CUDA build of torch first")
    p = torch.cuda.get_device_properties(0)
    print(p.name, f"{p.total_memory / 2**30:.0f} GiB", f"{p.multi_processor_count} SMs")
PYEOF

step "CUDA tests (skipped without a GPU)"
timeout 240 "$PY" -m pytest -q -p no:cacheprovider -m cuda tests/models/test_cuda.py \
  tests/models/test_registry.py \
  2>&1 | tee "$OUT/cuda_tests.txt"

step "networks, pipeline, lag"
timeout 300 "$PY" benchmarks/bench_gpu.py --device "$DEVICE" $QUICK 2>&1 | tee "$OUT/bench_gpu.txt"

if [ -z "$QUICK" ]; then
  step "scan on the real-time simulated rig, with and without analysis"
  timeout 150 "$PY" benchmarks/bench_scan_analysis.py --device "$DEVICE" --rows 3 --columns 4 \
    2>&1 | tee "$OUT/bench_scan_analysis.txt"
fi
step "done"
