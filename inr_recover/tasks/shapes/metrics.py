"""How a reconstructed 3-D shape is scored (``metrics.shape``): one :class:`Convention` per way the field computes it,
each read from its official code, never on the training points. A convention names the grids the field is sampled
on (:meth:`Convention.grids`: the Query evaluates the network there, chunk by chunk) and scores those volumes against
the truth (:meth:`Convention.score`); every record says its convention and the sampling floor of its Chamfer and
F-score (the truth against itself at the same sample count: what a perfect reconstruction would score).

- ``ours``: IoU of the inside voxels (SDF <= 0, occupancy logit >= 0) against the mesh's winding number on the
  ``data.resolution^3`` cell centres of the cube; the surface extracted by marching cubes from the field at the
  ``data.mesh_resolution^3`` cell centres; Chamfer ``1/2 (mean_p min_q |p - q|^2 + mean_q min_p |q - p|^2)`` on 100k
  points drawn on each surface.
- ``finer`` (FINER++ Table 2, liuzhen0212/FINER ``sdf/bacon/experiments``, in BACON's frame): the field sampled at
  ``torch.linspace(-0.5, 0.5, N)`` per axis, its surface extracted and placed as if the samples were cell centres
  (``eval.py:110-147``); IoU on ``128`` points per axis of ``[-1, 1]^3`` (``inside_mesh/metrics.py:15-71``), inside
  the extracted and the true mesh by ray parity there (``:172-239``), by the generalised winding number here (the
  same on a closed mesh); Chamfer the **sum** over both directions of the mean **squared** nearest distance between
  300k points drawn on each mesh (``:73-125``).
- ``scone`` (SCONE, jasonli0707/scone, in BACON's frame): the field sampled at ``arange(-N/2, N/2) / N`` per axis
  (``train_sdf.py:80``, ``sdf_utils/generate_mesh.py:14``); IoU of SDF <= 0 against the truth's SDF <= 0 on the same
  points (``train_sdf.py:81-85``; the truth is BACON's cloud label there, ``dataset.py:119-133``); Chamfer the sum
  over both directions of the mean **unsquared** nearest distance between the marching-cubes vertices of the
  reconstruction and of the truth's field (``train_sdf.py:88-97``). SCONE reports the checkpoint of the best IoU
  against the truth (``:100-103``): here the final or honestly selected iterate only.

F-scores (ours, in every convention, from the convention's own point sets): precision and recall at 0.5% and 1% of
the true shape's longest side (at 2% of the cube they saturate: SIREN 1.0000, the nearest training label 0.9936).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

FSCORE_TAUS = {"fscore_fine": 0.005, "fscore": 0.01}  # F-score distance thresholds, fractions of the longest side


def cell_axis(n: int, half: float) -> np.ndarray:
    """The ``n`` cell centres of ``[-half, half]``."""
    return ((np.arange(n) + 0.5) / n * 2 - 1) * half


def extract(volume: np.ndarray, half: float = 1.0, level: float = 0.0):
    """The level set ``level`` of a field sampled on an ``N^3`` grid of ``[-half, half]^3``, each sample placed at its
    cell centre (as FINER's and SCONE's code place theirs), as a :class:`~.mesh.Mesh` oriented outwards (positive
    signed volume, so its winding number is +1 inside), with vertex normals from the field's gradient (central
    differences of the grid, as marching cubes computes them) pointing outwards; None when the field does not cross
    the level."""
    from skimage.measure import marching_cubes

    from inr_recover.tasks.shapes.mesh import Mesh

    if not volume.min() < level < volume.max():
        return None
    n = volume.shape[0]
    verts, faces, normals, _ = marching_cubes(volume, level=level, spacing=(2 * half / n,) * 3)
    mesh = Mesh(verts.astype(np.float64) - half + half / n, faces.astype(np.int64), normals.astype(np.float64))
    if len(mesh.faces) and mesh.signed_volume() < 0:
        mesh.faces = np.ascontiguousarray(mesh.faces[:, ::-1])
    a, b, c = (mesh.vertices[mesh.faces[:, i]] for i in range(3))
    if np.sum(np.cross(b - a, c - a) * mesh.normals[mesh.faces].sum(1)) < 0:  # the gradient points inwards
        mesh.normals = -mesh.normals  # (occupancy: larger inside)
    return mesh


def grid_points(axis: np.ndarray) -> np.ndarray:
    """The ``len(axis)^3`` points of the grid of ``axis`` per axis, ``(N^3, 3)``, 'ij' order."""
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)


def cell_centres(resolution: int, half: float = 1.0) -> np.ndarray:
    """The ``resolution^3`` cell centres of the cube ``[-half, half]^3``, ``(R^3, 3)``, 'ij' order."""
    return grid_points(cell_axis(resolution, half))


def grid_rows(axis, start: int, stop: int):
    """Points ``start:stop`` of :func:`grid_points` made from their flat indices, without the whole grid: a numpy
    array, or a tensor on ``axis``'s device when ``axis`` is one (a 512^3 grid of float64 points is 3.2 GB)."""
    xp = torch if isinstance(axis, torch.Tensor) else np
    n = len(axis)
    idx = torch.arange(start, stop, device=axis.device) if xp is torch else np.arange(start, stop)
    return xp.stack((axis[idx // (n * n)], axis[idx // n % n], axis[idx % n]), -1)


def on_grid(fn, axis: np.ndarray, chunk: int = 2**20) -> np.ndarray:
    """``fn(points) -> (k,)`` at every point of the grid of ``axis``, ``chunk`` points at a time, as ``(N, N, N)``."""
    n = len(axis)
    return np.concatenate([fn(grid_rows(axis, i, min(i + chunk, n**3))) for i in range(0, n**3, chunk)]).reshape(
        n, n, n
    )


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def nearest(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each point's distance to and index of its nearest point in the other set: ``p -> q``, then ``q -> p``."""
    from scipy.spatial import cKDTree

    d_pq, i_pq = cKDTree(q).query(p, workers=-1)
    d_qp, i_qp = cKDTree(p).query(q, workers=-1)
    return d_pq, i_pq, d_qp, i_qp


def fscores(d_pq: np.ndarray, d_qp: np.ndarray, side: float) -> dict:
    """F-scores (:data:`FSCORE_TAUS`): the harmonic mean of precision and recall within ``tau * side``."""
    out = {}
    for key, tau in FSCORE_TAUS.items():
        precision, recall = float((d_pq <= tau * side).mean()), float((d_qp <= tau * side).mean())
        out[key] = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return out


def surface_distances(p: np.ndarray, n_p: np.ndarray, q: np.ndarray, n_q: np.ndarray, side: float,
                      squared: bool = True, halve: bool = True) -> dict:
    """Chamfer distance (mean nearest distance, ``squared`` or not, each direction; the two averaged when ``halve``,
    else summed), F-scores at fractions of ``side`` and normal consistency (mean ``|n_p . n_q|`` of each point and its
    nearest, both directions averaged; None without normals) between two point sets."""
    d_pq, i_pq, d_qp, i_qp = nearest(p, q)
    power = 2 if squared else 1
    chamfer = float(np.mean(d_pq**power) + np.mean(d_qp**power)) * (0.5 if halve else 1.0)
    consistency = None
    if n_p is not None:
        consistency = float(
            0.5 * (np.abs((n_p * n_q[i_pq]).sum(1)).mean() + np.abs((n_q * n_p[i_qp]).sum(1)).mean())
        )
    return {"chamfer": chamfer, **fscores(d_pq, d_qp, side), "normal_consistency": consistency}


def longest_side(shape) -> float:
    """The longest side of the true shape's bounding box, in frame units."""
    v = shape.mesh.vertices if hasattr(shape.mesh, "faces") else shape.mesh.points
    return float((v.max(0) - v.min(0)).max())


@dataclass(frozen=True)
class Convention:
    """A way to score a shape's field (module doc): where it is sampled, and how those volumes are scored."""

    name: ClassVar[str]
    frames: ClassVar[tuple] = ("bbox", "bacon")  # the frames its numbers are defined in
    needs_mesh: ClassVar[bool] = False  # whether the truth must be a mesh (not a cloud)
    chamfer: ClassVar[str]  # the Chamfer's definition, recorded

    def grids(self, shape) -> dict[str, np.ndarray]:
        """``{name: axis}``: the grids (``axis`` per dimension, frame units) the field is sampled on, in order."""
        raise NotImplementedError

    def score(self, volumes: dict[str, np.ndarray], shape, seed: int) -> dict:
        """The metrics of the field's ``volumes`` (one per :meth:`grids` entry, ``(N, N, N)``) against the truth."""
        raise NotImplementedError

    def surface(self, volumes: dict[str, np.ndarray], shape):
        """The reconstructed surface (frame units): the zero level of the ``mesh`` volume."""
        return extract(volumes["mesh"], shape.frame.half)

    def split(self, flat: np.ndarray, shape) -> dict[str, np.ndarray]:
        """The field's values at the concatenated grid points (the Query's output) as one volume per grid."""
        out, at = {}, 0
        for name, axis in self.grids(shape).items():
            n = len(axis)
            out[name] = flat[at : at + n**3].reshape(n, n, n)
            at += n**3
        return out

    def record(self, shape, **extra) -> dict:
        return {"convention": self.name, "chamfer_definition": self.chamfer,
                "grids": {k: len(a) for k, a in self.grids(shape).items()},
                "fscore_tau": {k: t * longest_side(shape) for k, t in FSCORE_TAUS.items()}, **extra}

    def sampled(self, recon, shape, seed: int, halve: bool) -> tuple[dict, dict]:
        """Chamfer, F-scores and normal consistency between ``samples`` points drawn on the reconstructed surface and
        as many on the true one (:func:`surface_distances`), and their floor: the truth against a second draw."""
        side = longest_side(shape)
        q, n_q = shape.mesh.surface(self.samples, seed + 1)
        out = dict.fromkeys(("chamfer", *FSCORE_TAUS, "normal_consistency"))
        if recon is not None and len(recon.faces):
            out.update(surface_distances(*recon.surface(self.samples, seed), q, n_q, side, halve=halve))
        floor = surface_distances(*shape.mesh.surface(self.samples, seed + 2), q, n_q, side, halve=halve)
        return out, {"floor": {k: floor[k] for k in ("chamfer", *FSCORE_TAUS)}, "surface_samples": self.samples}


class Ours(Convention):
    name = "ours"
    samples = 100000
    chamfer = "1/2 (mean squared nearest distance, both directions), 100k points on each surface"

    def grids(self, shape):
        h = shape.frame.half
        grids = {"mesh": cell_axis(shape.mesh_resolution, h)}
        if shape.resolution != shape.mesh_resolution:
            grids["iou"] = cell_axis(shape.resolution, h)
        return grids

    def score(self, volumes, shape, seed):
        field = volumes.get("iou", volumes["mesh"])
        r = field.shape[0]
        truth = on_grid(shape.mesh.inside, cell_axis(r, shape.frame.half))
        out, extra = self.sampled(self.surface(volumes, shape), shape, seed, halve=True)
        return {"iou": iou(shape.label.inside(field), truth), **out,
                **self.record(shape, iou_grid=f"{r}^3 cell centres of the cube", **extra)}


class Finer(Convention):
    name = "finer"
    frames = ("bacon",)
    needs_mesh = True
    samples = 300000  # inside_mesh/metrics.py:73 num_mesh_samples
    chamfer = ("sum over both directions of the mean squared nearest distance, 300k points on each mesh "
               "(liuzhen0212/FINER sdf/bacon/experiments/inside_mesh/metrics.py:73-125)")

    def grids(self, shape):
        return {"mesh": np.linspace(-shape.frame.half, shape.frame.half, shape.mesh_resolution)}  # eval.py:110

    def score(self, volumes, shape, seed):
        r, h = shape.resolution, shape.frame.half
        axis = np.linspace(-2 * h, 2 * h, r)  # metrics.py:15-40: N points per axis over [-1, 1]
        recon = self.surface(volumes, shape)
        out, extra = self.sampled(recon, shape, seed, halve=False)
        found = recon is not None and len(recon.faces)
        return {"iou": iou(on_grid(recon.inside, axis), on_grid(shape.mesh.inside, axis)) if found else 0.0, **out,
                **self.record(shape, iou_grid=f"{r} points per axis of [-{2 * h}, {2 * h}]^3, inside by the meshes",
                              **extra)}


class Scone(Convention):
    name = "scone"
    frames = ("bacon",)
    chamfer = ("sum over both directions of the mean unsquared nearest distance between the marching-cubes vertices "
               "of the reconstruction and of the truth's field (jasonli0707/scone train_sdf.py:88-97)")

    def grids(self, shape):
        n = shape.mesh_resolution
        return {"mesh": np.arange(-(n // 2), n - n // 2) / n * 2 * shape.frame.half}  # dataset.py:122

    def score(self, volumes, shape, seed):
        field = volumes["mesh"]
        n = field.shape[0]
        source = shape.cloud if shape.cloud is not None else shape.mesh  # SCONE's truth: BACON's cloud label
        truth = on_grid(source.sdf, self.grids(shape)["mesh"])
        out = {"iou": iou(shape.label.inside(field), truth <= 0), **dict.fromkeys(("chamfer", *FSCORE_TAUS)),
               "normal_consistency": None}
        recon, reference = self.surface(volumes, shape), extract(truth, shape.frame.half)
        if recon is not None and len(recon.faces) and reference is not None:
            out.update(surface_distances(recon.vertices, None, reference.vertices, None, longest_side(shape),
                                         squared=False, halve=False))
        floor = {"chamfer": 0.0, **dict.fromkeys(FSCORE_TAUS, 1.0), "note": "the truth's vertices against themselves"}
        return {**out, **self.record(shape, floor=floor, iou_grid=f"{n}^3 points arange(-N/2, N/2) / N of the cube")}


CONVENTIONS = {c.name: c() for c in (Ours, Finer, Scone)}
