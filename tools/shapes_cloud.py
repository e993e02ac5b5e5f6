"""An oriented point cloud sampled on a mesh, written as BACON's ``.xyz`` (one point per line: ``x y z nx ny nz``, the
mesh's own units): what ``data.cloud`` trains on, so that an inr-recover run and the official SDF code
(``tools/official/finer_sdf.py``) draw their points from the same cloud. The points are uniform by area
(``trimesh.sample.sample_surface``), each with its face's unit normal; the mesh is checked as the runner checks it.

    python tools/shapes_cloud.py MESH OUT.xyz [--points 1000000 --seed 0]
"""
from __future__ import annotations

import argparse

import numpy as np

from inr_recover.tasks.shapes import mesh as shapes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mesh")
    p.add_argument("out")
    p.add_argument("--points", type=int, default=1000000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    points, normals = shapes.Mesh(*shapes.read_mesh(a.mesh)).surface(a.points, a.seed)
    np.savetxt(a.out, np.c_[points, normals], fmt="%.7g")
    print(f"{a.points} oriented points of {a.mesh} -> {a.out}")


if __name__ == "__main__":
    main()
