#!/usr/bin/env bash
# The worked examples of the task pages (docs/tasks/*.md): each command as the page shows it, then its figure.png
# copied to docs/img/<task>.png. Needs the shared data (../shared/data, or INR_RECOVER_SHARED_DATA) and the point
# data (make install). About 10 minutes on a 2-core CPU.
#   bash tools/docs/figures.sh [OUT]        # runs in OUT (default: a temporary folder)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$(mktemp -d)}
IMG=$ROOT/docs/img
mkdir -p "$IMG" "$OUT"
cd "$OUT"
run() {  # name, then the command's overrides
  local name=$1; shift
  inr-recover "$@" metrics=fast progress=false hydra.run.dir="$OUT/$name" > "$OUT/$name.log" 2>&1
  cp "$OUT/$name/figure.png" "$IMG/$name.png"
  echo "$name: $(grep -o 'complete |.*' "$OUT/$name.log" | tail -1)"
}
run complete data=cave_cloth 'data.resize=[64,64]' degrade=random_0.1 model=siren optim.iterations=300
run restore data=cave_cloth 'data.resize=[64,64]' degrade=scene3 task=restore model=siren optim.iterations=300
python -c "
import numpy as np, skimage.data, skimage.transform
img = skimage.transform.resize(skimage.data.astronaut(), (96, 96), anti_aliasing=True)
img[np.random.default_rng(0).random(img.shape) < 0.7] = np.nan   # 70% of the entries missing
np.save('photo.npy', img.astype(np.float32))"
run recover task=recover data=file data.path=photo.npy model=siren optim.iterations=300
run super_resolve task=super_resolve data=kodim23 'data.resize=[128,128]' degrade=downsample_4 model=siren optim.iterations=300
run points data=sst degrade=random_0.25 model=siren optim.iterations=300
run sdf task=sdf data=bunny model=siren optim.iterations=300
run view_synthesis task=view_synthesis data=lego model=siren 'data.resize=[50,50]' data.views=8 data.test_views=3 \
    task.samples=32 batch_size=512 optim.iterations=300
