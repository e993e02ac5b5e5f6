"""Shared test helpers: where the config and the shared real data are, the two runners of the pipeline (the CLI in a
subprocess, and the same pipeline in this process) with the tiny config, readers of what a run wrote (results,
curves, the headline PSNR restated), and small builders (optimiser, observations, coordinates, hand-evaluated
networks) the unit tests share."""
from __future__ import annotations

import os

# Under pytest-xdist (`make test`: -n auto) the workers share the cores: each worker, and each CLI it starts, gets
# cores / workers threads instead of torch's default of every core (set before torch is imported).
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    os.environ.setdefault(
        "OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    )

import csv
import hashlib
import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from inr_recover.engine.runtime import fast_cpu
from inr_recover.measure.domain import Domain

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SHARED = Path(os.environ.get("INR_RECOVER_SHARED_DATA", ROOT.parent / "shared" / "data"))
# The shared data folder is beside this checkout when its README is there (an empty folder, as `make test-nodata`
# points INR_RECOVER_SHARED_DATA at, stands for a fresh clone without ../shared).
SHARED_PRESENT = (SHARED / "README.md").is_file()

# In-process runs see what the CLI's processes see: the shared data folder and the CLI's process settings
# (allocator, denormals flushed), so that they give the CLI's numbers.
os.environ["INR_RECOVER_SHARED_DATA"] = str(SHARED)
fast_cpu()

# The tiny config: a 32x32x8 synthetic tensor, 4 iterations, no figures (TINY_RUN, for any model); TINY adds the
# network size of the default CHOIR (width 16, depth 2).
TINY_RUN = [
    "data=synthetic",
    "optim.iterations=4",
    "eval_every=2",
    "metrics=fast",
    "save.figures=false",
    "progress=false",
]
TINY = [*TINY_RUN, "model.width=16", "model.depth=2"]


def shared_file(rel: str) -> Path:
    """Path of a file in ../shared/data, or skip the test with the reason."""
    p = SHARED / rel
    if not p.is_file():
        pytest.skip(f"real benchmark file {p} is absent (the shared data folder is not beside this checkout)")
    return p


def compose_config(*overrides: str, hydra: bool = False):
    """The config of ``conf/`` with ``overrides`` (later ones win), as the CLI composes it; ``hydra`` keeps Hydra's
    own node (sweeper parameters, run and sweep dirs)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=hydra)


def run_pipeline(out: Path, *overrides: str) -> dict:
    """The whole pipeline in this process (the CLI minus Hydra's launcher), writing under ``out``; returns results."""
    from inr_recover.run.experiment import run

    return run(compose_config(*overrides), out)


def checkout_env(env: dict | None = None) -> dict:
    """The environment of a subprocess that runs THIS checkout's code (the repository first on PYTHONPATH, so a
    worktree tests its own code, not the installed package's) on the shared data, without a display; plus ``env``."""
    pythonpath = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {
        **os.environ,
        "PYTHONPATH": pythonpath,
        "INR_RECOVER_SHARED_DATA": str(SHARED),
        "MPLBACKEND": "Agg",
        **(env or {}),
    }


def cli_command(tmp_path: Path, *overrides: str, multirun: bool = False, env: dict | None = None):
    """(argv, environment, run dir) of the CLI of this checkout (``python -m inr_recover.cli.main``,
    :func:`checkout_env`)."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "inr_recover.cli.main"]
    cmd += ["-m", f"hydra.sweep.dir={out}"] if multirun else [f"hydra.run.dir={out}"]
    cmd += ["progress=false", *overrides]
    return cmd, checkout_env(env), out


def run_cli(tmp_path: Path, *overrides: str, check: bool = True, multirun: bool = False, env: dict | None = None):
    """Run this checkout's CLI in a subprocess (for what is about the process: exit codes, stderr, signals,
    multirun and launchers); returns (CompletedProcess, run dir)."""
    cmd, e, out = cli_command(tmp_path, *overrides, multirun=multirun, env=env)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=e, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"inr-recover failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc, out


def read_results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def read_curves(run_dir: Path) -> list[dict]:
    """The rows of a run's curves.csv (one per evaluation point), as strings."""
    with (run_dir / "curves.csv").open() as f:
        return list(csv.DictReader(f))


def clean_values(*overrides: str) -> np.ndarray:
    """The clean tensor of the data config that ``overrides`` compose, loaded as the pipeline loads it."""
    from inr_recover.config import instantiate

    return instantiate(compose_config(*overrides).data).values


def saved_psnr(run_dir: Path, truth: np.ndarray) -> float:
    """The headline PSNR restated: reconstruction.npz's reconstruction, clipped to [0, 1], against ``truth`` over
    every entry (peak 1)."""
    recon = np.load(run_dir / "reconstruction.npz")["reconstruction"]
    return psnr(np.clip(recon, 0, 1).astype(np.float64), truth)


@pytest.fixture
def cli(tmp_path):
    return lambda *o, **kw: run_cli(tmp_path, *o, **kw)


@pytest.fixture
def tiny(tmp_path):
    """``tiny(*overrides)``: the tiny config plus ``overrides`` through the pipeline in this process, in a fresh run
    dir per call; returns (results, run dir). Figures only with ``save.figures=true``."""
    runs = iter(range(1000))

    def go(*overrides):
        out = tmp_path / f"run{next(runs)}"
        return run_pipeline(out, *TINY, *overrides), out

    return go


def make_optim(*overrides: str):
    """The optimiser and schedule of ``conf/`` under protocol=common (Adam, weight decay 1e-5, clip 1.0) with
    scheduler=cosine (unless ``overrides`` name another), then ``overrides``."""
    from inr_recover.engine.optim import Optim

    schedule = [] if any(o.startswith("scheduler=") for o in overrides) else ["scheduler=cosine"]
    return Optim.from_config(compose_config("protocol=common", *schedule, *overrides))


def write_mat_v73(path, name, arr):
    """A MATLAB v7.3 file as MATLAB writes it: HDF5 with a 512-byte header, axes stored reversed."""
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset(name, data=np.ascontiguousarray(arr.transpose(tuple(range(arr.ndim))[::-1])))
    with open(path, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema 1.00 .".ljust(116, b" "))


def random_observation(grid, channels, rate=0.3, seed=0):
    """Uniform random values, each entry observed with probability ``rate``."""
    from inr_recover.measure.observation import Observation

    rng = np.random.default_rng(seed)
    values = rng.random((*grid, channels)).astype(np.float32)
    known = rng.random(values.shape) < rate
    return Observation(np.where(known, values, 0.0).astype(np.float32), known)


def full_observation(values):
    from inr_recover.measure.observation import Observation

    return Observation(values=values.astype(np.float32), known=np.ones(values.shape, dtype=bool))


def masked_observation(values, known):
    """``values`` observed where ``known`` (zero elsewhere, as :func:`inr_recover.measure.degrade.degrade` stores
    them)."""
    from inr_recover.measure.observation import Observation

    return Observation(values=np.where(known, values, 0).astype(np.float32), known=known)


def model_options(name: str, *overrides: str) -> dict:
    """``model=name`` as the CLI composes it (protocol=official resolved) with ``overrides``: the model's options."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(compose_config(f"model={name}", *overrides).model, resolve=True)


def sine_mlp(net, i):
    """A factor network ``[sin(w0 (W h + b))]* -> linear`` evaluated by hand (float64 numpy) on the indices ``i``."""
    h = np.asarray(i, dtype=np.float64)[:, None]
    for layer in net[:-1]:
        w, b = layer.linear.weight.detach().double().numpy(), layer.linear.bias.detach().double().numpy()
        h = np.sin(float(layer.omega) * (h @ w.T + b))
    return h @ net[-1].weight.detach().double().numpy().T + net[-1].bias.detach().double().numpy()


def random_coords(n=50, d=2, seed=0):
    """``n`` coordinates uniform in [-1, 1]^d."""
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a - b) ** 2))


LOWRANK_BAR = 38.0  # dB on the missing entries; LRTFR reaches 43-46 over seeds 0-2; a rank-one factorisation 18


def complete_lowrank(model, lr, iterations, observed=0.4, shape=(24, 24, 8)):
    """Complete a synthetic exact low-rank tensor from ``observed`` of its entries (L2 loss, Adam, cosine to 0, no
    clipping, no weight decay); returns the PSNR on the entries the model never saw."""
    from inr_recover.data.builtin import synthetic
    from inr_recover.engine.fit import fit
    from inr_recover.engine.select import Final
    from inr_recover.measure.degrade import RandomMissing, degrade
    from inr_recover.tasks.entries import Recovery

    s = synthetic("s", shape=list(shape), kind="lowrank", rank=3)
    obs = degrade(s.values, [RandomMissing(rate=observed)], seed=0)
    optim = make_optim(
        f"optim.lr={lr}",
        f"optim.iterations={iterations}",
        "optim.weight_decay=0",
        "optim.grad_clip=null",
        "scheduler.eta_min=0",
    )
    task = Recovery("complete", loss="l2")
    r = fit(model, obs, task, optim, Final(task, obs, 0), eval_every=iterations)
    missing = ~obs.known
    return psnr(r.prediction[missing], s.values[missing])


def overfitting_restore(seed=0, iterations=60, eval_every=5, patience=None, min_iterations=0, **fit_kw):
    """Restoration that overfits early: a smooth 16x16x3 signal plus N(0, 0.2^2), SIREN (width 64, depth 2, init
    seed ``seed``) at lr 1e-3 for ``iterations``, holdout selection (10%, L1) at every ``eval_every``. Measured: the
    holdout error is lowest at iteration 15 of 60 and rises after it (the fit turns to the noise)."""
    from inr_recover.data.builtin import synthetic
    from inr_recover.engine.fit import fit
    from inr_recover.engine.select import Holdout
    from inr_recover.measure.degrade import Gaussian, degrade
    from inr_recover.models.siren import SIREN
    from inr_recover.tasks.entries import Recovery

    obs = degrade(synthetic("s", shape=[16, 16, 3], kind="smooth").values, [Gaussian(0.2)], seed=0)
    torch.manual_seed(seed)
    model = SIREN(2, 3, Domain.of(obs), width=64, depth=2)
    task = Recovery("restore", data_consistency=False)
    optim = make_optim(
        "optim.lr=1e-3",
        "optim.weight_decay=0",
        f"optim.iterations={iterations}",
        "scheduler.eta_min=1e-6",
        "optim.grad_clip=1.0",
    )
    select = Holdout(
        task, obs, 0, fraction=0.1, error="l1", trim=0.1, every=0, patience=patience, min_iterations=min_iterations
    )
    return fit(model, obs, task, optim, select, eval_every=eval_every, **fit_kw)


def extended_superpixel(labels: np.ndarray, k: int, width: int) -> np.ndarray:
    """Superpixel ``k`` and its overlap ring: the points 4-adjacent to it, and those within chessboard distance
    ``width - 1`` of these (S-INR's official Laplacian edge dilated ``expand_pixels - 1`` times by a 3x3 kernel)."""
    from scipy import ndimage

    if width == 0:
        return labels == k
    edge = ndimage.distance_transform_cdt(labels != k, metric="taxicab") == 1
    return (labels == k) | (ndimage.distance_transform_cdt(~edge, metric="chessboard") <= width - 1)


# The installed product (tests/test_installed.py, tests/test_readme.py): the console scripts as a user runs them, from
# outside the checkout with no PYTHONPATH, for the editable install of `make install` and for a wheel install.
class Installed:
    """The console scripts of one installed inr-recover, run as a user runs them."""

    def __init__(self, kind: str, bin_dir: Path):
        self.kind, self.bin = kind, bin_dir

    def run(self, cwd: Path, script: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(MPLBACKEND="Agg", INR_RECOVER_SHARED_DATA=str(SHARED))
        return subprocess.run(
            [str(self.bin / script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )

    def ok(self, cwd: Path, script: str, *args: str) -> subprocess.CompletedProcess:
        proc = self.run(cwd, script, *args)
        assert proc.returncode == 0, (
            f"{script} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
        return proc

    def package_file(self, cwd: Path) -> Path:
        """Where this install's ``inr_recover`` is imported from."""
        proc = self.ok(cwd, "python", "-c", "import inr_recover; print(inr_recover.__file__)")
        return Path(proc.stdout.strip())


def editable(cwd: Path) -> Installed:
    """The environment running the tests, if it holds this checkout's editable install (``make install``)."""
    inst = Installed("editable", Path(sys.executable).parent)
    if not (inst.bin / "inr-recover").is_file():
        pytest.skip(f"no inr-recover console script beside {sys.executable} (run the tests with `make test`)")
    if inst.package_file(cwd) != ROOT / "inr_recover" / "__init__.py":
        pytest.skip("the inr-recover installed beside the test interpreter is not this checkout's (run `make install`)")
    return inst


def wheel(cache: Path, scratch: Path) -> Installed:
    """This checkout built as a wheel and installed into a fresh virtual environment (module doc)."""
    built = scratch / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(built), str(ROOT)],
        check=True,
        capture_output=True,
        env={**os.environ, "SOURCE_DATE_EPOCH": "315532800"},
    )
    (whl,) = built.glob("inr_recover-*.whl")
    venv = cache / hashlib.sha256(whl.read_bytes()).hexdigest()[:16]
    python = venv / "bin" / "python"
    if not (venv / "ready").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        site = Path(
            subprocess.run(
                [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
        (site / "test_environment_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(python),
                "install",
                "-q",
                "--no-deps",
                "--no-index",
                str(whl),
            ],
            check=True,
            capture_output=True,
        )
        (venv / "ready").touch()
    return Installed("wheel", venv / "bin")


@pytest.fixture(scope="session")
def installs(request, tmp_path_factory) -> dict:
    """Each install kind, made at most once per session (the wheel's environment kept across sessions by hash)."""
    made = {}

    def get(kind: str) -> Installed:
        if kind not in made:
            scratch = tmp_path_factory.mktemp(f"install_{kind}")
            made[kind] = (
                editable(scratch)
                if kind == "editable"
                else wheel(Path(request.config.cache.mkdir("inr_recover_wheel_envs")), scratch)
            )
        return made[kind]

    return get
