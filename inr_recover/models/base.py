"""The interface every method implements, and the builder that instantiates ``conf/model/*.yaml``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from inr_recover.config import instantiate
from inr_recover.config.paths import config_dir
from inr_recover.errors import UserError
from inr_recover.measure.domain import Domain


class INR(nn.Module):
    """Coordinates ``(N, d)`` in [-1, 1] -> values ``(N, C)``.

    Constructors take ``in_features`` (d), ``out_features`` (C) and ``domain``
    (:class:`~inr_recover.measure.domain.Domain`:
    the sample grid, or scattered points) plus their own options. Hooks of the shared fitting loop (all optional):

    - :meth:`setup` runs once before training with the observation (never the truth): pre-selection
      (FreSh), segmentation (S-INR).
    - :meth:`training_forward` is what the loss sees (I-INR trains on noised targets).
    - :meth:`regularization` adds to the loss (TV terms of the tensor baselines).
    - :meth:`loss_groups` partitions the coordinates for ``task.loss=group_fro`` (S-INR's superpixels).
    - :meth:`predict` is the inference path (I-INR's iterative refinement).

    Coordinate MLPs implement :meth:`features` (the last hidden layer, ``(N, F)``) and :meth:`head` (output
    layer and activation); ``forward = head(features(x))``. Wrappers such as I-INR use the two halves.

    What a method can take (:func:`check_support` refuses the rest before any work): ``needs_grid``, its structure
    is a regular grid (no scattered points); ``needs_entries``, it reads the observation entry by entry on its grid
    (in :meth:`setup`, or ``target`` in :meth:`training_forward`), so not through a forward operator (downsampling).
    """

    needs_grid = False
    needs_entries = False

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

    def loss_groups(self, coords: torch.Tensor) -> tuple[torch.Tensor, int] | None:
        """One group id per coordinate for ``task.loss=group_fro``, and the number of groups (ids below it); None: a
        single group."""
        return None

    def predict(self, coords: torch.Tensor) -> torch.Tensor:
        return self(coords)

    @classmethod
    def ends_in_sigmoid(cls, cfg: dict) -> bool:
        """From its resolved config, before it is built: whether the network will end in a sigmoid
        (``out_activation``; a wrapper's: its backbone's)."""
        backbone = getattr(cls, "backbone_node", None)
        if backbone is not None:
            node = backbone(cfg)[1]
            return model_class(node).ends_in_sigmoid(node)
        return cfg.get("out_activation") == "sigmoid"

    def sigmoid_output(self) -> bool:
        """True when the network's output (its own or a wrapped backbone's) ends in a sigmoid: values in (0, 1),
        which cannot fit data on ``task.range=[-1, 1]``."""
        return any(getattr(m, "out", None) is torch.sigmoid for m in self.modules())

    def report(self) -> dict:
        """What :meth:`setup` decided (e.g. FreSh's chosen frequency), recorded under ``model`` in results.json."""
        return {}


class Solver:
    """A method without a training loop (the classical baselines): the reconstruction from the observation alone.

    Constructors take ``in_features``, ``out_features`` and ``domain`` like an :class:`INR`, plus their own options;
    :meth:`solve` maps an observation to the prediction on its grid, ``(*grid, C)``. ``needs_grid`` and
    ``needs_entries`` as for :class:`INR`."""

    needs_grid = False
    needs_entries = False

    def __init__(self, in_features: int, out_features: int, domain: Domain):
        self.in_features, self.out_features, self.domain = in_features, out_features, domain
        self.grid = domain.grid  # None on scattered points

    def solve(self, observation) -> np.ndarray:
        raise NotImplementedError

    def report(self) -> dict:
        return {}


def model_class(cfg: DictConfig | dict) -> type:
    """The class a model config's ``_target_`` names."""
    import hydra.utils

    if "_target_" not in cfg:
        raise UserError("the model config has no _target_; pick one with model=<name> (see conf/model/)")
    try:
        return hydra.utils.get_class(cfg["_target_"])
    except Exception as e:  # an unknown class
        raise UserError(f"model _target_ {cfg['_target_']}: {e}") from None


def check_support(cfg: DictConfig | dict, obs) -> None:
    """Refuse, in one line and before any work, an observation the configured method cannot take (``needs_grid``,
    ``needs_entries``: :class:`INR`; its geometry's :meth:`~inr_recover.measure.geometry.Geometry.refusal`)."""
    reason = obs.geometry.refusal(model_class(cfg), cfg.get("name", cfg["_target_"]))
    if reason is not None:
        raise UserError(reason)


# Keys of a model config that are not the constructor's: its name, the method's learning rate under
# protocol=common and the authors' training recipe (both read by conf/protocol; the recipe's model options reach the
# other keys). The constructor gets the data's dimensions (GIVEN) and the config's other keys.
CONFIG_ONLY = ("name", "lr", "recipe")
GIVEN = ("in_features", "out_features", "domain")


def build_model(cfg: DictConfig | dict, in_features: int, out_features: int, domain: Domain) -> INR | Solver:
    """Instantiate a model config (its ``_target_``), handing it the data's dimensions and :class:`Domain`."""
    cfg = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    for key in CONFIG_ONLY:
        cfg.pop(key, None)
    if "_target_" not in cfg:
        raise UserError("the model config has no _target_; pick one with model=<name> (see conf/model/)")
    factory = instantiate(cfg, _partial_=True, _convert_="all")  # the domain is handed as it is (not a config node)
    model = factory(in_features=in_features, out_features=out_features, domain=domain)
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
