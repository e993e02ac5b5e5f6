"""Every method (inr_recover/models/, built by models/base.py from conf/model/): the INR interface (shapes, dtype,
features/head), one-line errors for bad options, two iterations of each through the real pipeline, and the
PSNR each reaches on real data above a trivial fill of the same mask."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import (
    CONF,
    TINY_RUN,
    clean_values,
    random_coords,
    random_observation,
    read_curves,
    run_pipeline,
    saved_psnr,
    shared_file,
)

from inr_recover.errors import UserError
from inr_recover.measure import metrics
from inr_recover.measure.domain import Domain
from inr_recover.measure.grid import grid_coords
from inr_recover.models.base import build_model, model_config
from inr_recover.models.iinr import IINR
from inr_recover.models.scone import SCONE
from inr_recover.models.sinr import SINR

PEERS = ["siren", "pemlp", "gauss", "wire", "finer", "finer_gauss", "finer_wavelet", "fresh"]
SMALL = {"fresh": {"backbone_options": {"width": 16, "depth": 1}, "inits": 1, "candidates": [10.0, 30.0], "bins": 4}}
WRAPPED = ["scone", "sinr", "iinr_siren", "iinr_choir"]


def small(name: str, **kw) -> dict:
    base = SMALL.get(name, {"width": 16, "depth": 1})
    return model_config(name, {**base, **kw})


def small_wrapped(name, d, c, grid):
    if name == "scone":
        return SCONE(d, c, Domain.on_grid(grid), width=16)
    if name == "sinr":
        return SINR(d, c, Domain.on_grid(grid), pixels_per_superpixel=20, width=8, atoms=12)
    return IINR(d, c, Domain.on_grid(grid), backbone=name.split("_")[1], backbone_overrides={"width": 16, "depth": 1})


@pytest.mark.parametrize("name", PEERS)
@pytest.mark.parametrize("channels", [1, 3, 31, 191])
def test_shape_and_dtype(name, channels):
    for grid in ((6, 5), (4, 3, 2)):
        torch.manual_seed(0)
        m = build_model(small(name), len(grid), channels, Domain.on_grid(grid))
        x = random_coords(7, len(grid))
        y = m.predict(x)
        assert y.shape == (7, channels) and y.dtype == torch.float32 and torch.isfinite(y).all()
        torch.testing.assert_close(m.head(m.features(x)), y)


@pytest.mark.parametrize("name", WRAPPED)
@pytest.mark.parametrize("channels", [1, 3, 31, 191])
def test_shape_and_dtype_after_setup(name, channels):
    torch.manual_seed(0)
    grid = (12, 10)
    m = small_wrapped(name, 2, channels, grid)
    coords = grid_coords(grid)
    m.setup(random_observation(grid, channels), coords)
    for out in (m(coords), m.predict(coords[:7]), m.training_forward(coords, torch.rand(coords.shape[0], channels))):
        assert out.dtype == torch.float32 and out.shape[1] == channels
    assert m.predict(coords).shape == (120, channels)


def test_bad_options_are_user_errors():
    for name, kw in [("pemlp", {"encoding": "nerf"}), ("finer", {"activation": "relu"}), ("gauss", {"scale": 0}),
                     ("fresh", {"backbone": "nope"}), ("fresh", {"backbone": "gauss"}), ("fresh", {"param": "depth"})]:
        with pytest.raises(UserError):
            build_model(model_config(name, kw), 2, 1, Domain.on_grid((8, 8)))


# ---- every method fits two iterations through the real pipeline (in this process) ---------------------------------

METHODS = sorted(p.stem for p in (CONF / "model").glob("*.yaml")) + ["iinr_choir"]
SOLVERS = ("interp", "halrtc", "bicubic", "knn", "tree", "forest")
OBSERVATION = {"bicubic": ["task=super_resolve", "degrade=downsample_2"]}  # default: degrade=random_0.3


@pytest.mark.parametrize("name", METHODS)
def test_every_method_fits_two_iterations(tmp_path, name):
    """Two iterations of each method through the pipeline: the headline PSNR is that of the saved reconstruction
    against the clean tensor, and a trained method records a finite loss at both iterations, changed by the first
    update, and a prediction changed by the second (its oracle PSNR at iterations 1 and 2 differs)."""
    # a CHOIR backbone (sigmoid output) trains on [0, 1], not the I-INR recipe's [-1, 1] (conf/model/iinr.yaml)
    model = ["model=iinr", "model.backbone=choir", "task.range=[0,1]"] if name == "iinr_choir" else [f"model={name}"]
    data = ["data=synthetic", "data.kind=lowrank", "data.shape=[16,16,4]"]
    r = run_pipeline(tmp_path, *TINY_RUN, *model, *data, *OBSERVATION.get(name, ["degrade=random_0.3"]),
                     "optim.iterations=2", "eval_every=1")
    solver = name in SOLVERS  # no training loop: nothing iterates
    assert (
        r["status"] == "complete"
        and r["iterations"] == (0 if solver else 2)
        and r["model"]["name"] == model[0].split("=")[1]
    )
    assert np.load(tmp_path / "reconstruction.npz")["reconstruction"].shape == (16, 16, 4)
    assert r["metrics"]["psnr"] == pytest.approx(saved_psnr(tmp_path, clean_values(*data)), abs=1e-6)
    if not solver:
        rows = read_curves(tmp_path)
        assert [row["iteration"] for row in rows] == ["1", "2"]
        loss, oracle = ([float(row[k]) for row in rows] for k in ("loss", "oracle_psnr"))
        assert all(map(math.isfinite, loss)) and loss[0] != loss[1] and oracle[0] != oracle[1], rows
    if name == "fresh":  # the chosen w0 and the search are recorded
        f = r["model"]["fresh"]
        assert (
            f["param"] == "first_omega0"
            and f["chosen"] in range(10, 201, 10)
            and len(f["distances"]) == 20
            and f["seconds"] > 0
        )


# ---- quality floors: each method under its authors' recipe against trivial fills of the same mask ------------------

# CAVE cloth resized to 64x64x31, 10% of its entries observed (the papers' completion setting at a CI size; the mask
# of docs/results.md "Faithfulness", where the official codes' own PSNR at 200 iterations sits beside ours), each
# method's own recipe (protocol=official: loss, lr, schedule, weight decay, clipping, range, model options) for 200
# iterations (1000 for SCONE, which needs them to pass a trivial fill; the papers' 2000-15000 are out of CI's reach),
# seed 0, final iterate. The baselines are computed in the same test on the same mask: per-band linear interpolation
# (model=interp, 23.06 dB) and the per-band mean of the observed entries (20.15 dB). Each method must beat its
# baseline by a margin: the gain measured on the 2-core CPU (OMP_NUM_THREADS=1; in the comment) minus 0.5 dB for
# platform noise. A method below interpolation after its budget is held against the per-band mean (it must still
# learn the image). Not here: I-INR with a CHOIR backbone (no published recipe: 19.06 dB at I-INR's lr 1e-4, below
# both fills), FreSh (its recipe is 15000 iterations at lr 1e-4: 12.18 dB at 200, below both fills, as the official
# code's 12.55: docs/results.md "Faithfulness"), CRNL (tests/models/tensor/test_crnl.py).
FLOOR_RUN = [
    "data=cave_cloth",
    "data.resize=[64,64]",
    "degrade=random_0.1",
    "optim.iterations=300",
    "metrics=fast",
    "save.figures=false",
    "progress=false",
    "logger=none",
]
PSNR_FLOORS = {  # name: (overrides, baseline, margin dB)
    "choir": (["model=choir", "optim.iterations=200"], "interp", 0.6),  # 24.16: +1.10 over interp
    "siren": (["model=siren", "optim.iterations=200"], "interp", 6.5),  # 30.05: +6.99
    "finer": (["model=finer", "optim.iterations=200"], "interp", 1.9),  # 25.50: +2.44
    "finer_wavelet": (["model=finer_wavelet", "optim.iterations=200"], "interp", 2.3),  # 25.83: +2.77
    "sinr": (["model=sinr", "optim.iterations=200"], "interp", 2.2),  # 25.76: +2.70
    "iinr_siren": (["model=iinr", "model.backbone=siren", "optim.iterations=200"], "interp", 6.3),  # 29.85: +6.79
    "dro_tff": (["model=dro_tff", "optim.iterations=200"], "interp", 6.4),  # 29.99: +6.93
    # below interpolation after 200 iterations of their own recipe: held against the per-band mean (20.15)
    "finer_gauss": (["model=finer_gauss", "optim.iterations=200"], "mean", 2.9),  # 23.53: +3.38 (+0.47 over interp)
    "gauss": (["model=gauss", "optim.iterations=200"], "mean", 1.9),  # 22.54: +2.39 (-0.52 under interp)
    "lrtfr": (["model=lrtfr", "optim.iterations=200"], "mean", 2.0),  # 22.65: +2.50 (-0.41 under interp)
    "pemlp": (["model=pemlp", "optim.iterations=200"], "mean", 0.9),  # 21.57: +1.42 (-1.49 under interp)
    "wire": (["model=wire", "optim.iterations=200"], "mean", 0.4),  # 21.08: +0.93 (-1.98 under interp)
    # SCONE at 1000 iterations: 22.15 (+2.00) as the first fit of a process, 21.03 (+0.88) after another fit in the
    # same process (1.1 dB of spread at this lr over 1000 steps; cause not pinned down); the margin is the lower, minus
    # 0.5
    "scone": (["model=scone", "optim.iterations=1000"], "mean", 0.4),  # 18.48 at 200, below both fills
}


@pytest.fixture(scope="module")
def baselines(tmp_path_factory):
    """PSNR of per-band linear interpolation (model=interp) and of the per-band mean of the observed entries on the
    floors' mask, and that mask."""
    shared_file("msi/cave_cloth_256x256x31.mat")
    out = tmp_path_factory.mktemp("interp")
    r = run_pipeline(out, "model=interp", *FLOOR_RUN)
    saved = np.load(out / "reconstruction.npz")
    known, observed = saved["known"], saved["observed"]
    truth = clean_values(*FLOOR_RUN)
    means = np.where(known, observed, 0).sum(axis=(0, 1)) / known.sum(axis=(0, 1))
    mean_fill = metrics.psnr(truth, np.where(known, observed, means))
    return {"interp": r["metrics"]["psnr"], "mean": mean_fill, "mask": np.load(out / "mask.npz")["mask"]}


def test_baselines_are_what_the_floors_were_measured_against(baselines):
    """interp 23.06 dB and the per-band mean 20.15 dB on this mask (2-core CPU): a change here moves every floor."""
    assert abs(baselines["interp"] - 23.06) < 0.02 and abs(baselines["mean"] - 20.15) < 0.02, baselines


@pytest.mark.parametrize("name", [n if n == "choir" else pytest.param(n, marks=pytest.mark.slow) for n in PSNR_FLOORS])
def test_psnr_floor_above_a_trivial_fill(tmp_path, baselines, name):
    overrides, baseline, margin = PSNR_FLOORS[name]
    r = run_pipeline(tmp_path, *overrides, *FLOOR_RUN)
    assert np.array_equal(np.load(tmp_path / "mask.npz")["mask"], baselines["mask"])
    assert r["protocol"]["name"] == "official" and r["iterations"] == 300
    assert r["metrics"]["psnr"] >= baselines[baseline] + margin, (
        r["metrics"]["psnr"],
        baseline,
        baselines[baseline],
        margin,
    )
