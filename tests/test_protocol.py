"""Every method trains through the pipeline under each protocol (inr_recover/protocol.py): its authors' recipe
(loss, range, schedule, model options of the task) or the shared one, on a tiny tensor."""
from __future__ import annotations

import math

import pytest
from omegaconf import OmegaConf

from conftest import CONF, TINY_RUN, run_pipeline

MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml")
                if not p.stem.startswith("_") and "recipe" in OmegaConf.load(p))
RESTORE = [m for m in MODELS if "restore" in OmegaConf.load(CONF / "model" / f"{m}.yaml").recipe]
SMALL = [*TINY_RUN, "data.shape=[16,16,3]", "optim.iterations=2", "logger=none"]


# every recipe; the shared one where it changes most (range, loss form, the model's task options)
CASES = ([(m, "complete", "official") for m in MODELS] + [(m, "restore", "official") for m in RESTORE]
         + [("siren", "complete", "common"), ("sinr", "complete", "common"), ("dro_tff", "restore", "common")])


@pytest.mark.parametrize("model,task,protocol", CASES)
def test_every_method_trains_under_its_protocol(tmp_path, model, task, protocol):
    degrade = "random_0.3" if task == "complete" else "scene3"
    r = run_pipeline(tmp_path, f"model={model}", f"task={task}", f"degrade={degrade}", f"protocol={protocol}", *SMALL)
    ran = r["protocol"]["ran"]
    assert r["status"] == "complete" and r["iterations"] == 2 and math.isfinite(r["metrics"]["psnr"])
    assert r["protocol"]["differs"] == ["iterations"]  # nothing but the budget departs from the protocol
    if protocol == "common":
        assert (ran["loss"], ran["range"], ran["grad_clip"]) == ("l1", [0, 1], 1.0)
