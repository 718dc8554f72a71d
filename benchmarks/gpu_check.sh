#!/usr/bin/env bash
# The GPU check of issue 13, in at most 8 minutes: versions, the CUDA tests, then the scale
# benchmark (benchmarks/bench_gpu_scale.py: F = M = 2^18, then 2^20, d = 256), every stage
# under its own `timeout`, each writing into OUTDIR as it goes.
#
#   benchmarks/gpu_check.sh [OUTDIR]        (default benchmarks/results/gpu/)
#
# Without CUDA it prints one line and exits 0. To exercise the same stages on a CPU:
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_SIZES=512,1024 GPU_CHECK_DIM=32 benchmarks/gpu_check.sh /tmp/x
# Other knobs: GPU_CHECK_TESTS (pytest paths from the repository root, searched with
# -k cuda; default tests), GPU_CHECK_TIME_LIMIT (seconds per benchmark point, one value or
# one per size; default 100,230), PYTHON (default python). GPU_CHECK_DEVICE also reaches
# the tests: those of tests/device.py then run on that device (on a CPU: CPU against CPU).
#
# Budget (the defaults): versions ≤ 20 s, tests ≤ 90 s, benchmark ≤ 345 s (its points 100 s
# and 230 s plus process start-up and result writes), each + 5 s to kill: under 475 s in all.
# Exit status: 0 when every stage exited 0 (a benchmark point that timed out is recorded in
# its results, not an error), else 1; OUTDIR/gpu_check.txt has each stage's status and time.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# OUTDIR relative to the caller's directory; the stages then run from the repository root
OUT=$(realpath -m "${1:-$ROOT/benchmarks/results/gpu}")
cd "$ROOT" || exit 1

DEVICE=${GPU_CHECK_DEVICE:-cuda}
SIZES=${GPU_CHECK_SIZES:-262144,1048576}
DIM=${GPU_CHECK_DIM:-256}
TESTS=${GPU_CHECK_TESTS:-tests}
LIMITS=${GPU_CHECK_TIME_LIMIT:-100,230}
PY=${PYTHON:-python}

if [[ $DEVICE == cuda* ]]; then
    available=$("$PY" -c "import torch; print(torch.cuda.is_available())" 2>/dev/null)
    if [[ $available != True ]]; then
        echo "gpu_check: no CUDA device; nothing run"
        exit 0
    fi
fi

mkdir -p "$OUT"
status_file="$OUT/gpu_check.txt"
echo "gpu_check $(date -u '+%Y-%m-%d %H:%M:%S UTC') device=$DEVICE sizes=$SIZES dim=$DIM" >"$status_file"
failed=0

# stage NAME TIMEOUT_S COMMAND...: run it under `timeout` (which signals the whole process
# group, so a benchmark's child processes stop too) and record its exit status and time.
stage() {
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    timeout --kill-after=5 "$limit" "$@"
    local rc=$?
    echo "$name rc=$rc seconds=$((SECONDS - start)) limit=$limit" >>"$status_file"
    if [[ $rc -ne 0 ]]; then failed=1; fi
}

versions() {
    date -u
    git rev-parse HEAD 2>/dev/null
    nvidia-smi 2>&1 || echo "nvidia-smi: not available"
    "$PY" -c "
import platform, numpy, torch
print('python', platform.python_version(), 'numpy', numpy.__version__, 'torch', torch.__version__)
print('torch cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())
for i in range(torch.cuda.device_count()):
    print('device', i, torch.cuda.get_device_name(i))
"
}

stage versions 20 bash -c "$(declare -f versions); PY='$PY' versions" >"$OUT/versions.txt" 2>&1
# shellcheck disable=SC2086  # TESTS is a list of paths
stage cuda_tests 90 "$PY" -m pytest $TESTS -k cuda -q -p no:cacheprovider \
    --junitxml="$OUT/cuda_tests.xml" >"$OUT/cuda_tests.log" 2>&1
stage bench_gpu_scale 345 "$PY" benchmarks/bench_gpu_scale.py --sizes "$SIZES" --dim "$DIM" \
    --device "$DEVICE" --outdir "$OUT" --time-limit "$LIMITS" >"$OUT/bench_gpu_scale.log" 2>&1

echo "gpu_check: done in ${SECONDS} s, $([[ $failed -eq 0 ]] && echo 'every stage passed' || echo 'a stage failed'); see $status_file"
exit "$failed"
