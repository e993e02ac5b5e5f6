"""The whole config checked before work (inr_recover/config/validate.py), and the bad-input corpus: every case
exits 2 with one stderr line naming the problem, no traceback, and no results.json claiming completion. The corpus
calls the CLI's ``main`` in this process (one process for all of it); ``test_cli.py`` proves the process behaviour."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from conftest import CONF, TINY_RUN, compose_config

from inr_recover.cli import main as cli
from inr_recover.config.validate import validate

# The ISSUE's six cases first, then configs (numbers out of range, unknown names, combinations), then files and masks.
CONFIGS = [
    (["optim.lr=-1"], "optim.lr=-1 is not a finite number > 0"),
    (["optim.lr=nan"], "optim.lr=nan is not a finite number"),
    (["eval_every=0"], "eval_every=0 is not an integer >= 1"),
    (["metrics.names=[psnr,foo]"], "metrics.names.1='foo' is not one of 'psnr', 'psnr_band', 'ssim', 'lpips', 'sam'"),
    (["device=tpu7"], "device='tpu7' is not one of auto, cpu, cuda, cuda:N"),
    (["hydra.run.dir=/proc/inr-recover/x"], "cannot create the output directory /proc/inr-recover/x"),
    (["optim.iterations=-1"], "optim.iterations=-1 is not an integer >= 0"),
    (["optim.iterations=2.5"], "optim.iterations=2.5 is not an integer >= 0"),
    (["optim.grad_clip=-1"], "optim.grad_clip=-1 is not a finite number >= 0 or null"),
    (["optim.weight_decay=-0.1"], "Invalid weight_decay value: -0.1"),
    (["optim.betas=[0.9,1.5]"], "Invalid beta parameter at index 1: 1.5"),
    (["batch_size=0"], "batch_size=0 is not an integer >= 1 or null"),
    (["eval_chunk=-5"], "eval_chunk=-5 is not an integer >= 1 or null"),
    (["seed=-1"], "seed=-1 is not an integer in [0, 4.29497e+09]"),
    (["checkpoint.every=-1"], "checkpoint.every=-1 is not an integer >= 0"),
    (["memory_limit=-2"], "memory_limit=-2 is not one of 'auto' or a finite number > 0 or null"),
    (["progress=maybe"], "progress='maybe' is not one of 'auto', true, false"),
    (["degrade.missing.rate=1.5"], "degrade.missing.rate=1.5 is not a finite number in [0, 1]"),
    (["degrade=gaussian_0.2", "degrade.noise.sigma=-0.1"], "degrade.noise.sigma=-0.1 is not a finite number >= 0"),
    (["select=holdout", "select.fraction=0"], "select.fraction=0 is not a finite number in (0, 1)"),
    (["select=holdout", "select.trim=1"], "select.trim=1 is not a finite number in [0, 1)"),
    (
        ["select=holdout", "select.error=foo"],
        "select.error='foo' is not one of 'penalty', 'l1', 'l2', 'median', 'trimmed'",
    ),
    (["select=discrepancy", "select.tau=0"], "select.tau=0 is not a finite number > 0"),
    (["+task.huber_delta=0"], "task.huber_delta=0 is not a finite number > 0"),
    (["task.loss=l3"], "task.loss='l3' is not one of 'l1', 'l2', 'huber'"),
    (["data.layout=foo"], "data.layout='foo' is not one of 'flatten', 'nd'"),
    (["data.shape=[32,0,8]"], "data.shape.1=0 is not an integer >= 1"),
    (["data.kind=noise"], "data.kind='noise' is not one of 'smooth', 'lowrank'"),
    (["data=camera", "data.image=moon"], "data.image='moon' is not one of 'astronaut'"),
    (["+model.colour=1"], "model.colour is not an option of inr_recover.models.choir.CHOIR"),
    (
        ["+degrade.missing.colour=1"],
        "degrade.missing.colour is not an option of inr_recover.measure.degrade.RandomMissing",
    ),
    (
        ["model=fresh", "+model.backbone_options.foo=1"],  # a wrapper's backbone is checked as a model of its own
        "model.backbone_options.foo is not an option of inr_recover.models.siren.SIREN (its options: depth, "
        "first_omega0",
    ),
    (
        ["model=iinr", "model.backbone=finer", "+model.backbone_overrides.omega_f=x"],
        "model.backbone_overrides.omega_f='x' is not a finite number",
    ),
    (["model=nosuch"], "Could not find 'model/nosuch' (available: bicubic, choir"),
    (["logger=nosuch"], "Could not find 'logger/nosuch' (available: csv"),
    (["nosuchkey=1"], "Could not override 'nosuchkey'"),
    (["model.width=${nowhere}"], "Interpolation key 'nowhere' not found"),
    # combinations of task, degradation, selection and model
    (["task=fit"], "task=fit measures representation quality and takes degrade=none (got degrade=random_0.1)"),
    (["+data.has_truth=false"], "data.has_truth=false needs task=recover"),
    (["model=interp", "batch_size=64"], "model=interp has no training loop, so batch_size=64 means nothing"),
    (["model=interp", "select=holdout"], "model=interp has no training loop to select an iteration from"),
    (["task=recover"], "task=recover: no entry of data 'synthetic' is missing"),
    (
        ["data.shape=[4,4,2]", "degrade=tube_0.1", "select=holdout"],
        "select.fraction=0.05 of 2 observed units leaves no holdout",
    ),
]


def _file(tmp_path, name, content):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        np.save(p, content)
    return p


def _huge_npy(path):
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6, 31)})


GOOD = np.random.default_rng(0).random((16, 16, 4))
FILES = [  # (file name, content, what the message names)
    ("empty.npy", b"", "cannot read as a .npy file (EOF"),
    ("corrupt.npy", b"not an array" * 20, "cannot read as a .npy file (the magic string is not correct"),
    ("truncated.npy", "truncated", "cannot read as a .npy file (Failed to read all data"),
    ("corrupt.mat", b"not a matlab file" * 20, "cannot read as a .mat file"),
    ("corrupt.h5", b"not hdf5" * 20, "cannot read as a .h5 file"),
    ("data.xyz", b"1 2 3", "unsupported format '.xyz'"),
    ("rank1.npy", np.arange(10.0), "cannot guess the axis order of a 1-D array"),
    ("rank5.npy", np.ones((2, 2, 2, 2, 2)), "cannot guess the axis order of a 5-D array"),
    ("strings.npy", np.array([["a", "b"], ["c", "d"]]), "non-numeric dtype <U1"),
    ("complex.npy", GOOD * 1j, "complex data is not supported"),
    ("nan.npy", np.where(GOOD > 0.9, np.nan, GOOD), "entries are NaN/Inf"),
    ("inf.npy", np.where(GOOD > 0.9, np.inf, GOOD), "entries are NaN/Inf"),
    ("constant.npy", np.full((16, 16, 4), 3.0), "the data is constant (3.0)"),
    ("huge.npy", "huge", "GiB of memory is available"),
]
MASKS = [  # (mask content, what the message names)
    (np.ones((15, 16, 4), bool), "has shape (15, 16, 4); expected (16, 16, 4)"),
    (np.full((16, 16, 4), 2), "entries are neither 0 nor 1"),
    (np.zeros((16, 16, 4), bool), "the degradation leaves no observed entry"),
    (np.array([["x"]]), "dtype <U1 is not boolean or numeric 0/1"),
]


def main(tmp_path, capsys, *overrides):
    """The CLI's ``main`` in this process: (exit code, stderr lines, run dir)."""
    out = tmp_path / "run"
    argv = sys.argv
    sys.argv = ["inr-recover", f"hydra.run.dir={out}", *TINY_RUN, *overrides]
    try:
        cli.main()
        code = 0
    except SystemExit as e:
        code = e.code
    finally:
        sys.argv = argv
    return code, capsys.readouterr().err.strip().splitlines(), out


