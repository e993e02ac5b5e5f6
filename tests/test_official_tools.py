"""tools/official: collect.py gathers a side-by-side run of several seeds into mean ± std per side, and
faithfulness.py prints it with the gap of the means and a note when the per-seed gaps spread over 0.5 dB."""
from __future__ import annotations

import importlib.util
import json

import pytest
from conftest import ROOT


def tool(name: str):
    """A script of tools/official as a module, without putting that folder on sys.path (its common.py)."""
    spec = importlib.util.spec_from_file_location(f"official_{name}", ROOT / "tools" / "official" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


collect, faithfulness = tool("collect"), tool("faithfulness")


def side_by_side(out, official: dict, ours: dict) -> None:
    """Driver JSONs and runner results.json files of method m on observation obs at the given seeds."""
    for seed, psnr in official.items():
        path = out / "official" / "obs" / f"m_s{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"psnr": psnr, "iterations": 200, "official_iterations": 5000, "seed": seed,
                                    "train_seconds": 1.0, "recipe": {}, "notes": "", "repo_commit": "abc",
                                    "machine": "m", "command": "c"}))
    for seed, psnr in ours.items():
        path = out / "ours" / "obs" / f"m_s{seed}" / "results.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"metrics": {"psnr": psnr}, "iterations": 200, "seed": seed, "train_seconds": 1.0,
                                    "command": "inr-recover model=m"}))


def test_seeds_are_collected_as_mean_and_std_with_the_gap_of_the_means(tmp_path):
    side_by_side(tmp_path, {0: 29.0, 1: 29.2, 2: 29.4}, {0: 29.5, 1: 29.6, 2: 29.7})
    rows = collect.collect(tmp_path)
    row = rows["200 iterations, seeds 0 1 2"]["obs"]["m"]
    assert row["official"]["psnr"] == pytest.approx(29.2) and row["official"]["psnr_std"] == pytest.approx(0.2)
    assert row["ours"]["per_seed"] == {"0": 29.5, "1": 29.6, "2": 29.7}
    assert row["gap_db"] == pytest.approx(0.4)
    assert faithfulness.side(row["ours"]) == "29.60 ± 0.10"
    assert faithfulness.note("k", row) == " (seeds 0, 1, 2)"


def test_a_per_seed_spread_over_half_a_decibel_is_said(tmp_path):
    side_by_side(tmp_path, {0: 21.0, 1: 21.0, 2: 21.0}, {0: 21.3, 1: 20.3, 2: 21.0})
    row = collect.collect(tmp_path)["200 iterations, seeds 0 1 2"]["obs"]["m"]
    assert faithfulness.note("k", row) == " (seeds 0, 1, 2; per-seed gaps spread 1.00 dB)"


def test_table_commands_carry_placeholders_not_machine_paths():
    cmd = ("python -m inr_recover.cli.main model=sinr degrade.mask=/data/x/obs/cloth64_random0.1/mask.npz "
           "hydra.run.dir=/data/x/side/ours/cloth64_random0.1/sinr_s0")
    assert faithfulness.portable(cmd) == (
        "python -m inr_recover.cli.main model=sinr degrade.mask=$OBS/cloth64_random0.1/mask.npz "
        "hydra.run.dir=$OUT/ours/cloth64_random0.1/sinr_s0"
    )
    assert (
        faithfulness.portable("lrtfr.py --repo /data/u/off/LRTFR --obs /data/u/off/obs/cloth128_scene3 --seed 0")
        == "lrtfr.py --repo $OFFICIAL/LRTFR --obs $OBS/cloth128_scene3 --seed 0"
    )
    rows = faithfulness.inr_rows() + faithfulness.tensor_rows()
    assert rows and not [
        r for r in rows if " /" in faithfulness.portable(r[-1]) or "=/" in faithfulness.portable(r[-1])
    ]


def test_a_new_run_replaces_its_own_rows_and_keeps_the_others(tmp_path):
    side_by_side(tmp_path / "a", {0: 29.0, 1: 29.2, 2: 29.4}, {0: 29.5, 1: 29.6, 2: 29.7})
    merged = collect.merge({}, collect.collect(tmp_path / "a"), ", p")
    merged["200 iterations, seeds 0 1 2, p"]["obs"]["other"] = {"kept": True}
    side_by_side(tmp_path / "b", {0: 30.0, 1: 30.0, 2: 30.0}, {0: 30.5, 1: 30.5, 2: 30.5})
    merged = collect.merge(merged, collect.collect(tmp_path / "b"), ", p")
    rows = merged["200 iterations, seeds 0 1 2, p"]["obs"]
    assert rows["other"] == {"kept": True} and rows["m"]["gap_db"] == pytest.approx(0.5)
