"""3-D shapes as fields (``task=sdf``, ``task=occupancy``): a mesh (or an oriented point cloud), the frame its
coordinates are put in, the training points and their labels. The metrics of a reconstructed field are in
:mod:`inr_recover.tasks.shapes.metrics`.

Geometry comes from maintained libraries: trimesh reads meshes (.obj .ply .off .stl .glb) and samples their
surfaces; libigl gives exact distances to the mesh (AABB tree, ``igl.point_mesh_squared_distance``) and the inside
test (fast generalised winding number, inside where it is >= 1/2, robust to small holes); scipy's k-d tree finds the
nearest cloud points. On the Stanford bunny (70k faces, 2-core CPU, ``python tools/shapes_label_bench.py``): 100k exact
labels in 1.5 s, 10k of BACON's cloud labels in 0.16 s.

Frames (``data.frame``, recorded in ``results.json`` as numbers: ``x_frame = (x_input - centre) * scale``):

- ``bbox`` (ours): the bounding box centred at the origin, its longest side spanning ``[-0.9, 0.9]`` of the cube
  ``[-1, 1]^3``;
- ``bacon`` (BACON's, which FINER++ and SCONE train in): mean-centred, the scalar range of all coordinates mapped to
  ``[-0.45, 0.45]``, in the cube ``[-0.5, 0.5]^3``.

Distances are in frame units. A mesh is checked when read (:func:`checked`): non-finite vertices are refused, faces
oriented inwards are flipped, holes are reported.

Training points (:func:`sample`): a pool drawn once per seed, a third on the surface, a third near it (the surface
plus Gaussian offsets of standard deviation ``near_sigma``) and a third uniform in the cube (``fractions``), labelled
with the exact signed distance (negative inside) or the occupancy (1 inside); each training step draws its batch from
the pool (``batch_size``), or draws new points (``fresh``; from a cloud: BACON's, :func:`bacon_points`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch

from inr_recover.config.paths import resolve_path
from inr_recover.data.signal import Signal
from inr_recover.engine.runtime import upload
from inr_recover.errors import UserError
from inr_recover.tasks.shapes.labels import Label, label_named

log = logging.getLogger("inr_recover")

EXTENT = 0.9  # data.frame=bbox: the longest side spans [-EXTENT, EXTENT]


@dataclass(frozen=True)
class Frame:
    """The similarity that puts a shape's input coordinates into the network's cube ``[-half, half]^3``:
    ``x_frame = (x_input - centre) * scale`` (:data:`FRAMES`)."""

    name: str
    centre: tuple = (0.0, 0.0, 0.0)
    scale: float = 1.0
    half: float = 1.0  # the cube's half side

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, np.float64) - np.asarray(self.centre)) * self.scale

    def inverse(self, x: np.ndarray) -> np.ndarray:
        """Frame coordinates back in the input's own units."""
        return np.asarray(x, np.float64) / self.scale + np.asarray(self.centre)

    def record(self) -> dict:
        return {
            "name": self.name,
            "centre": [float(c) for c in self.centre],
            "scale": float(self.scale),
            "cube": [-self.half, self.half],
            "map": "x_frame = (x_input - centre) * scale; distances in frame units (input units times scale)",
        }


def bbox_frame(points: np.ndarray) -> Frame:
    """``data.frame=bbox`` (ours): the bounding box centred at the origin, its longest side spanning
    ``[-EXTENT, EXTENT]`` of the cube ``[-1, 1]^3``."""
    lo, hi = points.min(0), points.max(0)
    return Frame("bbox", tuple((lo + hi) / 2), 2 * EXTENT / float((hi - lo).max()), 1.0)


def bacon_frame(points: np.ndarray) -> Frame:
    """``data.frame=bacon``: BACON's ``MeshSDF.normalize`` (liuzhen0212/FINER sdf/bacon/dataio.py:660-665; SCONE
    dataset.py:164-170): mean-centred, then ``(x - min) / (max - min) * 0.9 - 0.45`` with the scalar min and max over
    every coordinate, in the cube ``[-0.5, 0.5]^3`` its samples wrap into (dataio.py:679-680)."""
    mean = points.mean(0)
    lo, hi = float((points - mean).min()), float((points - mean).max())
    scale = 0.9 / (hi - lo)
    return Frame("bacon", tuple(mean + lo + 0.45 / scale), scale, 0.5)


