#!/usr/bin/env bash
# Everything issue 12 asks of a GPU, in one call of the device tool: the CUDA tests, the
# per-device benchmarks (step time, 100-network ensemble, bf16) and the paper-scale Deutsch MNIST
# run (13,000 steps, then `evaluate` of 100 networks on the test set and notMNIST detection).
#
# Here, once, in the repository root (the data travel inside the repo, ignored by git):
#     bash bench/gpu_session.sh prepare ../shared/data
# then the device tool's run, with carry [".gpu-data"] and a timeout_s of 600 (or LIMIT=N for
# the N seconds the tool grants). A session holds 15 device minutes and a machine takes 1-2 to
# start, so one call of 600 s leaves no time to rerun after a mistake: PARTS picks the sections
# (tests, bench, train; all by default), e.g. `PARTS=tests,bench LIMIT=300` first, then
# `PARTS=train LIMIT=N` with what is left (a shorter run, evaluated at its last checkpoint):
#     bash bench/gpu_session.sh run
# The results come back under $OUT (at most 8 files): log.txt, the three benchmarks' JSON and
# run.tar, the run folder. Where BUDGET stopped the run before its 13,000 steps, its last
# checkpoint (every 250 steps) records the step and the training time to it, and evaluate and
# ood report that checkpoint.
#
# Rehearsed on the CPU, small (the device tool never runs it where there is no GPU):
#     OUT=/tmp/gpu-out DEVICE=cpu STEPS=20 NETWORKS=4 ROUNDS=1 bash bench/gpu_session.sh run
set -uo pipefail

mode=${1:-run}
if [[ $mode == prepare ]]; then
    src=${2:?usage: bash bench/gpu_session.sh prepare DATA_DIR}
    mkdir -p .gpu-data
    cp -r "$src/mnist" "$src/notmnist-small" .gpu-data/
    cp "$src/SHA256SUMS" .gpu-data/ 2>/dev/null || true
    grep -qx '/.gpu-data/' .git/info/exclude 2>/dev/null || echo '/.gpu-data/' >> .git/info/exclude
    du -sh .gpu-data
    exit 0
fi
[[ $mode == run ]] || { echo "usage: bash bench/gpu_session.sh prepare DATA_DIR | run" >&2; exit 2; }

