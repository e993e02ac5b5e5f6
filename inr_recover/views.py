"""Novel-view synthesis (``task=view_synthesis``): posed images of a scene in the NeRF Blender layout, their camera
rays, samples along the rays and the volume rendering that turns a field's density and colour at the samples into
pixel colours.

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

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from inr_recover.errors import UserError
from inr_recover.grid import OnGrid
from inr_recover.paths import resolve_path

SPLITS = ("train", "test")
ORDERS = ("random", "stride")


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
    doc: density ``trunc_exp(raw[..., 0])``, colour ``sigmoid(raw[..., 1:])``) over the bins ``[t_starts, t_ends)``."""
    from nerfacc import render_weight_from_density

    sigma = TruncExp.apply(raw[..., 0])
    weights, _, _ = render_weight_from_density(t_starts, t_ends, sigma)
    colour = torch.sigmoid(raw[..., 1:])
    return (weights[..., None] * colour).sum(-2) + (1.0 - weights.sum(-1, keepdim=True)) * background


def camera_rays(pose: np.ndarray, height: int, width: int, camera_angle_x: float, scale: float) -> np.ndarray:
    """Rays through the pixel centres of a ``height x width`` view, ``(H W, 6)``: origin and unit direction, the pose a
    camera-to-world matrix in Blender/OpenGL axes (the camera looks along ``-z``, ``y`` up), positions times ``scale``."""
    focal = 0.5 * width / np.tan(0.5 * camera_angle_x)
    j, i = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    local = np.stack([(i - 0.5 * width) / focal, -(j - 0.5 * height) / focal, -np.ones_like(i)], -1)
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
class Rays:
    """The rays a measurement renders, ``table (N, 8)``: origin, unit direction, near, far (one row per pixel); how
    many ``samples`` each ray takes and the ``background`` colour."""

    table: np.ndarray
    samples: int
    background: float = 1.0
    in_features = 3  # the network sees a sample's position

    def outputs(self, channels: int) -> int:
        """The network's outputs for ``channels`` colour channels: the density, then the colour."""
        return channels + 1

    def bins(self, rays: torch.Tensor, generator: torch.Generator | None) -> tuple:
        """The sample points ``(n S, 3)`` of ``n`` rays ``(n, 8)`` and their bins ``(t_starts, t_ends)``, each
        ``(n, S)``: jittered in their bins with ``generator`` (CPU), at the bins' centres without one."""
        n, s = rays.shape[0], self.samples
        u = torch.linspace(0.0, 1.0, s + 1, device=rays.device)
        near, far = rays[:, 6:7], rays[:, 7:8]
        edges = near + (far - near) * u
        t_starts, t_ends = edges[:, :-1], edges[:, 1:]
        offset = 0.5 if generator is None else torch.rand(n, s, generator=generator).to(rays.device)
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
            points, bins = self.bins(table[i:i + step], None)
            out.append(self.composite(model.predict(points), bins))
        model.train(was_training)
        return torch.cat(out)


def read_split(folder: Path, split: str) -> tuple[np.ndarray, float, list]:
    """A Blender split's camera-to-world poses ``(N, 4, 4)``, horizontal field of view and frame file names
    (``transforms_<split>.json``)."""
    meta = json.loads((folder / f"transforms_{split}.json").read_text())
    poses = np.array([f["transform_matrix"] for f in meta["frames"]], np.float64)
    return poses, float(meta["camera_angle_x"]), [f["file_path"] for f in meta["frames"]]


def read_images(folder: Path, names: list) -> np.ndarray:
    """The RGBA images ``(N, H, W, 4)`` on [0, 1] of the frames ``names`` (``file_path`` of the transforms file)."""
    from PIL import Image

    files = [folder / (n if n.endswith(".png") else n + ".png") for n in names]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise UserError(f"{len(missing)} image(s) named by {folder}'s transforms files are missing, e.g. {missing[0]}")
    return np.stack([np.asarray(Image.open(f).convert("RGBA"), np.float32) / 255.0 for f in files])


def on_background(rgba: np.ndarray, size: tuple | None, background: float) -> np.ndarray:
    """RGBA images ``(N, H, W, 4)`` composited on ``background`` and then area-averaged to ``size`` (H, W): each pixel
    of the result is the mean colour of the input pixels it covers (``torch`` adaptive area pooling)."""
    rgb = rgba[..., :3] * rgba[..., 3:] + background * (1.0 - rgba[..., 3:])
    if size is None or tuple(size) == rgb.shape[1:3]:
        return np.ascontiguousarray(rgb, np.float32)
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2)
    return torch.nn.functional.interpolate(t, size=tuple(size), mode="area").permute(0, 2, 3, 1).numpy().astype(np.float32)


