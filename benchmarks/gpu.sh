#!/usr/bin/env bash
# Issue 14's GPU check and benchmark as one command, for a machine with CUDA (docs/gpu.md).
#
#   bash benchmarks/gpu.sh                 # results in $OUT, or ./gpu-results
#   ROUNDS=5 bash benchmarks/gpu.sh
#
# The device machine's python3 holds PyTorch, CuPy, NumPy, SciPy and scikit-learn but not
# array-api-compat; it travels as a wheel in .whl/ (git-ignored; fetch it here with
#   python3 -m pip download --no-deps --only-binary=:all: array-api-compat -d .whl
# and name .whl in the device call's carry).  The checks run first: no speed is reported
# for code that does not compute the NumPy network's numbers.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu-results}"
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"
python3 benchmarks/gpu_check.py 2>&1 | tee "$out/check.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "gpu.sh: the checks failed; no benchmark run"; exit 1; }
python3 benchmarks/run.py --device cuda --impls chainrule-torch,torch,chainrule-cupy \
    --workloads W2,W3,wide --dtype float32 --rounds "${ROUNDS:-3}" \
    --output "$out/performance.md" --json "$out/results.json" 2>&1 | tee "$out/bench.log"
exit "${PIPESTATUS[0]}"
