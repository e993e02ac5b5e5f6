"""Training protocols (``conf/protocol/``): which recipe trains a method.

- ``official`` (default): the authors' recipe, ``recipe.<task>`` of the method's ``conf/model/<name>.yaml`` (else
  ``recipe.complete``): loss, data range, Adam's lr and weight decay, gradient clipping, schedule, the authors'
  iteration budget, and the model options that belong to the task.
- ``common``: one shared recipe for every method (the official CHOIR code's) with a per-method lr (``model.lr``).
- ``finerpp_sdf``, ``scone_sdf``: a paper's runs of one task (FINER++ Table 2's, SCONE's signed distance fields):
  ``recipe.<protocol>`` of each method the paper ran (else its ``official`` recipe); their loss is the task's
  (``task_loss``, which ``task=sdf`` takes).

The protocol node resolves those values in the config; ``optim.lr``, ``optim.weight_decay``, ``optim.grad_clip``,
``scheduler=auto``, ``task.loss``, ``task.range`` and the model's task-dependent options interpolate them, so a value
set explicitly replaces the interpolation and wins. :meth:`Protocol.record` is ``results.json``'s ``protocol``: what
ran, what the protocol asked for, and where they differ.
"""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

COMPARED = ("loss", "range", "lr", "weight_decay", "grad_clip", "scheduler", "iterations")  # protocol vs what ran


def _plain(node):
    return (
        OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) or OmegaConf.is_list(node) else node
    )


def schedule(node) -> dict:
    """A ``conf/scheduler/`` node as recorded: its class or function (``name``) and settings."""
    node = _plain(node) or {}
    target = node.get("_target_")
    return {
        "name": target.rsplit(".", 1)[-1] if target else "none",
        **{k: v for k, v in node.items() if not k.startswith("_")},
    }


class Protocol:
    """What a protocol asks for (the resolved fields of its ``conf/protocol/`` node)."""

    def __init__(
        self,
        name: str,
        loss,
        range,
        lr,
        weight_decay,
        grad_clip,
        scheduler,
        iterations,
        model=None,
        recipe=None,
        schedules=None,
        task_loss=None,
        tasks=None,
    ):
        self.name = name
        self.from_recipe = recipe is not None  # official: the method's own recipe (schedules: the names it may use)
        self.asks = {
            "loss": loss,
            "range": _plain(range),
            "lr": lr,
            "weight_decay": weight_decay,
            "grad_clip": grad_clip,
            "scheduler": schedule(scheduler),
            "iterations": iterations,
            "model": _plain(model) or {},
        }

    def record(self, cfg) -> dict:
        """``results.json`` ``protocol``: the recipe's source, the values that ran (resolved, after any explicit
        override), the protocol's own, and the keys where they differ."""
        auto = cfg.scheduler.get("_target_") == "inr_recover.engine.optim.auto"
        optim = {k: v for k, v in _plain(cfg.optim).items() if not k.startswith("_")}
        ran = {
            "loss": cfg.task.loss,
            "range": _plain(cfg.task.range),
            "optimizer": cfg.optim._target_,
            **optim,
            "scheduler": schedule(cfg.protocol.scheduler if auto else cfg.scheduler),
            "model": {k: _plain(cfg.model.get(k)) for k in self.asks["model"]},
        }
        differ = [k for k in COMPARED if ran[k] != self.asks[k]]
        differ += [f"model.{k}" for k, v in self.asks["model"].items() if ran["model"][k] != v]
        if self.from_recipe:
            recipes = cfg.model.get("recipe") or {}
            key = next(k for k in (self.name, cfg.task.name, "complete") if k in recipes)
            source = f"conf/model/{cfg.model.name}.yaml recipe.{key}"
        else:
            source = f"conf/protocol/{self.name}.yaml"
        return {"name": self.name, "source": source, "ran": ran, "protocol": self.asks, "differs": differ}
