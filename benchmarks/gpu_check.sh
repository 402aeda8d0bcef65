#!/usr/bin/env bash
# One short run on a GPU machine: the CUDA test cases, then GPU-vs-CPU benchmarks, in under 6 minutes.
#
#   PYTHONPATH=. bash benchmarks/gpu_check.sh OUTDIR [--dry-run]
#
# --dry-run (no GPU needed): the env step, the CUDA tests collected but not run, and the
# bookkeeping; every other step is only listed in summary.txt with its cap.
# Needs CuPy, torch, numpy, pytest and hypothesis already installed (nothing is installed here).
# Every step runs under `timeout` within one overall budget, and a failing step does not stop the
# next. OUTDIR receives a few files: summary.txt (step exit codes and times), nvidia-smi.txt,
# pytest_cuda.log, bench_results.md, results_*.json, and gpu_check.tar.gz holding everything
# (logs, JSON, markdown and PNG plots of each benchmark run).
set -uo pipefail

OUTDIR="${1:?usage: gpu_check.sh OUTDIR [--dry-run]}"
DRY_RUN=0
[[ "${2:-}" == "--dry-run" ]] && DRY_RUN=1
BUDGET_S="${GPU_CHECK_BUDGET_S:-340}"
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
WORK="$(mktemp -d)"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" CI=true PYTHONUNBUFFERED=1 MPLBACKEND=Agg
unset THW_TEST_CUDA_STANDIN      # the real GPU, never the tests' stand-in
START=$(date +%s)
SUMMARY="$WORK/summary.txt"

# step NAME CAP_S CMD...: run CMD with at most CAP_S seconds (less if the budget is nearly spent),
# log to $WORK/NAME.log, and record the exit status (124: timed out) in the summary.
step() {
    local name=$1 cap=$2; shift 2
    local left=$(( BUDGET_S - ($(date +%s) - START) ))
    (( cap > left )) && cap=$left
    if (( cap < 10 )); then
        echo "$name: skipped (budget spent)" | tee -a "$SUMMARY"
        return 0
    fi
    if (( DRY_RUN )) && [[ $name != env && $name != pytest_cuda ]]; then
        echo "$name: dry run (cap $cap s): $*" | tee -a "$SUMMARY"
        return 0
    fi
    (( DRY_RUN )) && [[ $name == pytest_cuda ]] && set -- "$@" --collect-only
    local t0=$(date +%s)
    timeout --kill-after=5 "$cap" "$@" >"$WORK/$name.log" 2>&1
    local rc=$?
    echo "$name: exit $rc in $(( $(date +%s) - t0 )) s (cap $cap s): $*" | tee -a "$SUMMARY"
    tail -n 5 "$WORK/$name.log"
}

{ date -u; uname -a; echo; } >"$SUMMARY"
step nvidia-smi 15 nvidia-smi
cp "$WORK/nvidia-smi.log" "$OUTDIR/nvidia-smi.txt" 2>/dev/null
step env 30 python -c "
import numpy, tinygrad_hw as thw
print('numpy', numpy.__version__)
try:
    import cupy; print('cupy', cupy.__version__)
except Exception as e: print('cupy import failed:', e)
try:
    import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())
except Exception as e: print('torch import failed:', e)
print('thw.cuda.is_available()', thw.cuda.is_available())"
cat "$WORK/env.log" >>"$SUMMARY" 2>/dev/null

# Every CUDA case has 'cuda' in its test id (the device fixture); -rs lists any that still skip.
step pytest_cuda 150 python -m pytest tests -q -k cuda -rs --durations=15 -p no:cacheprovider \
    --junitxml="$WORK/pytest_cuda.xml"
# NCCL through CuPy, one rank per GPU under mpiexec (skips with a reason on a single-GPU machine)
step pytest_nccl 60 python -m pytest tests/test_distributed.py -q -k nccl -rs -p no:cacheprovider

# ResNet-20 (batch 128 included) first, GPU first, then the fast workloads over the full sweep
# (gives the crossover). A benchmark stopped by its timeout still writes what it measured.
step bench_resnet20 80 python -m benchmarks --workloads resnet20 --devices cuda cpu \
    --batch-sizes 16 64 128 256 --repeats 2 --warmup 1 --min-rep-s 0.0 --settle-s 0.1 \
    --no-include-ops --no-include-memory --no-include-overhead --out "$WORK/bench_resnet20"
step bench_small 70 python -m benchmarks --workloads mlp lenet5 --devices cpu cuda \
    --batch-sizes 1 16 64 256 --repeats 3 --warmup 2 --min-rep-s 0.05 --settle-s 0.1 \
    --no-include-ops --no-include-memory --include-overhead --out "$WORK/bench_small"
if [[ -f benchmarks/ops.py ]]; then
    step bench_ops 30 python -m benchmarks.ops --quick
fi
step nvidia-smi-after 10 nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu \
    --format=csv
cat "$WORK/nvidia-smi-after.log" >>"$OUTDIR/nvidia-smi.txt" 2>/dev/null

echo "total: $(( $(date +%s) - START )) s" | tee -a "$SUMMARY"
cp "$SUMMARY" "$OUTDIR/summary.txt"
cp "$WORK/pytest_cuda.log" "$OUTDIR/pytest_cuda.log" 2>/dev/null
for run in bench_small bench_resnet20; do
    [[ -f "$WORK/$run/results.json" ]] && cp "$WORK/$run/results.json" "$OUTDIR/results_$run.json"
    if [[ -f "$WORK/$run/results.md" ]]; then
        { echo "<!-- $run -->"; cat "$WORK/$run/results.md"; echo; } >>"$OUTDIR/bench_results.md"
    fi
done
[[ -f "$WORK/bench_ops.log" ]] && { echo "## ops"; cat "$WORK/bench_ops.log"; } >>"$OUTDIR/bench_results.md"
tar czf "$OUTDIR/gpu_check.tar.gz" -C "$WORK" .
rm -rf "$WORK"
exit 0
