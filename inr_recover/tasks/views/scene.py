"""Posed images of a scene in the NeRF Blender layout (``task=view_synthesis``'s data, :func:`load_blender`): the
training views with their camera rays (the observation) and the test views with theirs (the truth); the rays and
the rendering are :mod:`inr_recover.tasks.views.rays`'s.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from inr_recover.config.paths import resolve_path
from inr_recover.data.signal import Signal
from inr_recover.errors import UserError
from inr_recover.tasks.views.rays import camera_rays, near_far

SPLITS = ("train", "test")
ORDERS = ("random", "stride")


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
    return (
        torch.nn.functional.interpolate(t, size=tuple(size), mode="area").permute(0, 2, 3, 1).numpy().astype(np.float32)
    )


def pick(count: int, views: int | None, order: str, seed: int) -> np.ndarray:
    """Which of ``count`` frames to use: ``views`` of them (all when None) at random with ``seed`` (sorted), or every
    ``count // views``-th from the first (``stride``: FINER's ``--trainskip 4`` picks 25 of 100)."""
    if views is None or views >= count:
        return np.arange(count)
    if order == "stride":
        return np.arange(0, count, count // views)[:views]
    return np.sort(np.random.default_rng(seed).choice(count, views, replace=False))


@dataclass
class Scene(Signal):
    """Posed views of a scene: the training images ``values (V, H, W, 3)`` (the observation) with their rays, and the
    test images ``test (T, H, W, 3)`` with theirs (the truth, never seen in training)."""

    values: np.ndarray
    rays: np.ndarray  # (V H W, 8) the training rays, row i the pixel values.reshape(-1, 3)[i]
    test: np.ndarray
    test_rays: np.ndarray
    name: str
    background: float = 1.0  # the colour the images were composited on, and the renderer's
    record_extra: dict = field(default_factory=dict)

    @property
    def side(self) -> int:
        """Pixels along the shorter side of a view: the sampling rate a model's frequencies are set against."""
        return int(min(self.values.shape[1:3]))

    def record(self) -> dict:
        return {"name": self.name, **self.record_extra}

    def frames_view(self, values: np.ndarray) -> np.ndarray:
        """The views are the frames, ``(V, H, W, 3)``."""
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


def load_blender(
    name: str,
    root: str | None = None,
    file: str | None = None,
    path: str | None = None,
    scene: str | None = None,
    views: int | None = 25,
    view_order: str = "random",
    view_seed: int = 0,
    resize: list | None = (200, 200),
    test_views: int | None = None,
    scale: float = 0.8,
    min_near: float = 0.2,
    background: float = 1.0,
    has_truth: bool = True,
) -> Scene:
    """``data=lego|blender``: the scene folder ``root/file`` (``file`` is ``scene`` for data=blender; or ``path``) in
    the NeRF Blender layout; ``views``
    training views (:func:`pick` with ``view_order`` and ``view_seed``), ``test_views`` evenly spaced test views (all
    when None), each composited on ``background`` and area-resized to ``resize``."""
    _check_options(name, views, view_order, resize, test_views, scale, min_near)
    if not has_truth:
        raise UserError(f"data '{name}' is a scene of posed views: use task=view_synthesis")
    if not (path or file):
        raise UserError(
            f"data '{name}' names no scene: set data.scene=NAME and data.root=DIR (the folder holding the "
            "scenes), or set data.path=/path/to/scene"
        )
    folder = resolve_path(root, file, path)
    out, record = {}, {"path": str(folder), "scale": scale, "min_near": min_near, "background": background}
    for split, count, order in (("train", views, view_order), ("test", test_views, "stride")):
        if not (folder / f"transforms_{split}.json").is_file():
            raise UserError(
                f"data '{name}': scene file not found: {folder / f'transforms_{split}.json'}; set data.root=DIR "
                "(holding the "
                "scene folder data.file) or data.path=/path/to/scene (transforms_train.json, "
                "transforms_test.json, train/, test/)"
            )
        poses, angle, names = read_split(folder, split)
        keep = pick(len(poses), count, order, view_seed)
        rgba = read_images(folder, [names[k] for k in keep])
        size = tuple(resize) if resize is not None else rgba.shape[1:3]
        out[split] = (on_background(rgba, size, background), split_rays(poses[keep], size, angle, scale, min_near))
        record[f"{split}_views"] = [names[k] for k in keep]
    record.update(
        size=list(out["train"][0].shape[1:3]),
        view_order=view_order,
        view_seed=view_seed,
        resize="composited on the background, then area-averaged",
    )
    return Scene(
        values=out["train"][0],
        rays=out["train"][1],
        test=out["test"][0],
        test_rays=out["test"][1],
        name=name,
        background=background,
        record_extra=record,
    )
