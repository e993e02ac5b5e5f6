"""conf/experiment/ presets: each composes (with every value its sweep takes), and the CPU smoke preset runs."""
from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from conftest import CONF

PRESETS = ["smoke", "table2", "table3", "table4", "fig1"]


@pytest.fixture
def hydra_conf():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield
    GlobalHydra.instance().clear()


@pytest.mark.parametrize("name", PRESETS)
def test_preset_composes_with_every_swept_value(hydra_conf, name):
    cfg = compose("config", overrides=[f"experiment={name}"], return_hydra_config=True)
    params = {k: str(v).split(",") for k, v in cfg.hydra.sweeper.params.items()}
    assert cfg.hydra.sweep.dir == f"outputs/{name}" and "seed" in params
    if name != "smoke":
        assert params["seed"] == ["0", "1", "2", "3", "4"] or name == "fig1"
        assert cfg.optim.iterations == 5000  # official CHOIR schedule
    grid = {k: v for k, v in params.items() if k != "seed"}
    # every value of every swept parameter, with the others at their first value (the full product is slow)
    points = {tuple((k, (w if k == key else vs[0])) for k, vs in grid.items()) for key, values in grid.items() for w in values}
    for point in sorted(points):
        composed = compose("config", overrides=[f"experiment={name}", *(f"{k}={v}" for k, v in point)])
        for k, v in point:
            got = composed[k].name if k in ("model", "data", "degrade") else OmegaConf.select(composed, k)
            assert str(got).lower() == v.lower() or float(got) == float(v), (k, v, got)


def test_presets_target_the_paper_grids(hydra_conf):
    t3 = compose("config", overrides=["experiment=table3"], return_hydra_config=True)
    assert t3.task.name == "restore" and t3.hydra.sweeper.params.degrade == "scene1,scene2,scene3"
    t4 = compose("config", overrides=["experiment=table4"], return_hydra_config=True)
    assert t4.data.name == "cloth" and set(t4.hydra.sweeper.params) == {"model.chs", "model.psc", "model.gamma", "seed"}
    smoke = compose("config", overrides=["experiment=smoke"])
    assert smoke.data.name == "synthetic" and smoke.optim.iterations <= 4 and smoke.device == "cpu"
