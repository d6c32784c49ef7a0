#!/usr/bin/env bash
# One GPU check: the step-variant benchmark, the GPU-marked tests, then the scoring-throughput
# benchmark; results in $OUT/.
#
# Usage (from the repository root):
#   bash benchmarks/gpu_check.sh            # on a GPU machine (~5 min on an H200)
#   bash benchmarks/gpu_check.sh --tiny     # ~1 min smoke run of the same steps (any CPU)
#
# Writes $OUT/env.txt, $OUT/variants.txt, $OUT/pytest_gpu.txt, $OUT/throughput.txt, the JSON
# of both benchmarks and $OUT/status.txt (exit code of every step); $OUT defaults to
# /tmp/easyfirst_gpu_check. Each step has its own time limit, so whatever finished comes back
# even when a later step hangs. STEPS (default "variants,tests,throughput") picks steps.
# Needs, on the machine: torch with CUDA, numpy, scipy, scikit-learn, soundfile, tqdm, pytest
# (env.txt lists any that are missing); easyfirst itself is taken from ./src.
# Environment: PYTHON (default: python), TEST_TIMEOUT (s, default 300), BENCH_TIMEOUT
# (s, default 420), VARIANTS_TIMEOUT (s, default 150), BENCH_ARGS and VARIANTS_ARGS (extra
# arguments of the two benchmarks). Results of one run: benchmarks/results/h200-2026-11-26/.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/easyfirst_gpu_check}"
mkdir -p "$OUT"
PY="${PYTHON:-python}"
TINY=0
if [ "${1:-}" = "--tiny" ]; then TINY=1; fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
: > "$OUT/status.txt"

step() {  # step NAME LOGFILE TIMEOUT CMD...
    local name="$1" log="$2" limit="$3"
    shift 3
    local t0=$SECONDS
    timeout --signal=INT --kill-after=20 "$limit" "$@" > "$log" 2>&1
    local rc=$?
    echo "$name rc=$rc seconds=$((SECONDS - t0))" | tee -a "$OUT/status.txt"
    return 0
}

{
    date -u
    nvidia-smi 2>&1 || echo "nvidia-smi: not available"
    "$PY" - <<'EOF'
import os, platform, torch
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda)
print("cuda available", torch.cuda.is_available(), "cpus", os.cpu_count())
if torch.cuda.is_available():
    cap = torch.cuda.get_device_capability(0)
    print("device", torch.cuda.get_device_name(0), "capability", cap)
import importlib
missing = []
for mod in ("numpy", "scipy", "sklearn", "soundfile", "tqdm", "pytest", "easyfirst"):
    try:
        importlib.import_module(mod)
    except Exception as exc:  # report every missing piece at once
        missing.append(f"{mod} ({type(exc).__name__}: {exc})")
print("missing:", ", ".join(missing) if missing else "none")
EOF
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

if [ "$TINY" = 1 ]; then
    TESTS=(tests/training/test_stacking.py tests/training/test_precision.py)
    BENCH=(--smoke --threads 1)
    VARIANTS=(--smoke --batch-sizes 4)
else
    TESTS=(tests)
    BENCH=()
    VARIANTS=()
fi
STEPS="${STEPS:-variants,tests,throughput}"
want() { [[ ",$STEPS," == *",$1,"* ]]; }

if want variants; then
    # shellcheck disable=SC2086  # VARIANTS_ARGS is a word list on purpose
    step variants "$OUT/variants.txt" "${VARIANTS_TIMEOUT:-150}" \
        "$PY" -u benchmarks/gpu_step_variants.py "${VARIANTS[@]}" --json "$OUT/variants.json" \
        ${VARIANTS_ARGS:-}
    tail -n 40 "$OUT/variants.txt"
fi

if want tests; then
    # -m gpu selects the GPU-marked tests; without a GPU they are reported as skipped.
    step pytest_gpu "$OUT/pytest_gpu.txt" "${TEST_TIMEOUT:-300}" \
        "$PY" -m pytest -m gpu -q -p no:cacheprovider -rA "${TESTS[@]}"
    tail -n 25 "$OUT/pytest_gpu.txt"
fi

if ! want throughput; then cat "$OUT/status.txt"; exit 0; fi

# shellcheck disable=SC2086  # BENCH_ARGS is a word list on purpose
step throughput "$OUT/throughput.txt" "${BENCH_TIMEOUT:-420}" \
    "$PY" -u benchmarks/scoring_throughput.py "${BENCH[@]}" --json "$OUT/throughput.json" \
    ${BENCH_ARGS:-}
grep -v -i "userwarning\|check_worker_number" "$OUT/throughput.txt" | tail -n 40
cat "$OUT/status.txt"