# The device tool sets OUT; a rehearsal without it writes outside the repository (a run.tar left
# in the working tree would travel with the next call, near its 64 MiB).
OUT=${OUT:-/tmp/gpu-out}
DEVICE=${DEVICE:-cuda}
DATA=${DATA:-.gpu-data}
STEPS=${STEPS:-13000}
NETWORKS=${NETWORKS:-100}
ROUNDS=${ROUNDS:-4}
# Seconds from the start: training stops at BUDGET (keeping its last checkpoint), evaluate and
# ood at HARD, inside the call's LIMIT: pass the limit the device tool grants (less than 600 s
# where little device time is left), e.g. `LIMIT=420 bash bench/gpu_session.sh run`.
LIMIT=${LIMIT:-600}
PARTS=${PARTS:-tests,bench,train}
part() { [[ ,$PARTS, == *,$1,* ]]; }
for p in ${PARTS//,/ }; do  # a misspelt part ran nothing and exited 0
    [[ $p == tests || $p == bench || $p == train ]] || { echo "PARTS: unknown part '$p' (tests, bench, train)" >&2; exit 2; }
done
BUDGET=${BUDGET:-$((LIMIT * 4 / 5))}
HARD=${HARD:-$((LIMIT - 15))}
PY=${PY:-python3}
start=$SECONDS
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
log="$OUT/log.txt"
exec > >(tee -a "$log") 2>&1
# On every exit: close the pipe to tee and let it write the last lines before the call ends.
trap 'exec >&- 2>&-; wait' EXIT
stamp() { echo "== $(date -u +%H:%M:%S) +$((SECONDS - start)) s: $*"; }

stamp "environment"
$PY -c "import sys, torch; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda,
      torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
[[ -d $DATA/mnist ]] || { echo "no $DATA/mnist: run 'bash bench/gpu_session.sh prepare ../shared/data' here and carry .gpu-data"; exit 2; }

# Each step bounded (at most 120 + 3 x 60 s, leaving the run about 170 s of BUDGET or more): one
# session is all a GPU may give, and the paper-scale run comes last.
if part tests; then
stamp "CUDA tests"
# -v: each test's name as it runs, so a test cut by the bound is named. -W default: a warning
# only a GPU raises is reported, not a failed test (warnings are errors in the suite's settings).
HYPERZOO_TEST_DEVICE=$DEVICE timeout 120 $PY -m pytest -v -rs -W default -p no:cacheprovider \
    tests/test_cuda.py tests/test_every_method.py || stamp "CUDA tests exit status $? (124: cut at 120 s)"
fi

if part bench; then
stamp "benchmarks"
timeout 60 $PY bench/step_time.py --device "$DEVICE" --data-dir "$DATA" --backends vmap,loop \
    > "$OUT/step_time_$DEVICE.json" || stamp "step_time exit status $?"
timeout 60 $PY bench/inference.py --device "$DEVICE" --data-dir "$DATA" --networks "$NETWORKS" --layouts off \
    > "$OUT/inference_$DEVICE.json" || stamp "inference exit status $?"
timeout 60 $PY bench/precision.py --device "$DEVICE" --backends vmap,loop --rounds "$ROUNDS" \
    > "$OUT/precision_$DEVICE.json" || stamp "precision exit status $?"
for f in "$OUT"/*.json; do echo "$f: $(wc -c < "$f") bytes"; done
fi
part train || { stamp "done (PARTS=$PARTS)"; exit 0; }

run=${RUN:-/tmp/hyperzoo-gpu-run}
rm -rf "$run"
# Into a part file of the caller's own (the minute loop's or ours), then renamed: a call cut
# mid-pack keeps the last whole run.tar. Without the checkpoint's temporaries, which would double
# its size past what the device tool returns.
pack() {
    local part="$OUT/.run.tar.${1:-part}"
    tar --exclude='.*.tmp' -cf "$part" -C "$(dirname "$run")" "$(basename "$run")" && mv -f "$part" "$OUT/run.tar"
}
left=$((BUDGET - (SECONDS - start)))
if (( left < 30 )); then
    stamp "no time left for the paper-scale run (BUDGET $BUDGET s)"
    exit 0
fi
stamp "paper-scale Deutsch MNIST, $STEPS steps, $left s left for it"
# Packed every minute while it trains: if the call is cut short, the last pack comes back.
# (Its output goes nowhere: a sleep left holding the log's pipe would keep the call open.)
(while sleep 60; do pack loop; done) > /dev/null 2>&1 &
packer=$!
timeout -k 20 --signal=INT "$left" $PY -m hyperzoo train experiments/deutsch_mnist_paper.yaml \
    --data-dir "$DATA" --set train.device="$DEVICE" --set train.steps="$STEPS" --out "$run" --quiet
status=$?
pkill -P "$packer" 2> /dev/null  # its sleep, tar or rename (a rename is whole or not at all)
kill "$packer" 2> /dev/null
wait "$packer" 2> /dev/null
rm -f "$OUT/.run.tar.loop"
stamp "train exit status $status (124: stopped at the budget, the last checkpoint kept)"
[[ -f $run/checkpoint.safetensors ]] || { pack; stamp "no checkpoint"; exit 0; }
pack  # before evaluating: the run comes back even if what follows outlasts the call
# Whatever step the checkpoint reached (its metrics name it), until HARD seconds in all.
for what in evaluate ood; do
    left=$((HARD - (SECONDS - start)))
    (( left > 10 )) || { stamp "no time left for $what"; break; }
    if [[ $what == evaluate ]]; then
        timeout "$left" $PY -m hyperzoo evaluate "$run" --networks "$NETWORKS" --data-dir "$DATA" --quiet
    else
        timeout "$left" $PY -m hyperzoo ood "$run" --outliers notmnist --networks "$NETWORKS" --data-dir "$DATA" \
            --out "$run/ood"
    fi
done
pack
stamp "done"
