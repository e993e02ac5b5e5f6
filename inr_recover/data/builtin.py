"""Data that ships with a dependency (scikit-image photographs) and seeded synthetic tensors for tests."""
from __future__ import annotations

from typing import Literal

import numpy as np

from inr_recover.config.schema import NonNegativeInt, PositiveInt, forwards
from inr_recover.data.prepare import GridSignal, prepare
from inr_recover.errors import UserError

SKIMAGE_NAMES = (
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "rocket",
    "immunohistochemistry",
    "retina",
    "hubble_deep_field",
    "cat",
    "brick",
    "grass",
    "gravel",
)


@forwards(prepare)
def skimage_image(name: str, image: Literal[SKIMAGE_NAMES], gray: bool = False, **prep) -> GridSignal:
    """A real photograph bundled with scikit-image (loads offline), e.g. ``astronaut`` (512x512x3)."""
    from skimage import data as skdata

    if image not in SKIMAGE_NAMES or not hasattr(skdata, image):
        raise UserError(
            f"data.image='{image}' is not a scikit-image photograph; choose one of {', '.join(SKIMAGE_NAMES)}"
        )
    arr = np.asarray(getattr(skdata, image)())
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., :3]
    if gray and arr.ndim == 3:
        from skimage.color import rgb2gray

        arr = rgb2gray(arr)
    return prepare(arr, name=name, **prep)


@forwards(prepare)
def synthetic(
    name: str,
    shape: list[PositiveInt] = (32, 32, 8),
    kind: Literal["smooth", "lowrank"] = "smooth",
    rank: PositiveInt = 3,
    seed: NonNegativeInt = 0,
    **prep,
) -> GridSignal:
    """Seeded test tensors. ``smooth``: sum of a few low-frequency separable sinusoids per band;
    ``lowrank``: exact CP tensor of the given rank built from smooth factors (values in [0, 1])."""
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3, 4) or min(shape) <= 0:
        raise UserError(f"data.shape must be 2 to 4 positive sizes (H, W[, C[, T]]), got {list(shape)}")
    rng = np.random.default_rng(seed)
    grids = [np.linspace(0.0, 1.0, s) for s in shape]

    def factor(t):
        f, ph = rng.uniform(0.5, 2.5), rng.uniform(0, 2 * np.pi)
        return 0.5 + 0.5 * np.sin(2 * np.pi * f * t + ph)

    if kind == "lowrank":
        out = np.zeros(shape)
        for _ in range(rank):
            term = np.ones(())
            for g in grids:
                term = np.multiply.outer(term, factor(g))
            out += term
        arr = out / rank
    elif kind == "smooth":
        h, w = np.meshgrid(grids[0], grids[1], indexing="ij")
        extra = shape[2:]
        n = int(np.prod(extra)) if extra else 1
        bands = []
        for _ in range(n):
            fx, fy, ph = rng.uniform(0.5, 3.0), rng.uniform(0.5, 3.0), rng.uniform(0, 2 * np.pi)
            bands.append(0.5 + 0.25 * np.sin(2 * np.pi * fx * h + ph) + 0.25 * np.cos(2 * np.pi * fy * w - ph))
        arr = np.stack(bands, -1).reshape(shape)
    else:
        raise UserError(f"data.kind='{kind}' is not one of smooth, lowrank")
    return prepare(arr.astype(np.float32), name=name, **prep)