FRAMES = {"bbox": bbox_frame, "bacon": bacon_frame}


def frame_named(name: str):
    """The normalisation of ``data.frame=name``; a one-line error naming the choices otherwise."""
    if name not in FRAMES:
        raise UserError(f"data.frame='{name}' is not one of {', '.join(FRAMES)}")
    return FRAMES[name]


@dataclass
class Mesh:
    vertices: np.ndarray  # (V, 3) float64, in the shape's frame
    faces: np.ndarray  # (F, 3) int64
    normals: np.ndarray | None = None  # (V, 3) unit vertex normals (an extracted surface's: the field's gradient)

    def trimesh(self):
        import trimesh

        return trimesh.Trimesh(self.vertices, self.faces, vertex_normals=self.normals, process=False)

    def inside(self, points: np.ndarray, chunk: int = 2**20) -> np.ndarray:
        """Whether each point is inside the surface (generalised winding number >= 1/2), ``chunk`` points at a time."""
        import igl

        points = np.asarray(points)
        out = np.empty(len(points), bool)
        for i in range(0, len(points), chunk):
            q = np.ascontiguousarray(points[i : i + chunk], dtype=np.float64)
            out[i : i + chunk] = igl.fast_winding_number(self.vertices, self.faces, q) >= 0.5
        return out

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

    def boundary_edges(self) -> int:
        """The edges that belong to one face only: 0 on a closed (watertight) surface."""
        edges = np.sort(self.faces[:, [[0, 1], [1, 2], [2, 0]]].reshape(-1, 2), axis=1)
        _, counts = np.unique(edges, axis=0, return_counts=True)
        return int((counts == 1).sum())

    def signed_volume(self) -> float:
        """``sum_f det(v0, v1, v2) / 6`` over the faces: the enclosed volume, negative when the faces' normals point
        inwards (divergence theorem)."""
        v = self.vertices[self.faces]
        return float(np.linalg.det(v).sum() / 6)


@dataclass
class Cloud:
    """An oriented point cloud (``points``, unit ``normals``, in frame units) labelled as BACON and SCONE label it: the
    signed distance of ``x`` is ``(x - p_1) . mean(n_1, n_2, n_3)`` over its three nearest points (BACON
    ``dataio.MeshSDF.sample_surface``). As the truth of a cloud without a mesh, inside is where that is negative."""

    points: np.ndarray  # (P, 3) float64
    normals: np.ndarray  # (P, 3) float64, unit
    _on: tuple | None = field(default=None, repr=False, compare=False)  # (points, normals) on a device: sdf_on_device

    @cached_property
    def tree(self):
        """scipy's k-d tree, built unbalanced and without compacted nodes: the same neighbours, and on BACON's points
        (half of them far from the surface) 7x faster to query than its defaults (``python tools/shapes_label_bench.py``
        on the 2-core CPU: 10k labels in a 1M-point cloud 0.16 s instead of 1.1-1.4 s)."""
        from scipy.spatial import cKDTree

        return cKDTree(self.points, balanced_tree=False, compact_nodes=False)

    def sdf(self, x: np.ndarray) -> np.ndarray:
        """The labels of host points: a k-d tree query on every core."""
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


