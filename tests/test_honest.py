"""Honest selection end to end: task defaults, what results.json records, and a guard on real noisy data."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, SHARED

TINY = ["data=synthetic", "model.width=16", "model.depth=2", "optim.iterations=4", "eval_every=2", "metrics=fast",
        "save.figures=false", "progress=false"]


def run_here(tmp_path, *overrides):
    """This checkout's CLI (python -m inr_recover.cli with this tree first on the path); returns results.json."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INR_RECOVER_SHARED_DATA": str(SHARED), "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-m", "inr_recover.cli", f"hydra.run.dir={out}", *overrides],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "results.json").read_text())


def test_restore_defaults_to_holdout_and_records_the_degradation(tmp_path):
    r = run_here(tmp_path, *TINY, "task=restore", "degrade=scene3")
    assert r["selection"]["method"] == "holdout" and r["selection"]["requested"] == "auto"
    assert r["selection"]["fraction"] == 0.05 and r["selection"]["iteration"] in (2, 4)
    d = r["degrade"]
    assert d["name"] == "scene3" and d["impulses"] == "blind"
    assert [op["op"] for op in d["ops"]] == ["Gaussian", "SaltPepper", "Stripes"]
    assert d["ops"][0]["sigma"] == 0.2 and d["ops"][1] == {"op": "SaltPepper", "rate": 0.1, "known": False}
    o = r["oracle"]
    assert o["gap_db"] == pytest.approx(o["psnr_peak"] - r["metrics"]["psnr"]) and o["gap_db"] >= -1e-9


def test_known_impulses_and_explicit_final_are_recorded(tmp_path):
    r = run_here(tmp_path, *TINY, "task=restore", "degrade=scene2", "degrade.ops.1.known=true", "select=final")
    assert r["degrade"]["impulses"] == "known" and r["selection"] == {"method": "final", "iteration": 4}


def _scene3_on_cloth(size: int, iterations: int, width: int, eval_every: int, select: dict):
    """CHOIR (code defaults but ``width``) restoring Scene 3 (blind impulses) on the CAVE cloth cube resized to
    ``size`` x ``size`` x 31; returns (headline PSNR, oracle peak PSNR, selected iteration)."""
    import numpy as np
    import torch

    from conftest import shared_file
    from inr_recover import metrics as M
    from inr_recover.data import load_file
    from inr_recover.degrade import Gaussian, SaltPepper, Stripes, degrade
    from inr_recover.fit import fit
    from inr_recover.models.choir import CHOIR
    from inr_recover.select import Holdout
    from inr_recover.tasks import Task
    from conftest import make_optim

    sig = load_file("cave_cloth", path=str(shared_file("msi/cave_cloth_256x256x31.mat")), key="Omsi", axes="HWC",
                    resize=[size, size])
    obs = degrade(sig.values, [Gaussian(0.2), SaltPepper(0.1, known=False), Stripes(0.03)], seed=0)
    torch.manual_seed(0)
    model = CHOIR(2, 31, obs.grid, width=width)
    curve = []
    optim = make_optim("optim.lr=3e-3", "optim.weight_decay=1e-5", f"optim.iterations={iterations}", "scheduler.eta_min=1e-6",
                       "optim.grad_clip=1.0")
    task = Task("restore", data_consistency=False, select="holdout")
    r = fit(model, obs, task, optim, Holdout(task, obs, 0, **select), eval_every=eval_every,
            on_eval=lambda i, p: curve.append(M.psnr(sig.values, np.clip(p, 0, 1))))
    return M.psnr(sig.values, np.clip(r.prediction, 0, 1)), max(curve), r.selected_iteration


def test_honest_selection_keeps_the_oracle_gain_on_scene3_small():
    """32x32x31 cloth, width 32, 200 iterations. Measured (2-core CPU): honest 22.74 dB at iteration 160, oracle
    peak 22.75; with the plain L1 holdout error the impulses pull the choice to iteration 40 (21.25 dB)."""
    honest, oracle, it = _scene3_on_cloth(32, 200, 32, 10, {"fraction": 0.05, "error": "trimmed", "trim": 0.1, "every": 0})
    assert oracle - honest <= 0.5 and honest >= 22.0, (honest, oracle, it)


@pytest.mark.slow
def test_honest_selection_keeps_the_oracle_gain_on_scene3_64():
    """64x64x31 cloth, width 64, 300 iterations (issue 8's bar at a CI size). Measured (2-core CPU, 27 s):
    honest 23.40 dB at iteration 180, oracle peak 23.41."""
    honest, oracle, it = _scene3_on_cloth(64, 300, 64, 10, {"fraction": 0.05, "error": "trimmed", "trim": 0.1, "every": 0})
    assert oracle - honest <= 0.5 and honest >= 22.8, (honest, oracle, it)
