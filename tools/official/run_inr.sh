#!/usr/bin/env bash
# Side-by-side runs of issue 11 for the INR peers: each official driver, then this runner on the same observation.
#   bash tools/official/run_inr.sh OFFICIAL_DIR OBS_DIR OUT_DIR ITERATIONS SEED
# OFFICIAL_DIR holds the checkouts (siren wire FINER FINERplusplus FreSh scone S-INR CHOIR, see README.md);
# OBS_DIR the two observation runs (cloth64_random0.1, cloth64_scene3). Sequential: one heavy job at a time.
# SCENE3=0 skips the Scene 3 (restoration) runs. SIDE=ours reruns only this runner's side (the official JSONs already
# in OUT_DIR/official are kept); ONLY="siren wire" restricts the methods.
# This runner's side trains under protocol=official (the default: each method's recipe) for ITERATIONS, on the data
# the observation run was made from (its own data=... overrides, from OBS_DIR/<run>/.hydra/overrides.yaml: any data,
# any size). SEEDS="0 1 2" runs each side at every seed instead of SEED (files <method>_s<seed>), for
# `collect.py` to report mean +- std; R and S name the observation runs (default cloth64_random0.1, cloth64_scene3).
# COMMIT_<method>=<sha> records the official commit when a checkout has no .git (files extracted); PIXEL_SET (500)
# is S-INR's superpixel size on both sides (the official 2500 is for 256x256 data).
set -u
OFF=$1; OBS=$2; OUT=$3; IT=$4; SEED=$5
PY=${PY:-python}              # an interpreter with inr-recover's dependencies
PY_EXTRA=${PY_EXTRA:-$PY}     # + pytorch-lightning, random-fourier-features-pytorch, sortedcontainers, pandas (FreSh), opencv, scikit-learn (S-INR)
cd "$(dirname "$0")/../.."
mkdir -p "$OUT"
side() {  # method repo python obs [driver options...]: each seed of SEEDS (else SEED)
  local s
  for s in ${SEEDS:-$SEED}; do side_seed "$s" "$@"; done
}
side_seed() {  # seed method repo python obs [driver options...]
  local seed=$1 m=$2 repo=$3 py=$4 obs=$5; shift 5
  local tag=$(basename "$obs") name=$m commit=() data=()
  [ -n "${SEEDS:-}" ] && name=${m}_s$seed
  [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $m "* ]] && return
  local var=COMMIT_$m; [ -n "${!var:-}" ] && commit=(--commit "${!var}")
  [ "${SIDE:-both}" = ours ] || {
  /usr/bin/time -f "%e s wall" "$py" tools/official/$m.py --repo "$OFF/$repo" --obs "$OBS/$tag" --iterations "$IT" --seed "$seed" \
      --out "$OUT/official/$tag/$name.json" "${commit[@]}" "$@" > "$OUT/official_${tag}_$name.log" 2>&1
  tail -2 "$OUT/official_${tag}_$name.log"; }
  local extra=() task=()
  [ -f "$OBS/$tag/observed.npz" ] && extra=("degrade.observed=$OBS/$tag/observed.npz") && task=(task=restore)
  [ "$m" = sinr ] && extra+=("model.pixels_per_superpixel=${PIXEL_SET:-500}")
  mapfile -t data < <(sed -n 's/^- \(data[.=].*\)$/\1/p' "$OBS/$tag/.hydra/overrides.yaml")  # the observation's data
  /usr/bin/time -f "%e s wall" "$PY" -m inr_recover.cli.main model=$m "${data[@]}" degrade=from_file \
      "degrade.mask=$OBS/$tag/mask.npz" "${extra[@]}" "${task[@]}" optim.iterations=$IT seed=$seed select=final metrics=fast \
      save.figures=false logger=none progress=false checkpoint.resume=false "hydra.run.dir=$OUT/ours/$tag/$name" > "$OUT/ours_${tag}_$name.log" 2>&1
  tail -1 "$OUT/ours_${tag}_$name.log"
}
R=${R:-cloth64_random0.1}; S=${S:-cloth64_scene3}
side siren siren "$PY" $R
side pemlp FINERplusplus "$PY" $R
side gauss FINERplusplus "$PY" $R
side finer FINER "$PY" $R
side finer_gauss FINERplusplus "$PY" $R
side finer_wavelet FINERplusplus "$PY" $R
side wire wire "$PY" $R
side scone scone "$PY" $R
side fresh FreSh "$PY_EXTRA" $R
side sinr S-INR "$PY_EXTRA" $R --pixel-set=${PIXEL_SET:-500}
side choir CHOIR "$PY" $R
[ "${SCENE3:-1}" = 0 ] && exit 0
side wire wire "$PY" $S
side sinr S-INR "$PY_EXTRA" $S --pixel-set=${PIXEL_SET:-500}
side choir CHOIR "$PY" $S
