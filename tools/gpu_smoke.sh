#!/usr/bin/env bash
# The GPU smoke test (issue 42): one prepared script for the day a device is lent, <= 10 minutes on one H100, in
# stages, each under its own time limit, each printing PASS / FAIL / SKIP (with the reason) and its numbers; the summary
# goes to $OUT/smoke.md. It runs end to end on a machine without a GPU with DEVICE=cpu: the stages that only mean
# something on CUDA are skipped with the reason, the others run at their small sizes.
#
#   bash tools/gpu_smoke.sh                      # DEVICE=cuda
#   DEVICE=cpu bash tools/gpu_smoke.sh           # the CPU rehearsal
#
# Environment: DEVICE (cuda | cuda:N | cpu; default cuda), OUT (default outputs/gpu_smoke), INR_RECOVER_SHARED_DATA
# (the data folder; the stages that need the lego scene or a mesh skip without it), BIN (the venv's bin; default
# .venv/bin when present, else PATH).
#
# Stages (their limits add up to 10 minutes on CUDA): 1 environment; 2 CHOIR 256x256x31 step time in FP32, TF32 and
# TF32 with compile=true (CUDA); 3 every method x task, two iterations on
# the device, a batched group and a resume (tests/test_device.py on DEVICE); 4 resume across SIGTERM and SIGKILL
# against an uninterrupted run; 5 a batched group of 2 seeds against the 2 single runs; 6 FINER's NeRF settings and
# FINER++'s SDF settings, 200 steps each, it/s and peak memory against the estimate (CUDA, data).
set -uo pipefail
cd "$(dirname "$0")/.."
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-outputs/gpu_smoke}
BIN=${BIN:-$([ -x .venv/bin/python ] && echo .venv/bin || dirname "$(command -v python)")}
PY="$BIN/python"
RUN="$BIN/inr-recover"
rm -rf "$OUT" && mkdir -p "$OUT"
SUMMARY="$OUT/smoke.md"
echo "# GPU smoke: DEVICE=$DEVICE, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null)" >"$SUMMARY"
FAILED=0
ON_CUDA=$([[ $DEVICE == cuda* ]] && echo 1 || echo 0)
SMALL=(data=synthetic metrics=fast save.figures=false progress=false logger=none "device=$DEVICE")
if [[ $ON_CUDA == 1 ]]; then  # the fits of stages 4 and 5, the time limits' scale and the test workers
    FIT=(model=choir data.shape=[64,64,8]) SCALE=1 WORKERS=0
else  # the CPU rehearsal: the same stages on smaller fits, with limits x5
    FIT=(model=choir model.width=64 data.shape=[32,32,8]) SCALE=5 WORKERS=2
fi

note() { echo "$*" | tee -a "$SUMMARY"; }
result() { "$PY" -c "import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'r': r}))" "$@"; }

# stage NAME LIMIT_S FUNCTION: FUNCTION under a time limit; its last line is the stage's numbers (or SKIP: reason)
stage() {
    local name=$1 limit=$(($2 * SCALE)) fn=$3 log="$OUT/$1.log" t0=$SECONDS rc
    echo "== $name (limit ${limit}s)"
    timeout --kill-after=10 "$limit" bash -c "$(declare -f "$fn" result); $fn" >"$log" 2>&1
    rc=$?
    local last; last=$(tail -n 1 "$log")
    if [[ $last == SKIP:* ]]; then
        note "- $name: SKIP (${last#SKIP: })"
    elif [[ $rc == 0 ]]; then
        note "- $name: PASS in $((SECONDS - t0)) s: $last"
    else
        FAILED=1
        [[ $rc == 124 || $rc == 137 ]] && last="over its ${limit}s limit"
        note "- $name: FAIL (rc $rc) in $((SECONDS - t0)) s: $last (log: $log)"
    fi
}
export DEVICE OUT PY RUN ON_CUDA INR_RECOVER_SHARED_DATA="${INR_RECOVER_SHARED_DATA:-$PWD/../shared/data}"
export SMALL_ARGS="${SMALL[*]} ${FIT[*]}" WORKERS

environment() {
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$PY" - <<'EOF'
import os, torch
from inr_recover.engine.runtime import resolve_device
d = resolve_device(os.environ["DEVICE"])
cuda = torch.cuda.get_device_name(d) if d.type == "cuda" else "no CUDA device used"
print(f"torch {torch.__version__} CUDA build {torch.version.cuda} | device {d}: {cuda} | "
      f"threads {torch.get_num_threads()}")
EOF
}

