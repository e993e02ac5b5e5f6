#!/usr/bin/env bash
# Side-by-side runs of issue 11 for the INR peers: each official driver, then this runner on the same observation.
#   bash tools/official/run_inr.sh OFFICIAL_DIR OBS_DIR OUT_DIR ITERATIONS SEED
# OFFICIAL_DIR holds the checkouts (siren wire FINER FINERplusplus FreSh scone S-INR CHOIR, see README.md);
# OBS_DIR the two observation runs (cloth64_random0.1, cloth64_scene3). Sequential: one heavy job at a time.
# SCENE3=0 skips the Scene 3 (restoration) runs. SIDE=ours reruns only this runner's side (the official JSONs already
# in OUT_DIR/official are kept); ONLY="siren wire" restricts the methods.
# This runner's side trains under protocol=official (the default: each method's recipe) for ITERATIONS.
set -u
OFF=$1; OBS=$2; OUT=$3; IT=$4; SEED=$5
PY=${PY:-python}              # an interpreter with inr-recover's dependencies
PY_EXTRA=${PY_EXTRA:-$PY}     # + pytorch-lightning, random-fourier-features-pytorch, sortedcontainers, pandas (FreSh), opencv, scikit-learn (S-INR)
cd "$(dirname "$0")/../.."
mkdir -p "$OUT"
side() {  # method repo python obs [driver options...]
  local m=$1 repo=$2 py=$3 obs=$4; shift 4
  local tag=$(basename "$obs")
  [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $m "* ]] && return
  [ "${SIDE:-both}" = ours ] || {
  /usr/bin/time -f "%e s wall" "$py" tools/official/$m.py --repo "$OFF/$repo" --obs "$OBS/$tag" --iterations "$IT" --seed "$SEED" \
      --out "$OUT/official/$tag/$m.json" "$@" > "$OUT/official_${tag}_$m.log" 2>&1
  tail -2 "$OUT/official_${tag}_$m.log"; }
  local extra=() task=()
  [ -f "$OBS/$tag/observed.npz" ] && extra=("degrade.observed=$OBS/$tag/observed.npz") && task=(task=restore)
  [ "$m" = sinr ] && extra+=("model.pixels_per_superpixel=500")
  /usr/bin/time -f "%e s wall" "$PY" -m inr_recover.cli model=$m data=cave_cloth 'data.resize=[64,64]' degrade=from_file \
      "degrade.mask=$OBS/$tag/mask.npz" "${extra[@]}" "${task[@]}" optim.iterations=$IT seed=$SEED select=final metrics=fast \
      save.figures=false logger=none progress=false checkpoint.resume=false "hydra.run.dir=$OUT/ours/$tag/$m" > "$OUT/ours_${tag}_$m.log" 2>&1
  tail -1 "$OUT/ours_${tag}_$m.log"
}
R=cloth64_random0.1; S=cloth64_scene3
side siren siren "$PY" $R
side pemlp FINERplusplus "$PY" $R
side gauss FINERplusplus "$PY" $R
side finer FINER "$PY" $R
side finer_gauss FINERplusplus "$PY" $R
side finer_wavelet FINERplusplus "$PY" $R
side wire wire "$PY" $R
side scone scone "$PY" $R
side fresh FreSh "$PY_EXTRA" $R
side sinr S-INR "$PY_EXTRA" $R --pixel-set=500
side choir CHOIR "$PY" $R
[ "${SCENE3:-1}" = 0 ] && exit 0
side wire wire "$PY" $S
side sinr S-INR "$PY_EXTRA" $S --pixel-set=500
side choir CHOIR "$PY" $S
