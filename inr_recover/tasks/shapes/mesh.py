"""3-D shapes as fields (``task=sdf``, ``task=occupancy``): a mesh, the training points and their labels, and the
metrics of a reconstructed field on a dense grid.

Geometry comes from maintained libraries: trimesh reads meshes (.obj .ply .off .stl .glb) and samples their
surfaces; libigl gives exact distances to the mesh (AABB tree, ``igl.point_mesh_squared_distance``) and the inside
test (fast generalised winding number, inside where it is >= 1/2, robust to small holes); scikit-image extracts the
zero level set (marching cubes); scipy's KD-tree finds nearest points. On the Stanford bunny (70k faces, 2-core CPU,
``python tools/shapes_label_bench.py``): 100k labels in 1.5 s; trimesh's own signed distance agrees to 1e-7 and is
about 500 times slower per point, so it is not used.

Normalisation (our choice, recorded in ``results.json``): the mesh's bounding box is centred at the origin and scaled
so that its longest side spans ``[-extent, extent]`` (0.9) of the cube ``[-1, 1]^3`` that every network here takes as
input; distances are in those units.

Training points (:func:`sample`): a pool drawn once per seed, a third on the surface, a third near it (the surface
plus Gaussian offsets of standard deviation ``near_sigma``) and a third uniform in the cube (``fractions``), labelled
with the exact signed distance (negative inside) or the occupancy (1 inside); each training step draws its batch from
the pool (``batch_size``).

Metrics (:func:`score`) on the grid of ``resolution^3`` cell centres of the cube:

- ``iou``: intersection over union of the inside voxels of the reconstruction (SDF <= 0, or occupancy logit >= 0:
  ``task=occupancy`` trains the logit with binary cross-entropy)
  and of the mesh (winding number >= 1/2) on the same grid (SCONE, FINER++ Table 2, I-INR);
- ``chamfer``: ``1/2 (mean_p min_q |p - q|^2 + mean_q min_p |q - p|^2)`` between ``surface_samples`` points drawn
  uniformly on the extracted mesh and as many on the true surface, squared distances in cube units (our definition:
  the papers' exact convention is not stated; docs/tasks/shapes.md says so);
- ``fscore``: the harmonic mean of precision and recall of those two point sets at distance ``fscore_tau``
  (1% of the cube's side);
- ``normal_consistency``: mean ``|n_p . n_q|`` of the normals of each sample and its nearest sample on the other
  surface, both directions averaged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch

from inr_recover.config.paths import resolve_path
from inr_recover.data.signal import Signal
from inr_recover.engine.runtime import upload
from inr_recover.errors import UserError
from inr_recover.tasks.shapes.labels import Label, label_named

EXTENT = 0.9


@dataclass
class Mesh:
    vertices: np.ndarray  # (V, 3) float64, normalised into the cube
    faces: np.ndarray  # (F, 3) int64

    def trimesh(self):
        import trimesh

        return trimesh.Trimesh(self.vertices, self.faces, process=False)

    def inside(self, points: np.ndarray) -> np.ndarray:
        """Whether each point is inside the surface (generalised winding number >= 1/2)."""
        import igl

        return igl.fast_winding_number(self.vertices, self.faces, np.ascontiguousarray(points, dtype=np.float64)) >= 0.5

    @cached_property
    def tree(self):
        """libigl's AABB tree of the faces, built once (every draw of fresh points reuses it)."""
        import igl

        tree = igl.AABB()
        tree.init(self.vertices, self.faces)
        return tree

    def sdf(self, points: np.ndarray) -> np.ndarray:
        """Exact distance to the surface, negative inside."""
        pts = np.ascontiguousarray(points, dtype=np.float64)
        dist = np.sqrt(self.tree.squared_distance(self.vertices, self.faces, pts)[0])
        return np.where(self.inside(pts), -dist, dist)

    def surface(self, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` points uniform on the surface (by area) and their faces' normals."""
        import trimesh

        mesh = self.trimesh()
        points, face = trimesh.sample.sample_surface(mesh, count, seed=seed)
        return np.asarray(points), np.asarray(mesh.face_normals[face])


@dataclass
class Cloud:
    """An oriented point cloud (``points``, unit ``normals``, in cube units) labelled as BACON and SCONE label it: the
    signed distance of ``x`` is ``(x - p_1) . mean(n_1, n_2, n_3)`` over its three nearest points (BACON
    ``dataio.MeshSDF.sample_surface``). As the truth of a cloud without a mesh, inside is where that is negative."""

    points: np.ndarray  # (P, 3) float64
    normals: np.ndarray  # (P, 3) float64, unit
    _on: tuple | None = field(default=None, repr=False, compare=False)  # (points, normals) on a device: sdf_on_device

    @cached_property
    def tree(self):
        from scipy.spatial import cKDTree

        return cKDTree(self.points)

    def sdf(self, x: np.ndarray) -> np.ndarray:
        """The labels of host points: a k-d tree query on every core (10k points in a 1M-point cloud take seconds:
        a k-d tree is slow far from the surface, where the coarse half of BACON's points lies)."""
        _, idx = self.tree.query(x, k=3, workers=-1)
        return np.sum((x - self.points[idx[:, 0]]) * self.normals[idx].mean(1), axis=-1)

    def sdf_on_device(self, x: torch.Tensor, pairs: int = 2**27) -> torch.Tensor:
        """The same labels of points ``x (N, 3)`` computed on their device: the 3 nearest cloud points by brute
        force, ``pairs`` point-to-cloud distances per chunk (float32, exact differences, no matmul: a GPU computes the
        10k x 1M distances of a FINER++ step in tens of ms; ties of nearly equal distances may pick another
        neighbour than the k-d tree)."""
        if self._on is None or self._on[0].device != x.device:
            self._on = tuple(torch.as_tensor(a, dtype=x.dtype, device=x.device) for a in (self.points, self.normals))
        points, normals = self._on
        chunk = max(1, pairs // points.shape[0])
        out = []
        for q in x.split(chunk):
            d = torch.cdist(q, points, compute_mode="donot_use_mm_for_euclid_dist")
            idx = d.topk(3, dim=1, largest=False).indices
            out.append(((q - points[idx[:, 0]]) * normals[idx].mean(1)).sum(-1))
        return torch.cat(out)

    def inside(self, x: np.ndarray) -> np.ndarray:
        return self.sdf(np.asarray(x, dtype=np.float64)) < 0

    def surface(self, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` of the cloud's points (with replacement) and their normals."""
        idx = np.random.default_rng(seed).integers(0, len(self.points), count)
        return self.points[idx], self.normals[idx]


def bacon_sample(cloud: Cloud, count: int, seed: int, coarse: float, fine: float,
                 coarse_weight: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BACON's training points (``sample_surface``; SCONE follows it; :func:`bacon_points`), their :meth:`Cloud.sdf`
    labels and loss weights."""
    points, weights = bacon_points(cloud, count, seed, coarse, fine, coarse_weight)
    return points.astype(np.float32), cloud.sdf(points)[:, None].astype(np.float32), weights


def bacon_points(cloud: Cloud, count: int, seed: int, coarse: float, fine: float,
                 coarse_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """``count`` cloud points, the even-indexed moved by Laplace noise of scale ``coarse``, the odd by ``fine``, wrapped
    back into the cube (float64), and their loss weights: ``coarse_weight`` on the coarse points and 1 on the fine
    (BACON ``overfit_sdf``'s ``coarse_loss_weight``: its coarse-to-fine loss)."""
    rng = np.random.default_rng(seed)
    points = cloud.points[rng.integers(0, len(cloud.points), count)].copy()
    points[0::2] += rng.laplace(scale=coarse, size=points[0::2].shape)
    points[1::2] += rng.laplace(scale=fine, size=points[1::2].shape)
    points = np.where(points > 1, points - 2, np.where(points < -1, points + 2, points))
    weights = np.ones((count, 1), np.float32)
    weights[0::2] = coarse_weight
    return points, weights


def normalised(vertices: np.ndarray, faces: np.ndarray, extent: float = EXTENT) -> Mesh:
    """The mesh centred on its bounding box and scaled so its longest side spans ``[-extent, extent]``."""
    lo, hi = vertices.min(0), vertices.max(0)
    scale = 2 * extent / float((hi - lo).max())
    return Mesh(
        np.ascontiguousarray((vertices - (lo + hi) / 2) * scale, dtype=np.float64),
        np.ascontiguousarray(faces, dtype=np.int64),
    )


CLOUD_FILES = (".xyz", ".txt", ".pts")  # an oriented point cloud: one point per line, x y z nx ny nz


def read_cloud(path) -> Cloud:
    """An oriented point cloud file (:data:`CLOUD_FILES`), normalised as a mesh is (:func:`normalised`), its normals
    scaled to unit length (zero normals left as they are, as BACON does)."""
    try:
        data = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise UserError(f"{path}: not a point cloud of 6 numbers per line (x y z nx ny nz): {e}") from None
    if data.shape[1] != 6 or len(data) < 3:
        raise UserError(
            f"{path}: a point cloud needs 6 columns (x y z nx ny nz) and 3 points or more, got {data.shape}"
        )
    norms = np.linalg.norm(data[:, 3:], axis=1, keepdims=True)
    points = normalised(data[:, :3], np.zeros((0, 3), np.int64)).vertices
    return Cloud(points, data[:, 3:] / np.where(norms == 0, 1.0, norms))


def read_mesh(path) -> Mesh:
    """A triangle mesh file, normalised (:func:`normalised`)."""
    import trimesh

    try:
        mesh = trimesh.load(str(path), force="mesh", process=False)
    except Exception as e:  # trimesh raises many kinds on a bad file
        raise UserError(f"{path}: not a readable mesh ({type(e).__name__}: {e})") from None
    if len(mesh.faces) == 0:
        raise UserError(f"{path}: the mesh has no faces (a point cloud is not a shape here)")
    return normalised(np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces))


def sample(
    mesh: Mesh, count: int, label: Label, seed: int, near_sigma: float = 0.01, fractions: tuple = (1 / 3, 1 / 3, 1 / 3)
) -> tuple[np.ndarray, np.ndarray]:
    """The training pool (module doc): ``count`` points in the cube and their labels ``(count, 1)``."""
    rng = np.random.default_rng(seed)
    n_surface, n_near = (int(round(count * f)) for f in fractions[:2])
    n_uniform = count - n_surface - n_near
    on, _ = mesh.surface(n_surface + n_near, seed)
    near = on[n_surface:] + rng.normal(scale=near_sigma, size=(n_near, 3))
    points = np.concatenate([on[:n_surface], near, rng.uniform(-1, 1, (n_uniform, 3))]).clip(-1, 1)
    labels = label.of(mesh, points)
    return points.astype(np.float32), labels[:, None].astype(np.float32)


@dataclass
class Shape(Signal):
    """A mesh as a scattered signal: the training pool's labels ``values (N, 1)`` at ``coords (N, 3)``; scored on a
    dense grid by :func:`score` (``results.json`` ``data``: the mesh, the pool, the normalisation)."""

    values: np.ndarray
    coords: np.ndarray
    mesh: Mesh
    name: str
    label: Label  # what the network outputs (:data:`~.labels.LABELS`)
    resolution: int
    path: str | None = None
    near_sigma: float = 0.01
    fresh: bool = False  # draw new training points at every step (:meth:`draw`) instead of from the pool
    cloud: Cloud | None = None  # data.kind=points_with_normals: the oriented cloud the labels come from
    bacon: tuple = (0.2, 0.002, 0.01)  # with a cloud: the coarse and fine Laplace scales, the coarse points' weight
    record_extra: dict = field(default_factory=dict)
    scattered = True  # labels are not normalised: lo, hi = 0, 1

    def record(self) -> dict:
        return {
            "name": self.name,
            "path": self.path,
            "label": self.label.name,
            "points": int(self.values.shape[0]),
            **(
                {"vertices": int(self.mesh.vertices.shape[0]), "faces": int(self.mesh.faces.shape[0])}
                if isinstance(self.mesh, Mesh)
                else {"cloud_file_points": int(self.mesh.points.shape[0])}
            ),
            "normalisation": f"bounding box centred, longest side spanning [-{EXTENT}, {EXTENT}] of the cube [-1, 1]^3",
            "eval_resolution": self.resolution,
            **self.record_extra,
        }

    def draw(self, count: int, seed: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``count`` new training points, their labels and loss weights on ``device``, drawn as the pool is with
        ``seed``: :func:`sample` from the mesh (weights 1: exact labels by libigl on the host, then copied), or BACON's
        points from the cloud (:func:`bacon_points`), labelled on ``device`` when it is not the CPU
        (:meth:`Cloud.sdf_on_device`: the host's k-d tree is the slow part of a step) and on the host otherwise."""
        if self.cloud is None:
            coords, values = sample(self.mesh, count, self.label, seed, self.near_sigma)
            return tuple(upload(torch.from_numpy(a), device) for a in (coords, values, np.ones_like(values)))
        if torch.device(device).type == "cpu":
            return tuple(torch.from_numpy(a) for a in bacon_sample(self.cloud, count, seed, *self.bacon))
        points, weights = bacon_points(self.cloud, count, seed, *self.bacon)
        coords = upload(torch.from_numpy(points.astype(np.float32)), device)
        return coords, self.cloud.sdf_on_device(coords)[:, None], upload(torch.from_numpy(weights), device)



KINDS = ("mesh", "points_with_normals")


def _check_options(
    name: str, label: Label, kind: str, fresh: bool, samples: int, resolution: int, near_sigma: float, has_truth: bool
) -> None:
    if kind not in KINDS:
        raise UserError(f"data.kind='{kind}' is not one of {', '.join(KINDS)}")
    if not has_truth:
        raise UserError(f"data '{name}' is a shape: task=recover does not apply; use task=sdf or task=occupancy")
    if samples < 1 or resolution < 8 or near_sigma <= 0:
        raise UserError(
            f"data '{name}': samples >= 1, resolution >= 8 and near_sigma > 0 are needed "
            f"(got {samples}, {resolution}, {near_sigma})"
        )
    if kind == "points_with_normals" and (not label.distance or not fresh):
        raise UserError(
            "data.kind=points_with_normals trains BACON's signed distances on points drawn at every step: "
            "use task=sdf with data.fresh=true"
        )


def load_mesh(
    name: str,
    file: str | None = None,
    root: str | None = None,
    path: str | None = None,
    label: str = "sdf",
    kind: str = "mesh",
    samples: int = 100000,
    near_sigma: float = 0.01,
    resolution: int = 128,
    seed: int = 0,
    fresh: bool = False,
    cloud_points: int = 1000000,
    coarse_scale: float = 0.2,
    fine_scale: float = 0.002,
    coarse_weight: float = 0.01,
    has_truth: bool = True,
) -> Shape:
    """``data=bunny|dragon|mesh``: read ``root/file`` (or ``path``), normalise it, draw the training pool; with
    ``kind=points_with_normals`` the labels come from an oriented cloud (the file's, or ``cloud_points`` points
    sampled on the mesh with their faces' normals) as BACON's (:func:`bacon_sample`)."""
    label = label_named(label)
    _check_options(name, label, kind, fresh, samples, resolution, near_sigma, has_truth)
    p = resolve_path(root, file, path)
    if not p.is_file():
        raise UserError(
            f"data '{name}': mesh file not found at {p}; put it there, or set data.root=DIR holding it or "
            "data.path=/path/to/mesh (.obj .ply .off .stl, or a point cloud .xyz with data.kind=points_with_normals)"
        )
    cloud = None
    if kind == "points_with_normals":
        truth = cloud = read_cloud(p) if p.suffix.lower() in CLOUD_FILES else None
        if cloud is None:
            truth = read_mesh(p)
            cloud = Cloud(*truth.surface(cloud_points, seed))
        coords, values, _ = bacon_sample(cloud, samples, seed, coarse_scale, fine_scale, coarse_weight)
        pool = f"BACON's: cloud points moved by Laplace noise, scale {coarse_scale} (even) and {fine_scale} (odd)"
    else:
        truth = read_mesh(p)
        coords, values = sample(truth, samples, label, seed, near_sigma)
        pool = "1/3 on the surface, 1/3 near it (Gaussian offsets), 1/3 uniform in the cube"
    return Shape(
        values=values,
        coords=coords,
        mesh=truth,
        name=name,
        label=label,
        resolution=resolution,
        path=str(p),
        near_sigma=near_sigma,
        fresh=fresh,
        cloud=cloud,
        bacon=(coarse_scale, fine_scale, coarse_weight),
        record_extra={
            "kind": kind,
            "near_sigma": near_sigma,
            "pool_seed": seed,
            "fresh": fresh,
            "pool": pool,
            **({"cloud_points": len(cloud.points), "coarse_weight": coarse_weight} if cloud else {}),
        },
    )


def cell_centres(resolution: int) -> np.ndarray:
    """The ``resolution^3`` cell centres of the cube ``[-1, 1]^3``, ``(R^3, 3)``, 'ij' order."""
    axis = (np.arange(resolution) + 0.5) / resolution * 2 - 1
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)


def extract(volume: np.ndarray, level: float = 0.0) -> Mesh | None:
    """The level set ``level`` of a field sampled at the cell centres (marching cubes), in cube units; None when the
    field does not cross the level."""
    from skimage.measure import marching_cubes

    if not volume.min() < level < volume.max():
        return None
    r = volume.shape[0]
    verts, faces, _, _ = marching_cubes(volume, level=level, spacing=(2 / r,) * 3)
    return Mesh(verts - 1 + 1 / r, faces.astype(np.int64))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def surface_distances(p: np.ndarray, n_p: np.ndarray, q: np.ndarray, n_q: np.ndarray, tau: float) -> dict:
    """Chamfer distance, F-score at ``tau`` and normal consistency between two oriented point sets (module doc)."""
    from scipy.spatial import cKDTree

    d_pq, i_pq = cKDTree(q).query(p)
    d_qp, i_qp = cKDTree(p).query(q)
    precision, recall = float((d_pq <= tau).mean()), float((d_qp <= tau).mean())
    return {
        "chamfer": float(0.5 * (np.mean(d_pq**2) + np.mean(d_qp**2))),
        "fscore": 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0,
        "normal_consistency": float(
            0.5 * (np.abs((n_p * n_q[i_pq]).sum(1)).mean() + np.abs((n_q * n_p[i_qp]).sum(1)).mean())
        ),
    }


def score(
    volume: np.ndarray, shape: Shape, surface_samples: int = 100000, fscore_tau: float = 0.02, seed: int = 0
) -> dict:
    """The metrics of a reconstructed field on the grid of cell centres against the shape's mesh (module doc)."""
    r = volume.shape[0]
    inside = shape.label.inside(volume)
    truth = shape.mesh.inside(cell_centres(r)).reshape(r, r, r)
    out = {"iou": iou(inside, truth), "chamfer": None, "fscore": None, "normal_consistency": None}
    recon = extract(volume)
    if recon is not None and len(recon.faces):
        p, n_p = recon.surface(surface_samples, seed)
        q, n_q = shape.mesh.surface(surface_samples, seed + 1)
        out.update(surface_distances(p, n_p, q, n_q, fscore_tau))
    out.update(resolution=r, surface_samples=surface_samples, fscore_tau=fscore_tau)
    return out
