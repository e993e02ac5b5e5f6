"""Check the whole composed configuration before any work starts (:func:`validate`, the first step of a run).

- Top-level keys: the declarations of :class:`Settings` below (a new top-level key is declared there; a test checks
  that every key of ``conf/config.yaml`` is).
- Every node with a ``_target_`` (``model``, ``data``, ``task``, ``select``, ``optim``, ``scheduler``, ``logger``,
  ``degrade.<operator>``, and any new group): each key must be a parameter of the target and fit its annotation
  (:mod:`inr_recover.config.schema`: a new option is validated by declaring its type where its class is defined).
- Names against their registries: ``metrics.names`` (:data:`inr_recover.measure.metrics.GRID`), losses, selection
rules and
  errors, layouts, devices; an unknown option of a group (``scheduler=foo``) is Hydra's error (see ``cli.py``).
- Objects built from the config on the spot: the task, the logger, and the optimiser with its schedule, which take
  two steps on one parameter (torch's own checks of their settings).
- Combinations of task, degradation, selection and model (:func:`combinations`).

What needs the data is checked as soon as it is loaded: a ``task=recover`` observation with nothing to recover
(:func:`nothing_to_recover`), a holdout that leaves no entry (:mod:`inr_recover.engine.select`), and whether the fit
fits in memory (:mod:`inr_recover.engine.memory`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from inr_recover.config import instantiate
from inr_recover.config.schema import (
    Interval,
    NonNegativeInt,
    Positive,
    PositiveInt,
    Satisfies,
    check,
    check_node,
    locate,
)
from inr_recover.engine.optim import LIMITS, LOOP_KEYS, Optim
from inr_recover.engine.runtime import PRECISIONS, resolve_device
from inr_recover.engine.select import Final, auto
from inr_recover.errors import UserError
from inr_recover.measure import metrics
from inr_recover.models.base import CONFIG_ONLY, GIVEN, Solver, model_class
from inr_recover.tasks.shapes.metrics import CONVENTIONS

Seed = Annotated[int, Interval(0, 2**32 - 1)]  # numpy's seed range


@dataclass
class Checkpointing:
    resume: bool
    every: NonNegativeInt


@dataclass
class Batching:
    key: Literal["seed", "optim.lr"] | None  # batch=seeds | lr (conf/batch/); null: batch=none
    members: list | None  # set by the batched sweeper for a group's job, never by hand


@dataclass
class Saving:
    figures: bool
    mat: bool
    mesh: list[Literal["ply", "obj", "off", "stl"]]


@dataclass
class Metrics:
    names: list[Literal[tuple(metrics.GRID)]]
    shape: Literal[tuple(CONVENTIONS)]


@dataclass
class Degradation:
    name: str
    seed: Seed  # operators: its named `_target_` nodes (inr_recover/measure/degrade.py), checked against their classes


@dataclass
class Settings:
    """The keys of ``conf/config.yaml`` that are not a ``_target_`` node (those are checked against their classes)."""

    seed: Seed
    device: Annotated[str, Satisfies(resolve_device)]
    deterministic: bool
    precision: Literal[PRECISIONS]
    compile: bool
    eval_every: PositiveInt
    batch_size: PositiveInt | None
    eval_chunk: PositiveInt | None
    memory_limit: Literal["auto"] | Positive | None
    progress: Literal["auto", True, False]
    checkpoint: Checkpointing
    save: Saving
    metrics: Metrics
    degrade: Degradation
    batch: Batching


def _optim_options() -> dict:
    import typing

    hints = typing.get_type_hints(Optim, include_extras=True)
    return {**{k: hints[k] for k in LOOP_KEYS}, **LIMITS}


# How each group's node is handed to its target (keys its caller removes or passes itself, or reads in its place).
NODES = {
    "model": {"ignore": CONFIG_ONLY, "given": GIVEN},
    "optim": {"ignore": (), "given": ("params",), "extra": _optim_options()},
    "scheduler": {"given": ("optimizer",)},
    "select": {"given": ("task", "obs", "seed")},
}


def _walk(key: str, node) -> None:
    """Check every ``_target_`` node under ``node``."""
    if isinstance(node, dict):
        if node.get("_target_") is not None:
            return check_node(key, node, **NODES.get(key, {}))
        for k, v in node.items():
            _walk(f"{key}.{k}" if key else k, v)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _walk(f"{key}.{i}", v)


def dry_run_optim(cfg: DictConfig) -> None:
    """Build the optimiser and schedule on one parameter and take two steps (as many as the run takes, if fewer):
    torch's own checks of their settings."""
    p = torch.nn.Parameter(torch.ones(2))
    try:
        optim = Optim.from_config(cfg)
        updater = optim.build([p])
        for _ in range(min(2, optim.iterations)):
            updater.step((p * p).sum())
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"optim ({cfg.optim._target_}) with scheduler ({cfg.scheduler._target_}) fails: {e}") from None


