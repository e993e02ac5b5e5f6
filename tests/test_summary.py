"""inr-recover-summary: collection, paper-style table, heatmap, and the multirun callback end to end (CPU)."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, checkout_env

from inr_recover.cli.summary import summarize


def summary_cli(*args):
    """``inr-recover-summary *args`` of this checkout in a subprocess (the entry point's exit code and stderr)."""
    return subprocess.run(
        [sys.executable, "-m", "inr_recover.cli.summary", *map(str, args)],
        capture_output=True,
        text=True,
        env=checkout_env(),
        timeout=300,
    )


def _job(root, name, overrides, status="complete", seconds=(0.5, 1.0, 5), **metrics):
    d = root / name
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    model = next((o.split("=")[1] for o in overrides if o.startswith("model=")), "choir")
    data = next((o.split("=")[1] for o in overrides if o.startswith("data=")), "cloth")
    r = {
        "status": status,
        "metrics": metrics,
        "model": {"name": model},
        "data": {"name": data},
        "degrade": {"name": next((o.split("=")[1] for o in overrides if o.startswith("degrade=")), "random_0.1")},
        "seed": int(next(o.split("=")[1] for o in overrides if o.startswith("seed="))),
        "iterations": 10,
        "train_seconds": seconds[1],
        "seconds_to_selected": seconds[0],
        "selection": {"iteration": seconds[2]},
    }
    (d / "results.json").write_text(json.dumps(r))


def test_table_mean_std_best_and_incomplete(tmp_path):
    _job(
        tmp_path, "0", ["model=choir", "data=cloth", "seed=0"], seconds=(2.0, 4.0, 20), psnr=30.0, ssim=0.90, lpips=0.10
    )
    _job(tmp_path, "1", ["model=choir", "data=cloth", "seed=1"], psnr=31.0, ssim=0.92, lpips=0.12)
    _job(tmp_path, "2", ["model=siren", "data=cloth", "seed=0"], psnr=29.0, ssim=0.95, lpips=0.05)
    _job(tmp_path, "3", ["model=siren", "data=cloth", "seed=1"], status="interrupted", psnr=99.0, ssim=0.99, lpips=0.0)
    _job(tmp_path, "4", ["model=siren", "data=synthetic", "seed=0"], psnr=20.0, ssim=0.5, lpips=0.3)
    files = summarize(tmp_path)
    md = files["md"].read_text().splitlines()
    assert md[0] == (
        "| method | cloth · random_0.1 · PSNR ↑ | cloth · random_0.1 · SSIM ↑ | cloth · random_0.1 · LPIPS ↓ "
        "| synthetic · random_0.1 · PSNR ↑ | synthetic · random_0.1 · SSIM ↑ | synthetic · random_0.1 · LPIPS ↓ |"
    )
    std = np.std([30.0, 31.0])
    assert md[2] == f"| choir | **30.50 ± {std:.2f}** | 0.9100 ± 0.0100 | 0.1100 ± 0.0100 | – | – | – |"
    assert (
        md[3] == "| siren | 29.00 | **0.9500** | **0.0500** | **20.00** | **0.5000** | **0.3000** |"
    )  # interrupted seed 1 left out
    assert "1 job(s) without complete results" in files["md"].read_text()
    ttq = md[
        md.index("| method | cloth · random_0.1 | synthetic · random_0.1 |") :
    ]  # time to quality: means over seeds
    assert ttq[2:4] == ["| choir | 1.2 / 2.5 s (12) | – |", "| siren | 0.5 / 1.0 s (5) | 0.5 / 1.0 s (5) |"]
    rows = list(csv.DictReader(files["csv"].open()))
    psnr = next(r for r in rows if r["method"] == "choir" and r["metric"] == "psnr")
    assert float(psnr["mean"]) == 30.5 and float(psnr["std"]) == pytest.approx(0.5) and psnr["n"] == "2"
    assert len(list(csv.DictReader(files["runs"].open()))) == 5 and "heatmap" not in files


def test_shape_metrics_table(tmp_path):
    """task=sdf runs: IoU, F-score and normal consistency (higher is better) with four decimals, the Chamfer distance
    (lower is better) in scientific notation, best per column in bold."""
    _job(
        tmp_path,
        "0",
        ["model=siren", "data=bunny", "seed=0"],
        iou=0.98,
        chamfer=4.8e-5,
        fscore=0.997,
        normal_consistency=0.91,
    )
    _job(
        tmp_path,
        "1",
        ["model=choir", "data=bunny", "seed=0"],
        iou=0.95,
        chamfer=2.0e-4,
        fscore=0.990,
        normal_consistency=0.93,
    )
    md = summarize(tmp_path)["md"].read_text().splitlines()
    assert md[0] == (
        "| method | bunny · random_0.1 · IoU ↑ | bunny · random_0.1 · Chamfer ↓ | bunny · random_0.1 · F-score ↑ | "
        "bunny · random_0.1 · normal consistency ↑ |"
    )
    assert md[2] == "| siren | **0.9800** | **4.800e-05** | **0.9970** | 0.9100 |"
    assert md[3] == "| choir | 0.9500 | 2.000e-04 | 0.9900 | **0.9300** |"


def test_paper_column_beside_ours(tmp_path):
    """The CHOIR paper's Table 2 figure (MSI Flowers, random OR=0.10: CHOIR 41.316, SIREN 37.268) beside ours, matched
    by data / degradation / method; a method the paper lacks (interp) gets none, and the CSV carries it too."""
    _job(tmp_path, "0", ["model=choir", "data=flowers", "seed=0"], psnr=40.0)
    _job(tmp_path, "1", ["model=siren", "data=flowers", "seed=0"], psnr=36.0)
    _job(tmp_path, "2", ["model=interp", "data=flowers", "seed=0"], psnr=30.0)
    files = summarize(tmp_path)
    md = files["md"].read_text().splitlines()
    assert md[0] == "| method | flowers · random_0.1 · PSNR ↑ | flowers · random_0.1 · paper PSNR |"
    assert md[2:5] == ["| choir | **40.00** | 41.32 |", "| siren | 36.00 | 37.27 |", "| interp | 30.00 | – |"]
    rows = {r["method"]: r["paper"] for r in csv.DictReader(files["csv"].open()) if r["metric"] == "psnr"}
    assert rows == {"choir": "41.316", "siren": "37.268", "interp": ""}


def test_paper_iou_and_chamfer_beside_ours_for_shapes(tmp_path):
    """experiment=finerpp_sdf runs (metrics.shape=finer): FINER++ Table 2's IoU and Chamfer (Armadillo: SIREN 0.9895 /
    3.505e-6, FINER++ Sine 0.9899 / 3.348e-6) beside ours; a method the table lacks (choir_linear) gets none; the same
    runs scored in our convention get no paper column (another quantity of the same name)."""
    for convention in ("ours", "finer"):
        for i, model in enumerate(["siren", "finer", "choir_linear"]):
            _job(
                tmp_path / convention,
                str(i),
                [f"model={model}", "data=armadillo", "degrade=none", "seed=0"],
                iou=0.98 + i / 1000,
                chamfer=4e-6,
                fscore=0.99,
                convention=convention,
            )
    md = summarize(tmp_path / "ours")["md"].read_text().splitlines()
    assert "paper" not in md[0] and md[2] == "| siren | 0.9800 | **4.000e-06** | **0.9900** |"
    md = summarize(tmp_path / "finer")["md"].read_text().splitlines()
    assert md[0] == (
        "| method | armadillo · none · IoU ↑ | armadillo · none · paper IoU | armadillo · none · Chamfer ↓ | "
        "armadillo · none · paper Chamfer | armadillo · none · F-score ↑ |"
    )
    assert md[2] == "| siren | 0.9800 | 0.9895 | **4.000e-06** | 3.505e-06 | **0.9900** |"
    assert md[3] == "| finer | 0.9810 | 0.9899 | **4.000e-06** | 3.348e-06 | **0.9900** |"
    assert md[4] == "| choir_linear | **0.9820** | – | **4.000e-06** | – | **0.9900** |"


def test_paper_figures_are_the_papers_tables():
    from inr_recover.cli.summary import paper_figures

    fig = paper_figures()
    choir = {k for k in fig if k[1] != "none"}  # the CHOIR paper's tables have no degrade=none column
    assert len({k for k in choir if k[0] not in ("cave_cloth", "kodim23")}) == 6 * 7 * 4 + 6 * 7 * 3  # Tables 2 and 3
    assert fig[("cave_cloth", "scene3", "choir")] == {"psnr": 26.072, "ssim": 0.779, "lpips": 0.152}
    assert fig[("bird", "scene1", "lrtfr")]["psnr"] == 17.217 and fig[("news", "tube_0.3", "dro_tff")]["psnr"] == 27.402
    finerpp = {k: v for k, v in fig.items() if k[1] == "none" and "iou" in v}  # FINER++ Table 2: 4 shapes x 7 methods
    assert len(finerpp) == 4 * 7 and all(set(v) == {"iou", "chamfer"} for v in finerpp.values())
    views = {k: v for k, v in fig.items() if k[1] == "none" and "psnr" in v}  # CHOIR Table 1, FINER++ Table 3
    assert len(views) == 8 * (7 + 3) and all(set(v) == {"psnr", "ssim", "lpips"} for v in views.values())
    assert fig[("lego", "none", "choir")] == {"psnr": 28.299, "ssim": 0.933, "lpips": 0.088}
    assert fig[("drums", "none", "wire")] == {"psnr": 22.22, "ssim": 0.858, "lpips": 0.106}
    assert (
        fig[("ship", "none", "iga_inr")]["psnr"] == 27.368 and fig[("chair", "none", "finer_wavelet")]["psnr"] == 33.78
    )
    assert fig[("armadillo", "none", "finer_wavelet")] == {"iou": 0.9901, "chamfer": 3.291e-6}
    assert fig[("thai_statue", "none", "gauss")] == {"iou": 0.9481, "chamfer": 1.618e-5}


def test_cli_reports_empty_dir(tmp_path):
    p = summary_cli(tmp_path)
    assert p.returncode == 2 and "no results.json" in p.stderr and "Traceback" not in p.stderr


def test_smoke_preset_multirun_writes_summary_and_heatmap(cli):
    """``experiment=smoke`` (the CI preset): a CPU multirun over depth x lr x 2 seeds; the end-of-multirun callback
    writes the table (4 method rows, mean ± std of the 2 seeds each, consistent with the per-job results) and
    the depth x lr heatmap."""
    proc, out = cli("experiment=smoke", multirun=True)
    assert len(list(out.glob("*/results.json"))) == 8
    md = (out / "summary.md").read_text().splitlines()
    rows = [line for line in md[2 : md.index("")] if line.startswith("| choir")]  # the metrics table
    assert len(rows) == 4 and "choir (model.depth=1, optim.lr=0.001)" in rows[0]
    runs = list(csv.DictReader((out / "summary_runs.csv").open()))
    first = [float(r["psnr"]) for r in runs if r["model.depth"] == "1" and r["optim.lr"] == "0.001"]
    assert len(first) == 2 and f"{np.mean(first):.2f} ± {np.std(first):.2f}" in rows[0]
    assert sum("**" in r.split("|")[2] for r in rows) >= 1
    png = (out / "summary_heatmap.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # rerunning the CLI over the same dir reproduces the callback's table
    p = summary_cli(out, "--out", out / "again")
    again = (out / "again" / "summary.md").read_text()
    assert p.returncode == 0 and again.split("\nStamp: ")[0] == ("\n".join(md) + "\n").split("\nStamp: ")[0]
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    stamp = next(line for line in md if line.startswith("Stamp: "))  # the table says where it came from
    assert f"inr-recover-summary {out}" in again and "CPU cores, no GPU" in stamp
    if head.returncode == 0:  # a checkout: the runs' commit (+dirty with uncommitted changes)
        assert f"commit {head.stdout.strip()}" in stamp


def test_stamp_names_commits_machines_and_dates(tmp_path):
    for i, (commit, gpu, day) in enumerate(
        [("abc1234", None, 1796515200), ("abc1234", None, 1796601600), ("def5678+dirty", "NVIDIA H100", 1796601600)]
    ):
        _job(tmp_path, str(i), ["model=choir", f"seed={i}"], psnr=30.0)
        r = json.loads((tmp_path / str(i) / "results.json").read_text())
        r["process"] = {"commit": commit, "machine": {"cpu_cores": 2, "gpu": gpu}, "finished_unix": day}
        (tmp_path / str(i) / "results.json").write_text(json.dumps(r))
    text = summarize(tmp_path)["md"].read_text()
    assert text.rstrip().splitlines()[-1] == (
        "Stamp: `inr-recover-summary " + str(tmp_path) + "` · commit abc1234, "
        "def5678+dirty · 2 CPU cores, NVIDIA H100; 2 CPU cores, no GPU · "
        "2026-12-06 to 2026-12-07 (UTC)."
    )
