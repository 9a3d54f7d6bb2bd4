#!/usr/bin/env bash
# The one command to run on a CUDA machine (docs/gpu.md): installs .[cuda12,test], then runs
# the device check, the test suite on cpu+cuda, the NVRTC compile of every kernel, the
# benchmarks on cuda, and Fashion-MNIST CNN training in float32 and with --amp; prints one
# summary table. Exit status: 0 only if every step passed; 1 if any failed; 2 when there
# is no GPU (nothing verified).
#
# Environment: PYTHON (default python3) creates .venv when missing; CUDA_EXTRA=cuda13 for
# CUDA 13; EPOCHS (default 3) for the Fashion-MNIST runs; LOG_DIR (default
# runs/gpu-acceptance) keeps each step's full output.
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
CUDA_EXTRA=${CUDA_EXTRA:-cuda12}
EPOCHS=${EPOCHS:-3}
LOG_DIR=${LOG_DIR:-runs/gpu-acceptance}
PY=.venv/bin/python
STEPS=(install check suite cuda-compile bench fmnist-float32 fmnist-amp)
declare -A STATUS SECONDS_TAKEN DETAIL

summary() {
    echo
    echo "gradflow GPU acceptance"
    printf '%-16s %-10s %10s  %s\n' step status seconds detail
    printf -- '-%.0s' {1..72}; echo
    for step in "${STEPS[@]}"; do
        printf '%-16s %-10s %10s  %s\n' "$step" "${STATUS[$step]:-not run}" \
            "${SECONDS_TAKEN[$step]:--}" "${DETAIL[$step]:-}"
    done
}

gpu_reason() {  # prints why there is no usable GPU; empty output means there is one
    if ! command -v nvidia-smi >/dev/null 2>&1; then
        echo "nvidia-smi: not found"
    elif ! nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
        echo "nvidia-smi lists no GPU"
    fi
}

reason=$(gpu_reason)
if [ -n "$reason" ]; then
    for step in "${STEPS[@]}"; do DETAIL[$step]="no GPU"; done
    summary
    echo
    echo "no GPU: nothing verified ($reason)"
    exit 2
fi

mkdir -p "$LOG_DIR"
failed=0
run_step() {  # run_step NAME COMMAND...: runs it, logs it, records status and time
    local name=$1; shift
    local log="$LOG_DIR/$name.log" start=$SECONDS
    echo "== $name: $*"
    if "$@" >"$log" 2>&1; then
        STATUS[$name]=passed
    else
        STATUS[$name]=FAILED; failed=1
        tail -n 20 "$log"
    fi
    SECONDS_TAKEN[$name]=$((SECONDS - start))
    DETAIL[$name]="log: $log"
}

install() {
    { [ -x "$PY" ] || "$PYTHON" -m venv .venv; } &&
        "$PY" -m pip install -q --upgrade pip &&
        "$PY" -m pip install -q -e ".[$CUDA_EXTRA,test,test-cuda-compile,bench]" &&
        "$PY" -c "import gradflow as gf; assert gf.cuda.is_available(), gf.cuda.why_unavailable()"
}

train() {  # train LOGNAME EXTRA_ARGS...: Fashion-MNIST CNN on cuda; detail = accuracy, epoch time
    local name=$1; shift
    run_step "$name" "$PY" -m gradflow train --dataset fashion-mnist --model cnn --device cuda \
        --epochs "$EPOCHS" --download --no-progress --out "$LOG_DIR/$name" "$@"
    local line
    line=$(grep -Eo 'test accuracy [0-9.]+ after [0-9]+ epochs, [0-9.]+s' "$LOG_DIR/$name.log")
    if [ -n "$line" ]; then
        local accuracy total
        accuracy=$(echo "$line" | awk '{print $3}')
        total=$(echo "$line" | awk '{print $7}' | tr -d 's')
        DETAIL[$name]="test accuracy $accuracy, $(awk -v t="$total" -v e="$EPOCHS" \
            'BEGIN {printf "%.1f", t / e}') s/epoch"
    fi
}

run_step install install
if [ "${STATUS[install]}" = passed ]; then
    run_step check "$PY" -m gradflow check --devices cpu,cuda --require-gpu
    run_step suite "$PY" -m pytest -q -x --gradflow-devices=cpu,cuda --gradflow-require-gpu
    run_step cuda-compile "$PY" -m gradflow.backends.nvrtc
    run_step bench make bench DEVICE=cuda
    train fmnist-float32
    train fmnist-amp --amp
fi
summary
if [ "$failed" -ne 0 ]; then
    echo; echo "FAILED: see the logs in $LOG_DIR"; exit 1
fi
echo; echo "all passed"
exit 0
