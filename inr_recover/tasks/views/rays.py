"""Camera rays, samples along them and the volume rendering that turns a field's density and colour at the samples
into pixel colours; :class:`Rendered`, the measurement of pixels rendered along their rays.

Coordinates: camera positions are scaled by ``data.scale`` (torch-ngp's ``--scale 0.8``, which FINER's NeRF script
passes with ``--bound 1``) so that the scene lies in the cube ``[-1, 1]^3`` every model's inputs span; a ray is sampled
between where it enters and leaves that cube, from ``min_near`` on (torch-ngp ``near_far_from_aabb``). Rays that miss
the cube see the background only.

Samples: ``samples`` equal bins between near and far, one point per bin, jittered uniformly inside its bin in
training and at its centre otherwise (stratified sampling, NeRF Sec. 4); ``delta_i`` is the bin's length.

Rendering (NeRF eq. 3, FINER++ eq. 13): ``C = sum_i T_i (1 - exp(-sigma_i delta_i)) c_i + (1 - sum_i w_i) b`` with
``T_i = exp(-sum_{j<i} sigma_j delta_j)``, ``w_i`` the summed terms' weights (``nerfacc.render_weight_from_density``)
and ``b`` the background (white: the Blender images are RGBA composited on white). The network's first output is the
density before ``exp`` (torch-ngp's ``trunc_exp``: the gradient's exponent clamped at 15), the others the colour
before a sigmoid, as in FINER's ``network_finer.py``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from inr_recover.engine.runtime import upload
from inr_recover.measure.domain import Domain
from inr_recover.measure.geometry import Geometry
from inr_recover.measure.measurements import Batch, Measurement


class Rendered(Measurement):
    """Pixels of posed views, each the volume rendering of the field along its camera ray (``task=view_synthesis``,
    :mod:`inr_recover.tasks.views.scene`): a row is a ray, a batch ``size`` rays whose ``S`` samples each are the
    model's inputs (jittered in their bins, with the fit's generator), and :meth:`apply` composites the outputs at the
    samples into the rays' colours. :meth:`predict` renders every ray at its bins' centres, ``chunk`` rays per forward
    pass."""

    def sample(self, generator: torch.Generator, size: int | None = None) -> Batch:
        idx = slice(None) if size is None else self.draw_rows(generator, size)
        points, bins = self.obs.geometry.bins(self.inputs[idx], generator)
        return Batch(points, self.targets[idx], self.weights[idx], bins)

    def first(self, n: int) -> Batch:
        points, bins = self.obs.geometry.bins(self.inputs[:n], None)
        return Batch(points, self.targets[:n], self.weights[:n], bins)

    def apply(self, outputs: torch.Tensor, batch: Batch | None = None) -> torch.Tensor:
        return self.obs.geometry.composite(outputs, batch.bins)

    def predict(self, model, chunk: int | None) -> torch.Tensor:
        return self.obs.geometry.render(model, self.inputs, chunk)

    def measured(self, prediction: torch.Tensor) -> torch.Tensor:
        return prediction


class TruncExp(torch.autograd.Function):
    """``exp(x)`` whose gradient uses ``exp(min(x, 15))`` (torch-ngp ``activation.trunc_exp``)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.exp(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * torch.exp(x.clamp(max=15))


def composite(raw: torch.Tensor, t_starts: torch.Tensor, t_ends: torch.Tensor, background: float) -> torch.Tensor:
    """Pixel colours ``(n, C)`` of ``n`` rays from the network's raw outputs at their samples ``(n, S, 1 + C)`` (module
    doc: density ``trunc_exp(raw[..., 0])``, colour ``sigmoid(raw[..., 1:])``) over the bins ``[t_starts, t_ends)``; a
    bin of length zero (a ray that misses the cube) holds no density, whatever the network says there."""
    from nerfacc import render_weight_from_density

    sigma = torch.where(t_ends > t_starts, TruncExp.apply(raw[..., 0]), 0.0)  # an empty bin: no inf * 0
    weights, _, _ = render_weight_from_density(t_starts, t_ends, sigma)
    colour = torch.sigmoid(raw[..., 1:])
    return (weights[..., None] * colour).sum(-2) + (1.0 - weights.sum(-1, keepdim=True)) * background


def camera_rays(pose: np.ndarray, camera, scale: float) -> np.ndarray:
    """Rays through the pixel centres of a view, ``(H W, 6)``: origin and unit direction for a pinhole ``camera``
    (:class:`~inr_recover.tasks.views.scene.Camera`: ``fx fy cx cy`` at its ``height x width``), the pose a
    camera-to-world matrix in Blender/OpenGL axes (the camera looks along ``-z``, ``y`` up), positions times
    ``scale``."""
    j, i = np.meshgrid(np.arange(camera.height) + 0.5, np.arange(camera.width) + 0.5, indexing="ij")
    local = np.stack([(i - camera.cx) / camera.fx, -(j - camera.cy) / camera.fy, -np.ones_like(i)], -1)
    dirs = local.reshape(-1, 3) @ pose[:3, :3].T
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    origins = np.broadcast_to(pose[:3, 3] * scale, dirs.shape)
    return np.concatenate([origins, dirs], -1)


def near_far(rays: np.ndarray, min_near: float, bound: float = 1.0) -> np.ndarray:
    """Where each ray ``(N, 6)`` enters and leaves the cube ``[-bound, bound]^3`` (slab test), ``(N, 2)``; near at
    least ``min_near``; a ray that misses the cube gets ``near = far``."""
    o, d = rays[:, :3], rays[:, 3:6]
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (-bound - o) / d, (bound - o) / d
    near = np.nanmax(np.minimum(t1, t2), -1).clip(min_near)
    far = np.nanmin(np.maximum(t1, t2), -1)
    return np.stack([near, np.maximum(far, near)], -1)


@dataclass(frozen=True)
class Rays(Geometry):
    """The geometry of posed views: the rays rendered, ``table (N, 8)``: origin, unit direction, near, far (one row
    per pixel of the views ``(V, H, W, C)``); how many ``samples`` each ray takes and the ``background`` colour."""

    table: np.ndarray
    samples: int
    background: float = 1.0
    measurement: ClassVar[type] = Rendered  # an observation with rays is measured by rendering them

    def in_features(self, obs) -> int:
        """The network sees a sample's position."""
        return 3

    def out_features(self, obs) -> int:
        """The density, then the colour channels."""
        return obs.channels + 1

    def coordinates(self, obs, device=None) -> torch.Tensor:
        """The ray table, row ``i`` the ray of pixel ``i``."""
        return torch.from_numpy(self.table).to(device)

    def domain(self, obs) -> Domain:
        """Scattered samples along the rays, at the sampling rate of the views' shorter side."""
        grid = self.grid(obs)
        return Domain(dim=3, samples=math.prod(grid), extent=int(min(grid[1:3])))

    @classmethod
    def refusal(cls, model: type, name: str) -> str | None:
        """Rays query points: a method of a grid of entries cannot render them (checked with the task, before the
        scene is read: :meth:`~inr_recover.tasks.views.task.ViewSynthesis.check`)."""
        if model.needs_grid or model.needs_entries:
            return (
                f"model={name} works on a grid of entries and view synthesis queries points along camera rays; "
                "use a coordinate network (siren, choir, finer, pemlp, gauss, wire, ...)"
            )
        return None

    def bins(self, rays: torch.Tensor, generator: torch.Generator | None) -> tuple:
        """The sample points ``(n S, 3)`` of ``n`` rays ``(n, 8)`` and their bins ``(t_starts, t_ends)``, each
        ``(n, S)``: jittered in their bins with ``generator`` (CPU), at the bins' centres without one."""
        n, s = rays.shape[0], self.samples
        u = torch.linspace(0.0, 1.0, s + 1, device=rays.device)
        near, far = rays[:, 6:7], rays[:, 7:8]
        edges = near + (far - near) * u
        t_starts, t_ends = edges[:, :-1], edges[:, 1:]
        offset = 0.5 if generator is None else upload(torch.rand(n, s, generator=generator), rays.device)
        t = t_starts + offset * (t_ends - t_starts)
        points = rays[:, None, :3] + t[..., None] * rays[:, None, 3:6]
        return points.reshape(-1, 3), (t_starts, t_ends)

    def composite(self, raw: torch.Tensor, bins: tuple) -> torch.Tensor:
        """The pixel colours of the rays whose samples' raw outputs are ``raw (n S, 1 + C)`` (:func:`composite`)."""
        t_starts = bins[0]
        return composite(raw.reshape(*t_starts.shape, raw.shape[-1]), t_starts, bins[1], self.background)

    @torch.no_grad()
    def render(self, model, table: torch.Tensor, chunk: int | None) -> torch.Tensor:
        """The pixel colours ``(N, C)`` of the rays ``table (N, 8)``, ``chunk`` rays per forward pass (all when None),
        samples at their bins' centres, the model in eval mode (its inference path, :meth:`INR.predict`)."""
        was_training = model.training
        model.eval()
        step = chunk or table.shape[0]
        out = []
        for i in range(0, table.shape[0], step):
            points, bins = self.bins(table[i : i + step], None)
            out.append(self.composite(model.predict(points), bins))
        model.train(was_training)
        return torch.cat(out)
