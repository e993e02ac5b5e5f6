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
INTRINSICS = ("fl_x", "fl_y", "cx", "cy", "w", "h", "camera_angle_x", "camera_angle_y")


@dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics in pixels of a ``height x width`` image: focal lengths ``fx, fy`` and principal point
    ``cx, cy`` (the transforms file's ``fl_x fl_y cx cy``, torch-ngp ``nerf/provider.py``)."""

    fx: float
    fy: float
    cx: float
    cy: float
    height: int
    width: int

    @classmethod
    def of_frame(cls, meta: dict, frame: dict, height: int, width: int) -> Camera:
        """A frame's camera (its own keys first, then the file's, as nerfstudio allows per-frame intrinsics) for its
        image of ``height x width`` (or the file's ``h w``): ``fl_x``/``fl_y`` where given (one standing for both),
        else from ``camera_angle_x``/``camera_angle_y`` (the Blender layout: ``fx = w / (2 tan(angle_x / 2))``, square
        pixels); the principal point at the centre unless ``cx``/``cy`` say otherwise. ValueError without any."""
        k = {key: frame.get(key, meta.get(key)) for key in INTRINSICS}
        h, w = float(k["h"] or height), float(k["w"] or width)
        fx, fy = k["fl_x"], k["fl_y"]
        if fx is None and k["camera_angle_x"] is not None:
            fx = 0.5 * w / np.tan(0.5 * float(k["camera_angle_x"]))
        if fy is None and k["camera_angle_y"] is not None:
            fy = 0.5 * h / np.tan(0.5 * float(k["camera_angle_y"]))
        if fx is None and fy is None:
            raise ValueError("no camera intrinsics: give camera_angle_x (Blender) or fl_x and fl_y (instant-ngp, "
                             "nerfstudio)")
        fx, fy = float(fx if fx is not None else fy), float(fy if fy is not None else fx)
        cam = cls(fx, fy, float(k["cx"] if k["cx"] is not None else w / 2),
                  float(k["cy"] if k["cy"] is not None else h / 2), int(round(h)), int(round(w)))
        if not (np.isfinite([cam.fx, cam.fy, cam.cx, cam.cy]).all() and cam.fx > 0 and cam.fy > 0):
            raise ValueError(f"focal lengths must be positive and finite (got fl_x {cam.fx}, fl_y {cam.fy})")
        return cam

    def resized(self, height: int, width: int) -> Camera:
        """The same camera for the image resampled to ``height x width``: each axis scaled by its own factor."""
        sy, sx = height / self.height, width / self.width
        return Camera(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, height, width)


@dataclass
class Frames:
    """The frames of a transforms file: camera-to-world poses ``(N, 4, 4)`` and each frame's entry (its file name and
    raw intrinsics: :meth:`Camera.of_frame`)."""

    file: Path
    meta: dict
    poses: np.ndarray
    frames: list

    @property
    def names(self) -> list:
        """Each frame's ``file_path``."""
        return [f["file_path"] for f in self.frames]

    def subset(self, keep) -> Frames:
        return Frames(self.file, self.meta, self.poses[keep], [self.frames[k] for k in keep])


def read_frames(file: Path) -> Frames:
    """The frames of a transforms file (``transforms_<split>.json``, or the single ``transforms.json`` of instant-ngp
    and nerfstudio), each checked: a one-line error that names the file, the frame and what is wrong. A 3x4
    ``transform_matrix`` gets the row ``[0, 0, 0, 1]``."""
    try:
        meta = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{file}: not JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    frames = meta.get("frames") if isinstance(meta, dict) else None
    if not isinstance(frames, list) or not frames:
        raise UserError(f"{file}: no frames (it needs a 'frames' list of {{file_path, transform_matrix}})")
    poses = []
    for i, f in enumerate(frames):
        where = f"{file}: frame {i}" + (f" ({f['file_path']})" if isinstance(f, dict) and "file_path" in f else "")
        if not isinstance(f, dict) or not isinstance(f.get("file_path"), str):
            raise UserError(f"{where}: no file_path (the image it shows)")
        try:
            pose = np.array(f.get("transform_matrix"), np.float64)
        except (TypeError, ValueError):
            pose = np.zeros(0)
        if pose.shape == (3, 4):
            pose = np.concatenate([pose, [[0.0, 0.0, 0.0, 1.0]]])
        if pose.shape != (4, 4) or not np.isfinite(pose).all():
            raise UserError(f"{where}: transform_matrix must be a finite 4x4 camera-to-world matrix (got shape "
                            f"{pose.shape})")
        poses.append(pose)
    return Frames(file, meta, np.stack(poses), frames)


def read_images(folder: Path, names: list) -> np.ndarray:
    """The RGBA images ``(N, H, W, 4)`` on [0, 1] of the frames ``names`` (``file_path`` of the transforms file,
    relative to ``folder``; ``.png`` added to a name with no extension, as the Blender layout writes them); an image
    without alpha is opaque."""
    from PIL import Image

    files = [folder / (n if Path(n).suffix else n + ".png") for n in names]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise UserError(f"{len(missing)} image(s) named by {folder}'s transforms files are missing, e.g. {missing[0]}")
    images = [np.asarray(Image.open(f).convert("RGBA"), np.float32) / 255.0 for f in files]
    odd = [(str(f), im.shape[:2]) for f, im in zip(files, images) if im.shape != images[0].shape]
    if odd:
        raise UserError(f"{odd[0][0]} is {odd[0][1][0]}x{odd[0][1][1]}, {files[0]} {images[0].shape[0]}x"
                        f"{images[0].shape[1]}: the views of a split must have one size")
    return np.stack(images)


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


def split_rays(frames: Frames, stored: tuple, size: tuple, scale: float, min_near: float) -> np.ndarray:
    """The ray table ``(N H W, 8)`` of ``frames`` whose images are stored at ``stored`` (H, W) and rendered at ``size``:
    each frame's camera (:meth:`Camera.of_frame`) resized, :func:`camera_rays`, :func:`near_far`."""
    rays = []
    for pose, frame in zip(frames.poses, frames.frames):
        try:
            camera = Camera.of_frame(frames.meta, frame, *stored).resized(*size)
        except ValueError as e:
            raise UserError(f"{frames.file}: frame {frame['file_path']}: {e}") from None
        rays.append(camera_rays(pose, camera, scale))
    rays = np.concatenate(rays)
    return np.concatenate([rays, near_far(rays, min_near)], -1).astype(np.float32)


def read_splits(name: str, folder: Path, test_every: int) -> tuple[dict, str]:
    """The training and test frames of a scene folder and its layout: ``blender`` (``transforms_train.json`` and
    ``transforms_test.json``) or ``single`` (one ``transforms.json``, instant-ngp's and nerfstudio's: every
    ``test_every``-th frame from the first is a test view, the rest train, as LLFF's hold-out of every 8th)."""
    if (folder / "transforms_train.json").is_file() or not (folder / "transforms.json").is_file():
        for split in SPLITS:
            if not (folder / f"transforms_{split}.json").is_file():
                raise UserError(
                    f"data '{name}': scene file not found: {folder / f'transforms_{split}.json'}; set data.root=DIR "
                    "(holding the scene folder data.file) or data.path=/path/to/scene (transforms_train.json, "
                    "transforms_test.json, train/, test/; or one transforms.json)"
                )
        return {split: read_frames(folder / f"transforms_{split}.json") for split in SPLITS}, "blender"
    every = read_frames(folder / "transforms.json")
    held = np.arange(0, len(every.poses), test_every)
    train = np.setdiff1d(np.arange(len(every.poses)), held)
    if not len(train):
        raise UserError(f"{every.file}: {len(every.poses)} frame(s) leave none to train on with data.test_every="
                        f"{test_every}")
    return {"train": every.subset(train), "test": every.subset(held)}, "single"


def _check_options(name: str, views, order: str, resize, test_views, scale: float, min_near: float,
                   test_every: int) -> None:
    if order not in ORDERS:
        raise UserError(f"data.view_order='{order}' is not one of {', '.join(ORDERS)}")
    if views is not None and views < 1 or test_views is not None and test_views < 1:
        raise UserError(f"data '{name}': data.views and data.test_views must be positive (or null: all)")
    if resize is not None and (len(resize) != 2 or min(resize) < 2):
        raise UserError(f"data.resize={list(resize)}: [height, width] of at least 2 pixels, or null (the files' size)")
    if scale <= 0 or min_near < 0:
        raise UserError(f"data.scale={scale} must be positive and data.min_near={min_near} non-negative")
    if test_every < 2:
        raise UserError(f"data.test_every={test_every}: every how many frames of a single transforms.json is a test "
                        "view, at least 2")


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
    test_every: int = 8,
    has_truth: bool = True,
) -> Scene:
    """``data=lego|blender``: the scene folder ``root/file`` (``file`` is ``scene`` for data=blender; or ``path``) in
    the NeRF Blender layout or as one ``transforms.json`` (:func:`read_splits`); ``views`` training views
    (:func:`pick` with ``view_order`` and ``view_seed``), ``test_views`` evenly spaced test views (all when None),
    each composited on ``background`` and area-resized to ``resize``, its camera resized with it."""
    _check_options(name, views, view_order, resize, test_views, scale, min_near, test_every)
    if not has_truth:
        raise UserError(f"data '{name}' is a scene of posed views: use task=view_synthesis")
    if not (path or file):
        raise UserError(
            f"data '{name}' names no scene: set data.scene=NAME and data.root=DIR (the folder holding the "
            "scenes), or set data.path=/path/to/scene"
        )
    folder = resolve_path(root, file, path)
    splits, layout = read_splits(name, folder, test_every)
    out, record = {}, {"path": str(folder), "layout": layout, "scale": scale, "min_near": min_near,
                       "background": background}
    for split, count, order in (("train", views, view_order), ("test", test_views, "stride")):
        frames = splits[split].subset(pick(len(splits[split].poses), count, order, view_seed))
        rgba = read_images(folder, frames.names)
        size = tuple(resize) if resize is not None else rgba.shape[1:3]
        out[split] = (on_background(rgba, size, background), split_rays(frames, rgba.shape[1:3], size, scale, min_near))
        record[f"{split}_views"] = frames.names
    record.update(
        size=list(out["train"][0].shape[1:3]),
        view_order=view_order,
        view_seed=view_seed,
        resize="composited on the background, then area-averaged; each camera's focal lengths and principal point "
        "scaled per axis",
    )
    if layout == "single":
        record["test_every"] = test_every
    return Scene(
        values=out["train"][0],
        rays=out["train"][1],
        test=out["test"][0],
        test_rays=out["test"][1],
        name=name,
        background=background,
        record_extra=record,
    )
