"""The console script in a subprocess (CPU): what is about the process (output, exit codes, one-line errors,
multirun, printing the config)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, TINY, clean_values, compose_config, read_results, saved_psnr

from inr_recover.measure.domain import Domain
from inr_recover.models.base import build_model


def test_end_to_end_writes_results_and_outputs(cli):
    proc, out = cli(*TINY, "save.figures=true")
    r = read_results(out)
    assert (
        r["status"] == "complete"
        and r["iterations"] == 4
        and r["selection"] == {"method": "final", "iteration": 4, "requested": "auto"}
    )
    model = build_model(compose_config(*TINY).model, 2, 8, Domain.on_grid((32, 32)))
    assert r["model"]["name"] == "choir" and r["model"]["params"] == sum(p.numel() for p in model.parameters())
    assert set(r["metrics"]) == {"psnr", "psnr_band", "ssim"}
    assert r["oracle"]["psnr_peak"] >= r["metrics"]["psnr"] - 1e-9 and "diagnostic" in r["oracle"]["note"]
    assert r["observed"]["fraction"] == pytest.approx(0.1, abs=1e-3)
    assert r["device"] == "cpu" and r["seed"] == 0 and "torch" in r["versions"]
    for f in ("reconstruction.npz", "figure.png", "curves.png", "curves.csv", ".hydra/config.yaml"):
        assert (out / f).is_file(), f
    z = np.load(out / "reconstruction.npz")
    assert z["reconstruction"].shape == (32, 32, 8) and z["known"].dtype == bool
    np.testing.assert_array_equal(z["reconstruction"][z["known"]], z["observed"][z["known"]])
    assert r["metrics"]["psnr"] == pytest.approx(
        saved_psnr(out, clean_values(*TINY)), abs=1e-6
    )  # the headline is of this file
    assert "PSNR" in proc.stdout + proc.stderr and str(out.resolve()) in proc.stdout + proc.stderr


def test_missing_paper_file_is_one_line_error(cli, tmp_path):
    proc, _ = cli("model=choir", "data=wdc", "degrade=tube_0.1", f"data.root={tmp_path}/nowhere", check=False)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "WDC.mat" in err[0] and "data.root" in err[0] and "data.path" in err[0]
    assert "Traceback" not in proc.stderr


def test_bad_value_is_one_line_error(cli):
    proc, _ = cli(*TINY, "degrade.missing.rate=1.5", check=False)
    assert (
        proc.returncode == 2
        and "degrade.missing.rate=1.5 is not a finite number in [0, 1]" in proc.stderr
        and "Traceback" not in proc.stderr
    )
    proc, _ = cli(*TINY, "task=fit", check=False)
    assert proc.returncode == 2 and "degrade=none" in proc.stderr


def test_hydra_errors_and_validation_are_one_line_errors(cli):
    """Errors before the run (Hydra's: an unknown option of a group) and from the whole-config check (an unknown
    metric, before any training) end the process with one stderr line and exit code 2."""
    for override, message in (
        ("model=nosuch", "Could not find 'model/nosuch' (available: bicubic, choir, "),
        ("metrics.names=[psnr,foo]", "metrics.names.1='foo' is not one of 'psnr'"),
        (
            "degrade.ops.0.rate=0.5",
            "degrade.ops.0.rate=0.5: degradation operators are addressed by "
            "name, not position: degrade.<name>.<option>, e.g. degrade.impulses.known=true",
        ),
    ):
        proc, out = cli(*TINY, override, check=False)
        err = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(err) == 1 and message in err[0], proc.stderr
        assert not (out / "results.json").exists()


def test_mismatched_mask_is_one_line_error(cli, tmp_path):
    np.save(tmp_path / "m.npy", np.ones((31, 32, 8), bool))
    proc, _ = cli("data=synthetic", "degrade=from_file", f"degrade.mask={tmp_path}/m.npy", check=False)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and "Traceback" not in proc.stderr
    assert "shape (31, 32, 8); expected (32, 32, 8)" in err[0] and "m.npy" in err[0]


def test_multirun_sweep(cli):
    proc, out = cli(*TINY, "model.depth=1,2", "optim.lr=1e-3,3e-3", multirun=True)
    results = sorted(out.glob("*/results.json"))
    assert len(results) == 4
    combos = sorted(
        (json.loads(p.read_text())["model"]["params"], (p.parent / ".hydra" / "overrides.yaml").read_text())
        for p in results
    )
    assert [("model.depth=1" in o, "optim.lr=0.001" in o) for _, o in combos] == [
        (True, True),
        (True, False),
        (False, True),
        (False, False),
    ]
    assert combos[0][0] < combos[-1][0]  # deeper model, more parameters


def test_cfg_job_prints_config(cli):
    proc, _ = cli("--cfg", "job")
    assert "model:" in proc.stdout and "choir" in proc.stdout


def test_help_is_the_projects_own(tmp_path):
    """``--help`` opens with what the tool does, lists each group with its options (no internal ``_`` bases), gives
    example commands that compose, and points at the docs."""
    proc = subprocess.run(
        [sys.executable, "-m", "inr_recover.cli.main", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("inr-recover: recover multi-dimensional data")
    groups, last = {}, None
    for line in proc.stdout.split("Config groups", 1)[1].split("Documentation", 1)[0].splitlines()[1:]:
        if line.startswith("      "):
            groups[last] += " " + line.strip()
        elif line.startswith("  "):
            last, names = line.strip().split(": ", 1)
            groups[last] = names
    groups = {k: v.split(", ") for k, v in groups.items()}
    assert set(groups) == {p.parent.relative_to(ROOT / "conf").as_posix() for p in (ROOT / "conf").rglob("*.yaml")} - {
        "."
    }
    assert set(groups["task"]) == {p.stem for p in (ROOT / "conf" / "task").glob("*.yaml")}
    bases = {p.stem for p in (ROOT / "conf" / "data").glob("_*.yaml")}
    assert bases and set(groups["data"]) == {p.stem for p in (ROOT / "conf" / "data").glob("*.yaml")} - bases
    assert groups["model"][:2] == ["bicubic", "choir"]
    assert "docs/configuration.md" in proc.stdout and "--multirun" in proc.stdout
    examples = [
        line.split("inr-recover ", 1)[1] for line in proc.stdout.splitlines() if line.startswith("  inr-recover ")
    ]
    assert len(examples) == 3
    for example in examples:
        overrides = [o for o in example.split() if o != "-m"]
        compose_config(*[o.split(",")[0] if "=" in o else o for o in overrides])  # each example composes
