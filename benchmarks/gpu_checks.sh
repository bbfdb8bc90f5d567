#!/usr/bin/env bash
# Every check that needs a CUDA GPU, in one run (a few minutes on one H100-class GPU):
#
#   bash benchmarks/gpu_checks.sh [RESULTS_DIR]
#
# 0. benchmarks/solver_device.py: the solvers on the GPU against the host in one run (targets:
#    the 4.32 M-cell TSV stack by cg-mg in <= 0.1 s, V- and W-cycle; the 8.96 M-cell uniform
#    transform solve in <= 20 ms; 1,000 `volumetric` right-hand sides at >= 1,000 solves/s),
#    then the solvers' GPU tests (pytest -m gpu tests/solvers tests/cli);
# 1. benchmarks/training.py --device cuda --batch 32: separable vs point trunks, time per step
#    and peak memory, each step run eagerly and recorded as a CUDA graph (target: 62x faster,
#    31x less memory); then on a 41x41x21 grid in every mode (the point trunk's cost grows with
#    the points, the separable one's with the points per axis); later (step 5) the 21x21x11
#    grid with the loss compiled and recorded;
# 2. benchmarks/inference.py --device cuda --batch 1024: `surface` predictions per second
#    (target: 10,000/s) against the reference solver, and the same for `surface_modal`; then
#    chiptherm predict-batch on 10,240 maps (peaks and layer maxima of every field);
# 3. chiptherm train configs/volumetric.yaml --device cuda, then evaluate it against solves on
#    a 2x finer grid (target: trained to MAPE < 0.035 %, peak error < 0.5 K within 8 minutes);
# 4. the GPU tests (pytest -m gpu);
# 5. benchmarks/training.py with the compiled modes (compiling takes a while, so it comes after
#    the checks above);
# 6. chiptherm train configs/surface.yaml --device cuda, compiled and recorded as a CUDA graph,
#    and eagerly, and an evaluation of the fast run (training time on a GPU).
#
# Runs from the source tree (PYTHONPATH=src, no install needed where the dependencies are
# present; PYTHON picks the interpreter). One log (gpu_checks.log) and the JSON results land in
# RESULTS_DIR (default benchmarks/results). A failing step is reported and the others still run.
# DEVICE=cpu QUICK=1 bash benchmarks/gpu_checks.sh /tmp/dry   rehearses the plumbing on a CPU
# (small batches; its numbers mean nothing). SKIP="training-compiled train-surface-eager" leaves
# out the named steps (names as printed after "=="). BUDGET=540 gives the whole run 540 s: each
# step is stopped when the budget runs out and the steps after it are skipped, so the log and
# the results so far always come back. The steps run in order of importance: the targets first
# (training step, inference, volumetric training), then the GPU tests and the rest.
set -uo pipefail
cd "$(dirname "$0")/.."
out="$(mkdir -p "${1:-benchmarks/results}" && cd "${1:-benchmarks/results}" && pwd)"
py="${PYTHON:-python3}"
device="${DEVICE:-cuda}"
if [ "$device" = cpu ]; then  # graphs need a GPU
    fast_modes=eager compiled_modes=compile
else
    fast_modes=eager,graph compiled_modes=compile+graph
fi
if [ -n "${QUICK:-}" ]; then
    train_args=(--quick) infer_args=(--batch 16 --batches 1 --solves 1) maps=2
else
    train_args=(--batch 32) infer_args=(--batch 1024) maps=16
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
log="$out/gpu_checks.log"
: >"$log"
run_dir="$(mktemp -d)"

budget="${BUDGET:-0}"  # seconds for the whole run; 0: no limit