def assert_refused(tmp_path, capsys, overrides, message):
    code, err, out = main(tmp_path, capsys, *overrides)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("inr-recover: error: ") and message in err[0], err[0]
    results = out / "results.json"
    assert not results.exists() or json.loads(results.read_text()).get("status") != "complete"


@pytest.mark.parametrize("overrides,message", CONFIGS, ids=[" ".join(o) for o, _ in CONFIGS])
def test_bad_config_is_refused(tmp_path, capsys, overrides, message):
    assert_refused(tmp_path, capsys, overrides, message)


@pytest.mark.parametrize("name,content,message", FILES, ids=[f for f, _, _ in FILES])
def test_bad_file_is_refused(tmp_path, capsys, name, content, message):
    if isinstance(content, str) and content == "truncated":
        np.save(tmp_path / name, GOOD)
        content = (tmp_path / name).read_bytes()[:-40]
    if isinstance(content, str) and content == "huge":
        _huge_npy(tmp_path / name)
    else:
        _file(tmp_path, name, content)
    assert_refused(tmp_path, capsys, ["data=file", f"data.path={tmp_path / name}"], message)


@pytest.mark.parametrize("content,message", MASKS, ids=["shape", "non-binary", "all-missing", "dtype"])
def test_bad_mask_is_refused(tmp_path, capsys, content, message):
    data, mask = _file(tmp_path, "data.npy", GOOD), _file(tmp_path, "mask.npy", content)
    assert_refused(
        tmp_path, capsys, ["data=file", f"data.path={data}", "degrade=from_file", f"degrade.mask={mask}"], message
    )


def test_corpus_is_large():
    assert len(CONFIGS) + len(FILES) + len(MASKS) >= 40


def test_every_top_level_key_is_declared():
    """A new key of conf/config.yaml must be declared in validate.Settings (or be a _target_ node)."""
    from dataclasses import fields

    from inr_recover.config.validate import Settings

    cfg = compose_config()
    declared = {f.name for f in fields(Settings)}
    targets = {k for k, v in cfg.items() if hasattr(v, "keys") and "_target_" in v}
    assert set(cfg) - declared - targets == set()


FIELDS = (
    "inr_recover.tasks.shapes.task.ShapeField",
    "inr_recover.tasks.views.task.ViewSynthesis",
)  # tasks with data of their own


def test_every_shipped_option_passes():
    """No false alarm on the configs that ship: every model, degradation, task, selection rule, logger and preset."""

    def options(group, *skip):
        return [f"{group}={p.stem}" for p in sorted((CONF / group).glob("*.yaml")) if p.stem not in skip]

    for over in [
        *options("model"),
        *options("degrade", "from_file"),
        *options("select"),
        *options("logger"),
        *options("experiment"),
        "task=fit",
        "task=restore",
        "task=recover",
        "scheduler=none",
        "optim.iterations=0",
        "task=sdf data=bunny",
        "task=occupancy data=dragon",  # 0: the observation alone
        "task=view_synthesis data=lego",
    ]:
        extra = ["degrade=none"] if over in ("task=fit", "task=recover") else []
        own = compose_config(*over.split()).task._target_ in FIELDS  # a shape or a scene instead of the tiny grid
        validate(compose_config(*[o for o in TINY_RUN if not (own and o.startswith("data="))], *over.split(), *extra))