def bacon_sample(cloud: Cloud, count: int, seed: int, coarse: float, fine: float, coarse_weight: float,
                 half: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BACON's training points (``sample_surface``; SCONE follows it; :func:`bacon_points`), their :meth:`Cloud.sdf`
    labels and loss weights."""
    points, weights = bacon_points(cloud, count, seed, coarse, fine, coarse_weight, half)
    return points.astype(np.float32), cloud.sdf(points)[:, None].astype(np.float32), weights


def bacon_points(cloud: Cloud, count: int, seed: int, coarse: float, fine: float, coarse_weight: float,
                 half: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` cloud points, the even-indexed moved by Laplace noise of scale ``coarse``, the odd by ``fine``, wrapped
    back into the cube ``[-half, half]^3`` (float64; dataio.py:672-680), and their loss weights: ``coarse_weight`` on
    the coarse points and 1 on the fine (BACON ``overfit_sdf``'s ``coarse_loss_weight``: its coarse-to-fine loss)."""
    rng = np.random.default_rng(seed)
    points = cloud.points[rng.integers(0, len(cloud.points), count)].copy()
    points[0::2] += rng.laplace(scale=coarse, size=points[0::2].shape)
    points[1::2] += rng.laplace(scale=fine, size=points[1::2].shape)
    points = np.where(points > half, points - 2 * half, np.where(points < -half, points + 2 * half, points))
    weights = np.ones((count, 1), np.float32)
    weights[0::2] = coarse_weight
    return points, weights


def normalised(vertices: np.ndarray, faces: np.ndarray, frame: Frame | None = None) -> Mesh:
    """The mesh in ``frame`` (default: :func:`bbox_frame` of its vertices)."""
    frame = frame or bbox_frame(vertices)
    return Mesh(np.ascontiguousarray(frame(vertices)), np.ascontiguousarray(faces, dtype=np.int64))


CLOUD_FILES = (".xyz", ".txt", ".pts")  # an oriented point cloud: one point per line, x y z nx ny nz
POINTS_HINT = "an oriented point cloud trains with data.kind=points_with_normals (a .xyz file: x y z nx ny nz)"


def read_cloud(path) -> tuple[np.ndarray, np.ndarray]:
    """An oriented point cloud file (:data:`CLOUD_FILES`) in its own units: points, and normals scaled to unit length
    (zero normals left as they are, as BACON does)."""
    try:
        data = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise UserError(f"{path}: not a point cloud of 6 numbers per line (x y z nx ny nz): {e}") from None
    if data.shape[1] != 6 or len(data) < 3:
        raise UserError(
            f"{path}: a point cloud needs 6 columns (x y z nx ny nz) and 3 points or more, got {data.shape}"
        )
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).any(1).sum())
        raise UserError(f"{path}: {bad} of the cloud's {len(data)} points are not finite (NaN or Inf): remove them")
    norms = np.linalg.norm(data[:, 3:], axis=1, keepdims=True)
    return data[:, :3], data[:, 3:] / np.where(norms == 0, 1.0, norms)


def read_mesh(path) -> tuple[np.ndarray, np.ndarray]:
    """A triangle mesh file in its own units, checked (:func:`checked`): vertices ``(V, 3)``, faces ``(F, 3)``."""
    import trimesh

    if str(path).lower().endswith(CLOUD_FILES):
        raise UserError(f"{path}: a point cloud, not a mesh; {POINTS_HINT}")
    try:
        mesh = trimesh.load(str(path), force="mesh", process=False)
    except Exception as e:  # trimesh raises many kinds on a bad file
        raise UserError(f"{path}: not a readable mesh ({type(e).__name__}: {e})") from None
    vertices, faces = np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)
    return checked(vertices, faces, path)


def checked(vertices: np.ndarray, faces: np.ndarray, path) -> tuple[np.ndarray, np.ndarray]:
    """A mesh fit to label, before any work: no faces (a point cloud) and non-finite vertices refused with what to do;
    faces oriented inwards (negative :meth:`Mesh.signed_volume`: every winding number would be -1 inside, every point
    outside) flipped with a warning, since a closed surface's orientation is unambiguous; holes reported (the winding
    number is then a smooth guess of inside near them, and the distances are to the open surface)."""
    if len(faces) == 0:
        raise UserError(f"{path}: the file has no faces, so it is not a surface; {POINTS_HINT}")
    bad = ~np.isfinite(vertices).all(1)
    if bad.any():
        raise UserError(
            f"{path}: {int(bad.sum())} of the mesh's {len(vertices)} vertices are not finite (NaN or Inf); "
            "repair the file (e.g. MeshLab: Cleaning and Repairing) and run again"
        )
    mesh = Mesh(vertices, faces)
    holes = mesh.boundary_edges()
    if holes:
        log.warning(
            "%s: the mesh is not watertight (%d boundary edges): inside is where the generalised winding number is "
            ">= 1/2, a smooth guess near the holes, and distances are to the open surface", path, holes
        )
    if mesh.signed_volume() < 0:
        log.warning("%s: the faces are oriented inwards (negative signed volume): flipped", path)
        faces = np.ascontiguousarray(faces[:, ::-1])
    return vertices, faces


