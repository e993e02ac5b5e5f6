"""Speed of labelling and scoring 3-D shapes (docs/tasks/shapes.md "3-D shapes"), on the Stanford bunny in our frame.

- ``exact``: libigl's exact distances (AABB tree) and fast winding number, the two as ``Mesh.sdf`` combines them,
  against trimesh's ``proximity.signed_distance`` on a subset (it needs ``pip install rtree``);
- ``fresh``: one fresh draw of BACON's points and labels (``Shape.draw``, what ``data.fresh=true
  data.kind=points_with_normals`` does at every step) from a 1M-point cloud, with the k-d tree as
  ``Cloud.tree`` builds it and with scipy's defaults (the same neighbours);
- ``grid``: the evaluation of a ``N^3`` grid (the Query's chunked points, a SIREN, ``metrics.shape=ours``'s score),
  its seconds and the process's peak resident memory.

    python tools/shapes_label_bench.py [exact fresh grid] [--points 100000 --trimesh-points 2000 --fresh 10000
                                        --grid 512 --width 32]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np

from inr_recover.tasks.shapes import mesh as shapes

GiB = 2**30


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GiB


def exact(path: Path, a) -> None:
    import igl
    import trimesh

    mesh = shapes.normalised(*shapes.read_mesh(path))
    q = np.random.default_rng(0).uniform(-1, 1, (a.points, 3))
    _, t_dist = timed(igl.point_mesh_squared_distance, q, mesh.vertices, mesh.faces)
    _, t_wn = timed(mesh.inside, q)
    ours, t_sdf = timed(mesh.sdf, q)
    n = a.trimesh_points
    theirs, t_tm = timed(trimesh.proximity.signed_distance, mesh.trimesh(), q[:n])  # positive inside
    print(
        f"exact, {a.points} points: libigl distances {t_dist:.2f} s, fast winding number {t_wn:.2f} s, "
        f"Mesh.sdf {t_sdf:.2f} s"
    )
    print(
        f"exact, {n} points: trimesh signed_distance {t_tm:.2f} s ({t_tm / n / (t_sdf / a.points):.0f}x slower per "
        f"point); max |Mesh.sdf - (-trimesh)| = {np.abs(ours[:n] + theirs).max():.2e}"
    )


def fresh(path: Path, a) -> None:
    from scipy.spatial import cKDTree

    shape = shapes.load_mesh("bunny", path=str(path), kind="points_with_normals", fresh=True, samples=1000)
    cloud = shape.cloud
    times = [timed(shape.draw, a.fresh, seed, "cpu")[1] for seed in range(6)][1:]  # the first builds the tree
    points, _ = shapes.bacon_points(cloud, a.fresh, 0, *shape.bacon)
    default = cKDTree(cloud.points)
    (_, theirs), t_default = timed(default.query, points, k=3, workers=-1)
    (_, ours), t_ours = timed(cloud.tree.query, points, k=3, workers=-1)
    print(
        f"fresh, {a.fresh} BACON points from a {len(cloud.points)}-point cloud on {os.cpu_count()} cores: a draw "
        f"(points + labels) median {np.median(times):.3f} s (min {min(times):.3f}); the 3-nearest query "
        f"{t_ours:.3f} s (unbalanced, uncompacted tree) vs {t_default:.3f} s (scipy's defaults); same neighbours: "
        f"{bool((np.sort(ours, 1) == np.sort(theirs, 1)).all())}"
    )


def grid(path: Path, a) -> None:

    from inr_recover.measure.domain import Domain
    from inr_recover.models.siren import SIREN
    from inr_recover.tasks.shapes.metrics import CONVENTIONS
    from inr_recover.tasks.shapes.task import ShapeField

    shape = shapes.load_mesh("bunny", path=str(path), samples=1000, resolution=a.grid)
    task = ShapeField("sdf")
    _, query = task.query(None, shape, True, "cpu")
    model = SIREN(3, 1, Domain(3, 1000), width=a.width, depth=2)
    before = peak_gib()
    recon, t_render = timed(query.predict, model, 262144)
    volume = recon.reshape(*query.grid).numpy()
    scored, t_score = timed(CONVENTIONS["ours"].score, {"mesh": volume}, shape, 0)
    print(
        f"grid, {a.grid}^3 points, SIREN width {a.width}: rendered in {t_render:.1f} s, scored in {t_score:.1f} s; "
        f"peak resident memory {peak_gib():.2f} GiB (before the evaluation {before:.2f} GiB); "
        f"query points held at once: {query.coords.numel()} floats (the axis); IoU {scored['iou']:.3f}"
    )


STAGES = {"exact": exact, "fresh": fresh, "grid": grid}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("stages", nargs="*", choices=sorted(STAGES), default=["exact", "fresh"])
    p.add_argument("--points", type=int, default=100000)
    p.add_argument("--trimesh-points", type=int, default=2000)
    p.add_argument("--fresh", type=int, default=10000)
    p.add_argument("--grid", type=int, default=512)
    p.add_argument("--width", type=int, default=32)
    a = p.parse_args()
    root = os.environ.get("INR_RECOVER_SHARED_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    for stage in a.stages:
        STAGES[stage](Path(root) / "mesh" / "bunny.obj", a)


if __name__ == "__main__":
    main()