def combinations(c: dict, task) -> None:
    """Task x data x degradation x selection x model (``c``: the resolved config): the task's own checks
    (:meth:`inr_recover.tasks.base.Task.check`), then what a model without a training loop cannot take."""
    model = locate("model", c["model"]["_target_"])
    solver = isinstance(model, type) and issubclass(model, Solver)
    task.check(c, solver)
    if solver:
        name = c["model"].get("name", c["model"]["_target_"])
        if c["batch_size"] is not None:
            raise UserError(
                f"model={name} has no training loop, so batch_size={c['batch_size']} means nothing; drop batch_size"
            )
        rule = locate("select", c["select"]["_target_"])
        if rule not in (auto, Final):
            raise UserError(
                f"model={name} has no training loop to select an iteration from; use select=final or select=auto "
                f"(got select._target_={c['select']['_target_']})"
            )


def validate(cfg: DictConfig):
    """Check ``cfg`` (module doc) and return the task it runs; raise a one-line :class:`UserError` naming the key, the
    value and what is accepted."""
    try:
        c = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as e:
        raise UserError(" ".join(line.strip() for line in str(e).splitlines() if line.strip())) from None
    check("", c, Settings)
    if "_target_" not in c.get("model", {}):
        raise UserError("the model config has no _target_; pick one with model=<name> (see conf/model/)")
    trains = not issubclass(model_class(c["model"]), Solver)  # a Solver has no optimiser, schedule or recipe
    skip = ("hydra", "protocol") if trains else ("hydra", "protocol", "optim", "scheduler")
    _walk("", {k: v for k, v in c.items() if k not in skip})
    backbone = getattr(model_class(c["model"]), "backbone_node", None)  # a wrapper's backbone (FreSh, I-INR)
    if backbone is not None:
        check_node(*backbone(c["model"]), **NODES["model"])
    task = instantiate(cfg.task)
    only = c["protocol"].get("tasks")
    if only and task.name not in only:
        raise UserError(
            f"protocol={c['protocol']['name']} is a paper's runs of task={' or task='.join(only)}: use it there, or "
            f"protocol=official for task={task.name}"
        )
    instantiate(cfg.logger)
    if trains:
        _walk("protocol", c["protocol"])  # after the optimiser: its settings are the optimiser's, named there first
        dry_run_optim(cfg)
    combinations(c, task)
    return task


def nothing_to_recover(task, obs, name: str) -> None:
    """``task=recover`` keeps the observed entries (data consistency): with none missing its output is its input."""
    if not task.needs_truth and task.data_consistency and obs.known.all():
        raise UserError(
            f"task=recover: no entry of data '{name}' is missing (no NaN/Inf, no data.missing_value, no mask "
            "file), so the output would equal the input; mark the missing entries (data.missing_value=V or "
            "degrade=from_file degrade.mask=FILE), or set task.data_consistency=false to denoise it"
        )