step_time() {
    [[ $ON_CUDA == 1 ]] || { echo "SKIP: a CUDA stage (FP32 against TF32 step time); DEVICE=$DEVICE"; exit 0; }
    local line=""
    for p in highest high "high compile=true"; do
        "$RUN" $SMALL_ARGS data.shape=[256,256,31] model.width=256 degrade=random_0.1 select=final optim.iterations=200 \
            eval_every=200 memory_limit=null precision=$p "hydra.run.dir=$OUT/step_${p// /_}" || exit 1
        line+="$p: $(result "$OUT/step_${p// /_}/results.json" '"%.1f it/s, %.1f dB, peak %s MB" % (r["it_per_s"], r["metrics"]["psnr"], r["peak_memory_mb"].get("cuda"))') | "
    done
    echo "CHOIR 256x256x31, 200 full-batch steps: $line"
}

every_method() {
    INR_RECOVER_TEST_DEVICE=$DEVICE "$PY" -m pytest -q -p no:cacheprovider -n "$WORKERS" tests/test_device.py 2>&1 |
        tail -n 1
    exit "${PIPESTATUS[0]}"
}

resume() {
    local args=($SMALL_ARGS degrade=random_0.1 select=final optim.iterations=1000
                eval_every=100 checkpoint.every=50 deterministic=true)
    "$RUN" "${args[@]}" "hydra.run.dir=$OUT/whole" || exit 1
    local sig
    for sig in TERM KILL; do
        "$RUN" "${args[@]}" "hydra.run.dir=$OUT/$sig" &
        local pid=$! n=0
        until [[ -f $OUT/$sig/checkpoint.pt ]] || ((n++ > 600)); do sleep 0.1; done
        sleep 0.5
        kill -s "$sig" "$pid"; wait "$pid"
        [[ -f $OUT/$sig/results.json ]] && { echo "the $sig run finished before the signal: use more iterations"; exit 1; }
        "$RUN" "${args[@]}" "hydra.run.dir=$OUT/$sig" || exit 1
    done
    "$PY" - "$OUT" <<'EOF' || exit 1
import json, sys
r = {k: json.load(open(f"{sys.argv[1]}/{k}/results.json")) for k in ("whole", "TERM", "KILL")}
psnr = {k: v["metrics"]["psnr"] for k, v in r.items()}
print(" | ".join(f"{k}: {psnr[k]:.4f} dB" for k in psnr))
assert all(abs(psnr[k] - psnr["whole"]) < 1e-3 for k in psnr), f"resumed runs differ from the whole run: {psnr}"
EOF
}

group() {
    local args=($SMALL_ARGS degrade=random_0.1 select=final optim.iterations=300
                eval_every=100)
    "$RUN" -m "${args[@]}" seed=0,1 batch=seeds "hydra.sweep.dir=$OUT/group" || exit 1
    "$RUN" -m "${args[@]}" seed=0,1 "hydra.sweep.dir=$OUT/single" || exit 1
    "$PY" - "$OUT" <<'EOF' || exit 1
import json, sys
from pathlib import Path
get = lambda d: sorted((json.loads(p.read_text())["seed"], json.loads(p.read_text())["metrics"]["psnr"])
                       for p in Path(sys.argv[1], d).glob("*/results.json"))
g, s = get("group"), get("single")
print(f"group {g} | single {s}")
assert len(g) == len(s) == 2 and all(abs(a[1] - b[1]) < 0.2 for a, b in zip(g, s)), "group and single runs differ"
EOF
}

paper_settings() {
    [[ $ON_CUDA == 1 ]] || { echo "SKIP: a CUDA stage (the papers' NeRF and SDF settings at speed); DEVICE=$DEVICE"; exit 0; }
    local data=$INR_RECOVER_SHARED_DATA line=""
    if [[ -f $data/nerf/lego/transforms_train.json ]]; then
        "$RUN" experiment=table1 model=finer optim.iterations=200 eval_every=200 data.test_views=4 "device=$DEVICE" \
            progress=false "hydra.run.dir=$OUT/nerf" || exit 1
        line+="NeRF (FINER, lego): $(result "$OUT/nerf/results.json" '"%.2f it/s, peak %s MB, estimate %s MB" % (r["it_per_s"], r["peak_memory_mb"].get("cuda"), r["memory"].get("estimate_mb"))') | "
    else
        line+="NeRF: no lego scene under $data | "
    fi
    if [[ -f $data/mesh/bunny.obj ]]; then
        "$RUN" experiment=finerpp_sdf data=bunny model=finer optim.iterations=200 eval_every=200 data.resolution=128 \
            "device=$DEVICE" progress=false "hydra.run.dir=$OUT/sdf" || exit 1
        line+="SDF (FINER++ settings, bunny): $(result "$OUT/sdf/results.json" '"%.2f it/s, peak %s MB, estimate %s MB" % (r["it_per_s"], r["peak_memory_mb"].get("cuda"), r["memory"].get("estimate_mb"))')"
    else
        line+="SDF: no bunny under $data"
    fi
    echo "$line"
}

stage environment 30 environment
stage step_time 120 step_time
stage every_method 180 every_method
stage resume 90 resume
stage group 60 group
stage paper_settings 120 paper_settings
note "result: $([[ $FAILED == 0 ]] && echo PASS || echo FAIL)"
exit $FAILED
