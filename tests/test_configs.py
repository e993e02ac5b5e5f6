"""Every option of every config group composes, and what it names instantiates."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from inr_recover.config import instantiate
from omegaconf import OmegaConf

from inr_recover.errors import UserError
from inr_recover.models.base import INR, build_model

from conftest import CONF, SHARED

GROUPS = ["model", "data", "degrade", "task", "optim", "scheduler", "select", "metrics", "logger"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))


def compose_with(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=False)


def test_default_config_is_the_embedded_default():
    cfg = compose_with()
    assert cfg.model.name == "choir" and cfg.data.name == "astronaut" and cfg.degrade.name == "random_0.1"
    assert cfg.data.resize == [256, 256]


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes(group, option):
    cfg = compose_with(f"{group}={option}")
    OmegaConf.resolve(cfg)
    assert cfg[group] is not None


@pytest.mark.parametrize("option", options("model"))
def test_every_model_instantiates_and_runs(option):
    cfg = compose_with(f"model={option}")
    for grid, channels in (((8, 8), 3), ((6, 7, 3), 2)):
        model = build_model(cfg.model, len(grid), channels, grid)
        assert isinstance(model, INR)
        out = model.predict(torch.rand(10, len(grid)) * 2 - 1)
        assert out.shape == (10, channels) and out.dtype == torch.float32


@pytest.mark.parametrize("option", options("degrade"))
def test_every_degradation_instantiates(option):
    cfg = compose_with(f"degrade={option}")
    ops = [instantiate(op) for op in cfg.degrade.ops]
    assert all(callable(op) for op in ops)


@pytest.mark.parametrize("option", options("task"))
def test_every_task_instantiates(option):
    task = instantiate(compose_with(f"task={option}").task)
    assert task.name == option


@pytest.mark.parametrize("option", options("data"))
def test_every_data_config_loads_or_says_where_its_file_goes(option, tmp_path, monkeypatch):
    monkeypatch.setenv("INR_RECOVER_SHARED_DATA", str(SHARED))
    monkeypatch.setenv("INR_RECOVER_DATA", str(tmp_path))  # the paper's user-supplied files are absent here
    cfg = compose_with(f"data={option}")
    if "file" in cfg.data and not cfg.data.file and not cfg.data.path:  # data=file: the user names the path
        with pytest.raises(UserError, match="set data.path="):
            instantiate(cfg.data)
        return
    if cfg.data.get("file") and not Path(cfg.data.root, cfg.data.file).is_file():
        with pytest.raises(UserError, match="file not found") as e:
            instantiate(cfg.data)
        assert "data.root" in str(e.value) and "\n" not in str(e.value)
        return
    sig = instantiate(cfg.data)
    assert sig.values.ndim >= 3 and 0.0 <= sig.values.min() and sig.values.max() <= 1.0
    assert sig.values.dtype == "float32"
