"""Shared fixtures: the repository's config dir, the shared real data, and a CLI runner."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SHARED = Path(os.environ.get("INR_RECOVER_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_file(rel: str) -> Path:
    """Path of a file in ../shared/data, or skip the test with the reason."""
    p = SHARED / rel
    if not p.is_file():
        pytest.skip(f"real benchmark file {p} is absent (the shared data folder is not beside this checkout)")
    return p


def compose_config(*overrides: str):
    """The config of ``conf/`` with ``overrides``, composed as the CLI does (without Hydra's own node)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def make_optim(*overrides: str):
    """The optimiser and schedule of ``conf/`` (optim=adam, scheduler=cosine) with ``overrides``."""
    from inr_recover.optim import Optim

    return Optim.from_config(compose_config(*overrides))


def cli_command(tmp_path: Path, *overrides: str, multirun: bool = False, env: dict | None = None):
    """(argv, environment, run dir) of the CLI of THIS checkout (``python -m inr_recover.cli`` with the
    repository first on PYTHONPATH), so a worktree tests its own code, not the installed package's."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "inr_recover.cli"]
    cmd += ["-m", f"hydra.sweep.dir={out}"] if multirun else [f"hydra.run.dir={out}"]
    cmd += ["progress=false", *overrides]
    pythonpath = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    e = {**os.environ, "PYTHONPATH": pythonpath, "INR_RECOVER_SHARED_DATA": str(SHARED), "MPLBACKEND": "Agg", **(env or {})}
    return cmd, e, out


def run_cli(tmp_path: Path, *overrides: str, check: bool = True, multirun: bool = False, env: dict | None = None,
            checkout: bool = True):
    """Run this checkout's CLI in a subprocess; returns (CompletedProcess, run dir). (``checkout`` is accepted
    for compatibility: the CLI of this checkout is always the one run; tests/test_packaging.py runs an installed wheel.)"""
    cmd, e, out = cli_command(tmp_path, *overrides, multirun=multirun, env=env)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=e, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"inr-recover failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc, out


def read_results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


@pytest.fixture
def cli(tmp_path):
    return lambda *o, **kw: run_cli(tmp_path, *o, **kw)
