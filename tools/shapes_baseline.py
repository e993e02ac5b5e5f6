"""The trivial baseline of docs/tasks/shapes.md "3-D shapes": each cell of the evaluation grid takes the signed distance
of its nearest training point (the pool `task=sdf data=<shape>` trains on: same samples, seed, grid), scored like a
network.

    python tools/shapes_baseline.py bunny dragon   # [--resolution 128 --samples 100000 --seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from scipy.spatial import cKDTree

from inr_recover.tasks.shapes import mesh as shapes
from inr_recover.tasks.shapes import metrics as SM
from inr_recover.tasks.shapes.metrics import CONVENTIONS

FILES = {"bunny": "mesh/bunny.obj", "dragon": "mesh/dragon_10k.obj"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("shapes", nargs="+", choices=sorted(FILES))
    p.add_argument("--resolution", type=int, default=128)
    p.add_argument("--samples", type=int, default=100000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    root = os.environ.get("INR_RECOVER_SHARED_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    for name in a.shapes:
        shape = shapes.load_mesh(name, FILES[name], root, samples=a.samples, resolution=a.resolution, seed=a.seed)
        r, ours = a.resolution, CONVENTIONS["ours"]
        nearest = shape.values[cKDTree(shape.coords).query(SM.cell_centres(r))[1], 0].reshape(r, r, r)
        scored = ours.score({"mesh": nearest}, shape, seed=a.seed)
        print(json.dumps({"shape": name, "baseline": "nearest training point's SDF", **scored}))


if __name__ == "__main__":
    main()
