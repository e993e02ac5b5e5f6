"""The interface every method implements, and the builder that instantiates ``conf/model/*.yaml``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from inr_recover.config import instantiate
from inr_recover.errors import UserError
from inr_recover.paths import config_dir


class INR(nn.Module):
    """Coordinates ``(N, d)`` in [-1, 1] -> values ``(N, C)``.

    Constructors take ``in_features`` (d), ``out_features`` (C) and ``grid`` (the sample grid's shape)
    plus their own options. Hooks of the shared fitting loop (all optional):

    - :meth:`setup` runs once before training with the observation (never the truth): pre-selection
      (FreSh), segmentation (S-INR).
    - :meth:`training_forward` is what the loss sees (I-INR trains on noised targets).
    - :meth:`regularization` adds to the loss (TV terms of the tensor baselines).
    - :meth:`predict` is the inference path (I-INR's iterative refinement).

    Coordinate MLPs implement :meth:`features` (the last hidden layer, ``(N, F)``) and :meth:`head` (output
    layer and activation); ``forward = head(features(x))``. Wrappers such as I-INR use the two halves.
    """

    def features(self, coords: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not expose hidden features")

    def head(self, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not expose an output head")

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(coords))

    def setup(self, observation, coords: torch.Tensor) -> None:
        return None

    def training_forward(self, coords: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self(coords)

    def regularization(self) -> torch.Tensor | float:
        return 0.0

    def predict(self, coords: torch.Tensor) -> torch.Tensor:
        return self(coords)

    def report(self) -> dict:
        """What :meth:`setup` decided (e.g. FreSh's chosen frequency), recorded under ``model`` in results.json."""
        return {}


class Solver:
    """A method without a training loop (the classical baselines): the reconstruction from the observation alone.

    Constructors take ``in_features``, ``out_features`` and ``grid`` like an :class:`INR`, plus their own options;
    :meth:`solve` maps an observation to the prediction on its grid, ``(*grid, C)``."""

    def __init__(self, in_features: int, out_features: int, grid: tuple):
        self.in_features, self.out_features, self.grid = in_features, out_features, tuple(grid)

    def solve(self, observation) -> np.ndarray:
        raise NotImplementedError

    def report(self) -> dict:
        return {}


# Keys of a model config that are not the constructor's: its name, and the method's published learning rate (read by
# conf/optim as optim.lr). The constructor gets the data's dimensions (GIVEN) and the config's other keys.
CONFIG_ONLY = ("name", "lr")
GIVEN = ("in_features", "out_features", "grid")


def build_model(cfg: DictConfig | dict, in_features: int, out_features: int, grid: tuple) -> INR | Solver:
    """Instantiate a model config (its ``_target_``), handing it the data's dimensions."""
    cfg = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    for key in CONFIG_ONLY:
        cfg.pop(key, None)
    if "_target_" not in cfg:
        raise UserError("the model config has no _target_; pick one with model=<name> (see conf/model/)")
    model = instantiate(cfg, in_features=in_features, out_features=out_features, grid=tuple(grid), _convert_="all")
    if not isinstance(model, (INR, Solver)):
        raise UserError(f"model _target_ {cfg['_target_']} is not an inr_recover INR or Solver")
    return model


def model_config(name: str, overrides: dict | None = None, exclude: tuple = ()) -> dict:
    """The options of ``conf/model/<name>.yaml`` (a backbone named by a wrapper, e.g. ``model.backbone=siren``),
    updated with ``overrides``; names in ``exclude`` (wrappers that cannot be backbones) are refused."""
    path = Path(config_dir()) / "model" / f"{name}.yaml"
    if not path.is_file() or name in exclude:
        options = sorted(p.stem for p in path.parent.glob("*.yaml") if p.stem not in exclude)
        raise UserError(f"model.backbone='{name}' is not one of {', '.join(options)}")
    cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    cfg.update(overrides or {})
    return cfg