def sample(
    mesh: Mesh, count: int, label: Label, seed: int, near_sigma: float = 0.01, fractions: tuple = (1 / 3, 1 / 3, 1 / 3),
    half: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The training pool (module doc): ``count`` points in the cube ``[-half, half]^3`` and their labels
    ``(count, 1)``."""
    rng = np.random.default_rng(seed)
    n_surface, n_near = (int(round(count * f)) for f in fractions[:2])
    n_uniform = count - n_surface - n_near
    on, _ = mesh.surface(n_surface + n_near, seed)
    near = on[n_surface:] + rng.normal(scale=near_sigma, size=(n_near, 3))
    points = np.concatenate([on[:n_surface], near, rng.uniform(-half, half, (n_uniform, 3))]).clip(-half, half)
    labels = label.of(mesh, points)
    return points.astype(np.float32), labels[:, None].astype(np.float32)


@dataclass
class Shape(Signal):
    """A mesh as a scattered signal: the training pool's labels ``values (N, 1)`` at ``coords (N, 3)`` (the network's
    inputs: frame coordinates times ``input_scale``); scored by :mod:`inr_recover.tasks.shapes.metrics`
    (``results.json`` ``data``: the mesh, the pool, the frame)."""

    values: np.ndarray
    coords: np.ndarray
    mesh: Mesh
    name: str
    label: Label  # what the network outputs (:data:`~.labels.LABELS`)
    resolution: int  # the IoU grid's points per axis (metrics.shape's convention)
    path: str | None = None
    near_sigma: float = 0.01
    fresh: bool = False  # draw new training points at every step (:meth:`draw`) instead of from the pool
    cloud: Cloud | None = None  # data.kind=points_with_normals: the oriented cloud the labels come from
    bacon: tuple = (0.2, 0.002, 0.01)  # with a cloud: the coarse and fine Laplace scales, the coarse points' weight
    record_extra: dict = field(default_factory=dict)
    frame: Frame = Frame("bbox")
    mesh_resolution: int | None = None  # the grid marching cubes extracts the surface from; None: resolution
    input_scale: float = 1.0  # the network sees frame coordinates times this (SCONE: 2)
    convention: str = "ours"  # how it is scored (metrics.shape: :data:`~.metrics.CONVENTIONS`)
    scattered = True  # labels are not normalised: lo, hi = 0, 1

    def __post_init__(self):
        self.mesh_resolution = self.mesh_resolution or self.resolution

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
            "frame": self.frame.record(),
            "input_scale": self.input_scale,
            "eval_resolution": self.resolution,
            "mesh_resolution": self.mesh_resolution,
            **self.record_extra,
        }

    def draw(self, count: int, seed: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``count`` new training points (network inputs), their labels and loss weights on ``device``, drawn as the
        pool is with ``seed``: :func:`sample` from the mesh (weights 1: exact labels by libigl on the host, then
        copied), or BACON's points from the cloud (:func:`bacon_points`), labelled on ``device`` when it is not the
        CPU (:meth:`Cloud.sdf_on_device`) and on the host otherwise."""
        s, half = self.input_scale, self.frame.half
        if self.cloud is None:
            coords, values = sample(self.mesh, count, self.label, seed, self.near_sigma, half=half)
            return tuple(upload(torch.from_numpy(a), device) for a in (coords * s, values, np.ones_like(values)))
        if torch.device(device).type == "cpu":
            coords, values, weights = bacon_sample(self.cloud, count, seed, *self.bacon, half)
            return torch.from_numpy(coords * s), torch.from_numpy(values), torch.from_numpy(weights)
        points, weights = bacon_points(self.cloud, count, seed, *self.bacon, half)
        coords = upload(torch.from_numpy(points.astype(np.float32)), device)
        return coords * s, self.cloud.sdf_on_device(coords)[:, None], upload(torch.from_numpy(weights), device)