def pick(count: int, views: int | None, order: str, seed: int) -> np.ndarray:
    """Which of ``count`` frames to use: ``views`` of them (all when None) at random with ``seed`` (sorted), or every
    ``count // views``-th from the first (``stride``: FINER's ``--trainskip 4`` picks 25 of 100)."""
    if views is None or views >= count:
        return np.arange(count)
    if order == "stride":
        return np.arange(0, count, count // views)[:views]
    return np.sort(np.random.default_rng(seed).choice(count, views, replace=False))


@dataclass
class Scene(OnGrid):
    """Posed views of a scene: the training images ``values (V, H, W, 3)`` (the observation) with their rays, and the
    test images ``test (T, H, W, 3)`` with theirs (the truth, never seen in training)."""

    values: np.ndarray
    rays: np.ndarray  # (V H W, 8) the training rays, row i the pixel values.reshape(-1, 3)[i]
    test: np.ndarray
    test_rays: np.ndarray
    name: str
    background: float = 1.0  # the colour the images were composited on, and the renderer's
    record_extra: dict = field(default_factory=dict)
    scattered = False
    has_truth = True
    missing = None
    coords = None
    rgb_bands = None
    key = None
    time_index = None
    lo, hi = 0.0, 1.0

    @property
    def side(self) -> int:
        """Pixels along the shorter side of a view: the sampling rate a model's frequencies are set against."""
        return int(min(self.values.shape[1:3]))

    def record(self) -> dict:
        return {"name": self.name, **self.record_extra}

    def frames_view(self, values: np.ndarray) -> np.ndarray:
        return values

    def to_raw(self, values: np.ndarray) -> np.ndarray:
        return values

    def to_own_axes(self, values: np.ndarray) -> np.ndarray:
        return values


def split_rays(poses: np.ndarray, size: tuple, camera_angle_x: float, scale: float, min_near: float) -> np.ndarray:
    """The ray table ``(N H W, 8)`` of views with ``poses`` at ``size`` (:func:`camera_rays`, :func:`near_far`)."""
    rays = np.concatenate([camera_rays(p, size[0], size[1], camera_angle_x, scale) for p in poses])
    return np.concatenate([rays, near_far(rays, min_near)], -1).astype(np.float32)


def _check_options(name: str, views, order: str, resize, test_views, scale: float, min_near: float) -> None:
    if order not in ORDERS:
        raise UserError(f"data.view_order='{order}' is not one of {', '.join(ORDERS)}")
    if views is not None and views < 1 or test_views is not None and test_views < 1:
        raise UserError(f"data '{name}': data.views and data.test_views must be positive (or null: all)")
    if resize is not None and (len(resize) != 2 or min(resize) < 2):
        raise UserError(f"data.resize={list(resize)}: [height, width] of at least 2 pixels, or null (the files' size)")
    if scale <= 0 or min_near < 0:
        raise UserError(f"data.scale={scale} must be positive and data.min_near={min_near} non-negative")


def load_blender(name: str, root: str | None = None, file: str | None = None, path: str | None = None, scene: str | None = None,
                 views: int | None = 25, view_order: str = "random", view_seed: int = 0, resize: list | None = (200, 200),
                 test_views: int | None = None, scale: float = 0.8, min_near: float = 0.2, background: float = 1.0,
                 has_truth: bool = True) -> Scene:
    """``data=lego|blender``: the scene folder ``root/file`` (``file`` is ``scene`` for data=blender; or ``path``) in
    the NeRF Blender layout; ``views``
    training views (:func:`pick` with ``view_order`` and ``view_seed``), ``test_views`` evenly spaced test views (all
    when None), each composited on ``background`` and area-resized to ``resize``."""
    _check_options(name, views, view_order, resize, test_views, scale, min_near)
    if not has_truth:
        raise UserError(f"data '{name}' is a scene of posed views: use task=view_synthesis")
    if not (path or file):
        raise UserError(f"data '{name}' names no scene: set data.scene=NAME and data.root=DIR (the folder holding the "
                        "scenes), or set data.path=/path/to/scene")
    folder = resolve_path(root, file, path)
    out, record = {}, {"path": str(folder), "scale": scale, "min_near": min_near, "background": background}
    for split, count, order in (("train", views, view_order), ("test", test_views, "stride")):
        if not (folder / f"transforms_{split}.json").is_file():
            raise UserError(f"data '{name}': scene file not found: {folder / f'transforms_{split}.json'}; set data.root=DIR (holding the "
                            "scene folder data.file) or data.path=/path/to/scene (transforms_train.json, "
                            "transforms_test.json, train/, test/)")
        poses, angle, names = read_split(folder, split)
        keep = pick(len(poses), count, order, view_seed)
        rgba = read_images(folder, [names[k] for k in keep])
        size = tuple(resize) if resize is not None else rgba.shape[1:3]
        out[split] = (on_background(rgba, size, background), split_rays(poses[keep], size, angle, scale, min_near))
        record[f"{split}_views"] = [names[k] for k in keep]
    record.update(size=list(out["train"][0].shape[1:3]), view_order=view_order, view_seed=view_seed,
                  resize="composited on the background, then area-averaged")
    return Scene(values=out["train"][0], rays=out["train"][1], test=out["test"][0], test_rays=out["test"][1], name=name,
                 background=background, record_extra=record)
