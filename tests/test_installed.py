"""The product as a user meets it: the installed console scripts, run from a directory outside the checkout with no
``PYTHONPATH`` (so the checkout is not on ``sys.path``), for both install kinds:

- ``editable``: the ``make install`` environment that runs these tests (``pip install -e .``, setuptools' import hook);
- ``wheel``: the wheel built from this checkout, installed into a throw-away virtual environment (built once per
  session, cached by the wheel's hash). That environment borrows the test environment's third-party packages through
  a ``.pth`` path entry (a path entry's own ``.pth`` files are not run, so the editable hook stays out) instead of
  installing torch again.

The installs are conftest's ``installs`` fixture. Each test failed on the main before the installed-command fixes (the
sweeper unknown to Hydra under an editable install, the point data not installed, Hydra's ``-m --cfg`` refusal as a
traceback).
"""

from __future__ import annotations

import json

import pytest
from conftest import TINY_RUN, Installed

pytestmark = pytest.mark.xdist_group("installed")  # one wheel build per session: its tests share a worker


@pytest.fixture(params=["editable", pytest.param("wheel", marks=pytest.mark.slow)])
def installed(request, installs) -> Installed:
    return installs(request.param)


@pytest.mark.slow
def test_the_wheel_install_runs_its_own_copy(installs, tmp_path):
    """The wheel's environment imports the installed package, not the checkout, and ships the configs."""
    inst = installs("wheel")
    where = inst.package_file(tmp_path)
    assert inst.bin.parent in where.parents and (where.parent / "conf" / "config.yaml").is_file()


def test_single_run(installed, tmp_path):
    installed.ok(tmp_path, "inr-recover", *TINY_RUN, "hydra.run.dir=run")
    r = json.loads((tmp_path / "run" / "results.json").read_text())
    assert r["status"] == "complete" and r["iterations"] == 4 and r["metrics"]["psnr"] > 0
    # the source commit is known for the checkout's editable install, not for a wheel (no repository around it)
    assert (r["process"]["commit"] is None) == (installed.kind == "wheel")


def test_batched_seeds_sweep_and_summary(installed, tmp_path):
    """docs/sweeps.md "Batched sweeps": five seeds as one vmapped group, a summary with mean ± std; then
    ``inr-recover-summary`` rewrites it."""
    installed.ok(tmp_path, "inr-recover", "-m", "seed=0,1,2,3,4", "batch=seeds", *TINY_RUN, "hydra.sweep.dir=sw")
    results = [json.loads(p.read_text()) for p in sorted((tmp_path / "sw").glob("*/results.json"))]
    assert [(r["status"], r["seed"], r["batch"]["members"]) for r in results] == [("complete", s, 5) for s in range(5)]
    assert " ± " in (tmp_path / "sw" / "summary.md").read_text()
    (tmp_path / "sw" / "summary.md").unlink()
    installed.ok(tmp_path, "inr-recover-summary", "sw")
    assert " ± " in (tmp_path / "sw" / "summary.md").read_text()


def test_smoke_preset_batched(installed, tmp_path):
    """The issue's acceptance command: the smoke preset's 2 x 2 grid x 2 seeds as four groups of two."""
    installed.ok(tmp_path, "inr-recover", "-m", "experiment=smoke", "batch=seeds", f"hydra.sweep.dir={tmp_path / 'sw'}")
    results = [json.loads(p.read_text()) for p in (tmp_path / "sw").glob("*/results.json")]
    assert len(results) == 8 and all(r["status"] == "complete" and r["batch"]["members"] == 2 for r in results)
    assert " ± " in (tmp_path / "sw" / "summary.md").read_text()


@pytest.mark.parametrize("data", ["sst", "wind"])
def test_point_data_after_install(installed, tmp_path, data):
    """``make install`` ships the point data: data=sst|wind run without a further step."""
    installed.ok(tmp_path, "inr-recover", f"data={data}", "degrade=random_0.1", "model=knn", "hydra.run.dir=run")
    r = json.loads((tmp_path / "run" / "results.json").read_text())
    assert r["status"] == "complete" and 0 < r["metrics"]["nrmse"] < 1


def test_bench_help(installed, tmp_path):
    proc = installed.ok(tmp_path, "inr-recover-bench", "--help")
    assert "usage: inr-recover-bench" in proc.stdout


def test_multirun_with_cfg_is_one_line(installed, tmp_path):
    """Hydra refuses ``-m`` with ``--cfg``: one line saying what to type instead, exit 2, no traceback."""
    proc = installed.run(tmp_path, "inr-recover", "-m", "experiment=table3", "--cfg", "hydra")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "drop -m" in proc.stderr and proc.stdout == ""
