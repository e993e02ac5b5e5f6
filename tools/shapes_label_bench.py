"""Speed and agreement of the libraries that can label points for task=sdf|occupancy, on the Stanford bunny
normalised as inr_recover.tasks.shapes.mesh does (docs/tasks/shapes.md "3-D shapes"): libigl's exact distances (AABB
tree) and fast winding number, the two as `Mesh.sdf` combines them, against trimesh's `proximity.signed_distance` on a
subset.

    python tools/shapes_label_bench.py [--points 100000 --trimesh-points 2000]

trimesh's signed distance needs the `rtree` package (`pip install rtree`; not a dependency of inr-recover).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from inr_recover.tasks.shapes import mesh as shapes


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=100000)
    p.add_argument("--trimesh-points", type=int, default=2000)
    a = p.parse_args()
    import igl
    import trimesh

    root = os.environ.get("INR_RECOVER_SHARED_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    mesh = shapes.read_mesh(Path(root) / "mesh" / "bunny.obj")
    q = np.random.default_rng(0).uniform(-1, 1, (a.points, 3))
    _, t_dist = timed(igl.point_mesh_squared_distance, q, mesh.vertices, mesh.faces)
    _, t_wn = timed(mesh.inside, q)
    ours, t_sdf = timed(mesh.sdf, q)
    n = a.trimesh_points
    theirs, t_tm = timed(trimesh.proximity.signed_distance, mesh.trimesh(), q[:n])  # positive inside
    print(
        f"{a.points} points: libigl distances {t_dist:.2f} s, fast winding number {t_wn:.2f} s, Mesh.sdf {t_sdf:.2f} s"
    )
    print(
        f"{n} points: trimesh signed_distance {t_tm:.2f} s ({t_tm / n / (t_sdf / a.points):.0f}x slower per point); "
        f"max |Mesh.sdf - (-trimesh)| = {np.abs(ours[:n] + theirs).max():.2e}"
    )


if __name__ == "__main__":
    main()