step() {
    local name=$1
    shift
    if [[ " ${SKIP:-} " == *" $name "* ]]; then
        echo "== $name: skipped (SKIP)" | tee -a "$log"
        return
    fi
    local limit=()
    if [ "$budget" -gt 0 ]; then
        local left=$((budget - SECONDS))
        if [ "$left" -lt 10 ]; then
            echo "== $name: skipped (budget of $budget s spent)" | tee -a "$log"
            return
        fi
        limit=(timeout --kill-after=5 "$left")
    fi
    local start=$SECONDS
    echo "== $name: $*" | tee -a "$log"
    "${limit[@]}" "$@" 2>&1 | tee -a "$log"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$log"
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true; } \
    2>&1 | tee -a "$log"
"$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" \
    2>&1 | tee -a "$log"
solver_args=()
[ -n "${QUICK:-}" ] && solver_args=(--quick --repeats 1)
step solver-device "$py" benchmarks/solver_device.py --device "$device" "${solver_args[@]}" \
    --out "$out/solver_${device}.json"
step tests-solvers "$py" -m pytest -q -m gpu tests/solvers tests/cli -p no:cacheprovider
step training "$py" benchmarks/training.py --device "$device" "${train_args[@]}" \
    --modes "$fast_modes" --results "$out"
large=(--collocation 41 --nz 21)
[ -n "${QUICK:-}" ] && large=(--collocation 11 --nz 6)
step training-large "$py" benchmarks/training.py --device "$device" "${train_args[@]}" "${large[@]}" \
    --modes "$fast_modes,$compiled_modes" --name "training_${device}_${large[1]}x${large[1]}x${large[3]}" \
    --results "$out"
step inference "$py" benchmarks/inference.py --device "$device" "${infer_args[@]}" --results "$out"
step inference-modal "$py" benchmarks/inference.py --device "$device" "${infer_args[@]}" \
    --model surface_modal --results "$out"
nmaps=$([ -n "${QUICK:-}" ] && echo 64 || echo 10240)
"$py" -c "import numpy as np, sys; np.save(sys.argv[1], np.random.default_rng(0).uniform(0, 4e-7, (int(sys.argv[2]), 21, 21)))" \
    "$run_dir/maps.npy" "$nmaps"
step predict-batch "$py" -m chiptherm predict-batch surface "$run_dir/maps.npy" --device "$device" \
    --batch "${infer_args[1]}" --out "$run_dir/batch" --quiet
step train-volumetric "$py" -m chiptherm train configs/volumetric.yaml --device "$device" \
    --out "$run_dir/volumetric" --quiet
step evaluate-volumetric "$py" -m chiptherm evaluate "$run_dir/volumetric" --kind blocks \
    --maps "$maps" --refine 2 --out "$out/volumetric_accuracy_$device.json"
cp "$run_dir/volumetric/model.json" "$out/volumetric_${device}_model.json" 2>/dev/null
step tests "$py" -m pytest -q -m gpu tests -p no:cacheprovider
step training-compiled "$py" benchmarks/training.py --device "$device" "${train_args[@]}" \
    --modes "$compiled_modes" --name "training_${device}_compiled" --results "$out"
steps=()
[ -n "${QUICK:-}" ] && steps=(--steps 20)
step train-surface-graph "$py" -m chiptherm train configs/surface.yaml --device "$device" \
    --cuda-graph --compile --out "$run_dir/surface_graph" --quiet "${steps[@]}"
cp "$run_dir/surface_graph/model.json" "$out/surface_${device}_graph_model.json" 2>/dev/null
step evaluate-surface-graph "$py" -m chiptherm evaluate "$run_dir/surface_graph" \
    --maps "$maps" --out "$out/surface_accuracy_${device}_graph.json"
step train-surface-eager "$py" -m chiptherm train configs/surface.yaml --device "$device" \
    --no-cuda-graph --out "$run_dir/surface_eager" --quiet "${steps[@]}"
cp "$run_dir/surface_eager/model.json" "$out/surface_${device}_eager_model.json" 2>/dev/null
rm -rf "$run_dir"
echo "results in $out" | tee -a "$log"