KINDS = ("mesh", "points_with_normals")


def _check_options(
    name: str, label: Label, kind: str, fresh: bool, samples: int, resolution: int, near_sigma: float, has_truth: bool,
    frame: str, cloud: str | None,
) -> None:
    if kind not in KINDS:
        raise UserError(f"data.kind='{kind}' is not one of {', '.join(KINDS)}")
    frame_named(frame)
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
    if cloud is not None and kind != "points_with_normals":
        raise UserError(f"data.cloud={cloud} gives BACON's labels: it needs data.kind=points_with_normals")


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
    frame: str = "bbox",
    cloud: str | None = None,
    mesh_resolution: int | None = None,
    input_scale: float = 1.0,
    convention: str = "ours",  # checked with the task (:meth:`~.task.ShapeField.check`)
) -> Shape:
    """``data=bunny|dragon|mesh``: read ``root/file`` (or ``path``), put it in ``frame``, draw the training pool; with
    ``kind=points_with_normals`` the labels come from an oriented cloud as BACON's (:func:`bacon_sample`): the
    ``cloud`` file beside the mesh (FINER: trained on ``gt_*.xyz``, scored against ``gt_*.ply`` in the cloud's frame),
    the file itself when it is a cloud (then it is the truth as well), or ``cloud_points`` points sampled on the mesh
    with their faces' normals."""
    label = label_named(label)
    p = resolve_path(root, file, path)
    _check_options(name, label, kind, fresh, samples, resolution, near_sigma, has_truth, frame, cloud)
    if not p.is_file():
        raise UserError(
            f"data '{name}': mesh file not found at {p}; put it there, or set data.root=DIR holding it or "
            "data.path=/path/to/mesh (.obj .ply .off .stl, or a point cloud .xyz with data.kind=points_with_normals)"
        )
    if cloud is not None and not resolve_path(None, None, cloud).is_file():
        raise UserError(f"data.cloud={cloud}: file not found")
    oriented = None
    if kind == "points_with_normals" and (cloud is not None or p.suffix.lower() in CLOUD_FILES):
        oriented = read_cloud(resolve_path(None, None, cloud) if cloud is not None else p)
    vertices, faces = (None, None) if cloud is None and oriented is not None else read_mesh(p)
    fr = frame_named(frame)(oriented[0] if oriented is not None else vertices)
    truth = None if faces is None else Mesh(np.ascontiguousarray(fr(vertices)), faces)
    if kind == "points_with_normals":
        source = Cloud(*truth.surface(cloud_points, seed)) if oriented is None else Cloud(fr(oriented[0]), oriented[1])
        truth = truth if truth is not None else source
        coords, values, _ = bacon_sample(source, samples, seed, coarse_scale, fine_scale, coarse_weight, fr.half)
        pool = f"BACON's: cloud points moved by Laplace noise, scale {coarse_scale} (even) and {fine_scale} (odd)"
    else:
        source = None
        coords, values = sample(truth, samples, label, seed, near_sigma, half=fr.half)
        pool = "1/3 on the surface, 1/3 near it (Gaussian offsets), 1/3 uniform in the cube"
    return Shape(
        values=values,
        coords=coords * np.float32(input_scale),
        mesh=truth,
        name=name,
        label=label,
        resolution=resolution,
        path=str(p),
        near_sigma=near_sigma,
        fresh=fresh,
        cloud=source,
        bacon=(coarse_scale, fine_scale, coarse_weight),
        frame=fr,
        mesh_resolution=mesh_resolution,
        input_scale=input_scale,
        convention=convention,
        record_extra={
            "kind": kind,
            "near_sigma": near_sigma,
            "pool_seed": seed,
            "fresh": fresh,
            "pool": pool,
            **({"cloud_points": len(source.points), "coarse_weight": coarse_weight, "cloud": cloud} if source else {}),
        },
    )
