"""Every method trains through the pipeline under each protocol (inr_recover/config/protocol.py): its authors' recipe
(loss, range, schedule, model options of the task) or the shared one, on a tiny tensor."""
from __future__ import annotations

import math

import pytest
from conftest import CONF, TINY_RUN, run_pipeline, shared_file
from omegaconf import OmegaConf

MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml")
                if not p.stem.startswith("_") and "recipe" in OmegaConf.load(p))
RESTORE = [m for m in MODELS if "restore" in OmegaConf.load(CONF / "model" / f"{m}.yaml").recipe]
VIEWS = [m for m in MODELS if "view_synthesis" in OmegaConf.load(CONF / "model" / f"{m}.yaml").recipe]
TINY_VIEWS = ["task=view_synthesis", "data=lego", "data.views=2", "data.resize=[8,8]", "data.test_views=1",
              "task.samples=4", "batch_size=16", "optim.iterations=2", "metrics=fast", "save.figures=false",
              "progress=false", "logger=none"]
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


@pytest.mark.parametrize("model", VIEWS)
def test_every_view_synthesis_recipe_trains_its_method(tmp_path, model):
    """recipe.view_synthesis (FINER's NeRF script; CHOIR's with a raw output) runs as written: nothing but the budget
    departs from it, Adam with torch-ngp's betas and eps where the recipe gives them."""
    shared_file("nerf/lego/transforms_train.json")
    r = run_pipeline(tmp_path, f"model={model}", *TINY_VIEWS)
    ran = r["protocol"]["ran"]
    assert r["status"] == "complete" and r["iterations"] == 2 and math.isfinite(r["metrics"]["psnr"])
    assert r["protocol"]["differs"] == ["iterations"] and r["protocol"]["source"].endswith("recipe.view_synthesis")
    assert (ran["loss"], ran["range"]) == ("l2", [0, 1])
    if model != "choir":
        assert (ran["lr"], ran["betas"], ran["eps"], ran["model"]) == (
            2e-4,
            [0.9, 0.99],
            1e-15,
            {"width": 182, "depth": 5},
        )
