#!/usr/bin/env bash
# Side-by-side SDF runs of issue 43: this runner's experiment=finerpp_sdf, then the FINER fork's own training
# (finer_sdf.py) on the same oriented cloud, both scored in FINER's convention (metrics.shape=finer).
#   bash tools/official/run_sdf.sh OFFICIAL_DIR MESH CLOUD OUT_DIR ITERATIONS "MODEL SEED" ["MODEL SEED" ...]
# OFFICIAL_DIR holds the FINER checkout (README.md); MESH is the truth, CLOUD the .xyz both sides train on
# (tools/shapes_cloud.py MESH CLOUD). Each run goes to OUT_DIR/<mesh name>/<model>/s<seed>-n<iterations>: this
# runner's results.json and the official.json beside it, for shapes_faithfulness.py to collect. MESH_RES (256) is the
# marching-cubes grid of both sides' meshes; PY the interpreter with inr-recover, PY_OFF (PY) the one that also has
# the fork's imports (pykdtree, configargparse, tensorboard: README.md). One heavy job at a time per core; run two
# lists in parallel with OMP_NUM_THREADS=1 on a 2-core machine.
set -eu
OFF=$1; MESH=$2; CLOUD=$3; OUT=$4; IT=$5; shift 5
PY=${PY:-python}
PY_OFF=${PY_OFF:-$PY}
cd "$(dirname "$0")/../.."
for job in "$@"; do
  read -r m seed <<< "$job"
  run=$OUT/$(basename "${MESH%.*}")/$m/s$seed-n$IT
  mkdir -p "$run"
  "$PY" -m inr_recover.cli.main experiment=finerpp_sdf model=$m data=mesh "data.path=$MESH" "data.cloud=$CLOUD" \
      optim.iterations=$IT data.mesh_resolution=${MESH_RES:-256} seed=$seed "hydra.run.dir=$run" > "$run/ours.log" 2>&1
  "$PY_OFF" tools/official/finer_sdf.py --repo "$OFF/FINER" --obs "$run" --model $m --iterations $IT --seed $seed \
      --out "$run/official.json" > "$run/official.log" 2>&1
  tail -1 "$run/official.log"
done
