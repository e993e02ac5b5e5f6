"""Measure early stopping (``select.patience``): one full run per cell, the patience rule replayed on its curve.

Each cell is trained once to ``optim.iterations`` with ``select=holdout`` and early stopping off, scoring and
evaluating every 25 iterations (``eval_every=25``, ``select.every=25``), so ``curves.csv`` holds the holdout error
and the oracle PSNR at every scoring point. Because a stopped run is exactly the prefix of the full run (same
schedule horizon), replaying :func:`inr_recover.engine.select.patience_reached` on that curve gives, for any patience
and min_iterations, where a stopped run would end, the iteration it would select and its headline (the oracle PSNR at
that iteration, which is the PSNR a run selecting it reports). ``verify`` reruns cells with the rule on and
compares the real stopped runs with the replay.

    python tools/patience_study.py run    --out outputs/patience_study [--only choir_cloth_scene3 ...]
    python tools/patience_study.py table  --out outputs/patience_study --patience 300 --min-iterations 500
    python tools/patience_study.py sweep  --out outputs/patience_study
    python tools/patience_study.py verify --out outputs/patience_study --patience 300 --min-iterations 500 --only ...

Cells: CAVE cloth and chart_toy resized to ``--size`` (64), Scenes 1-3 (impulses known, as the official CHOIR
code) with ``task=restore``, random/tube 10% with ``task=complete``; Kodak 23 Scene 3; CHOIR on all of them,
SIREN, FINER and LRTFR (their configs) on a subset. Runs go one after another (``run`` skips finished cells).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inr_recover.engine.select import patience_reached  # noqa: E402

RESTORE_IT, COMPLETE_IT = 600, 1000
SCENES = {"scene1": [], "scene2": ["degrade.impulses.known=true"], "scene3": ["degrade.impulses.known=true"]}


def cells(size: int) -> dict:
    """{name: overrides}: the measured grid (module doc)."""
    out = {}
    hsi = {"cloth": "cave_cloth", "chart": "cave_chart_toy"}
    for model in ("choir", "siren", "finer", "lrtfr"):
        for short, data in hsi.items():
            for scene, extra in SCENES.items():
                out[f"{model}_{short}_{scene}"] = [
                    f"model={model}",
                    f"data={data}",
                    f"degrade={scene}",
                    *extra,
                    "task=restore",
                    f"optim.iterations={RESTORE_IT}",
                ]
            for deg in ("random_0.1", "tube_0.1"):
                out[f"{model}_{short}_{deg}"] = [
                    f"model={model}",
                    f"data={data}",
                    f"degrade={deg}",
                    "task=complete",
                    f"optim.iterations={COMPLETE_IT}",
                ]
        out[f"{model}_kodim23_scene3"] = [
            f"model={model}",
            "data=kodim23",
            "degrade=scene3",
            "degrade.impulses.known=true",
            "task=restore",
            f"optim.iterations={RESTORE_IT}",
        ]
    # the paper protocol's budget (5000 iterations, issue 17's command) at the study's size: the full run to the end
    out["choir_cloth_scene3_5000"] = [o for o in out["choir_cloth_scene3"] if not o.startswith("optim.iterations=")] + [
        "optim.iterations=5000"
    ]
    common = [
        f"data.resize=[{size},{size}]",
        "select=holdout",
        "select.every=25",
        "eval_every=25",
        "metrics=fast",
        "save.figures=false",
        "progress=false",
    ]
    return {k: v + common for k, v in out.items()}


DEFAULT = [  # the measured subset (docs/selection.md "Early stopping"): CHOIR everywhere, the peers on cloth
    *(f"choir_{d}_{s}" for d in ("cloth", "chart") for s in ("scene1", "scene2", "scene3", "random_0.1", "tube_0.1")),
    "choir_kodim23_scene3",
    "choir_cloth_scene3_5000",
    *(f"{m}_cloth_{s}" for m in ("siren", "lrtfr", "finer") for s in ("scene3", "random_0.1")),
]


def _cli(out: Path, overrides: list) -> int:
    cmd = [sys.executable, "-m", "inr_recover.cli.main", f"hydra.run.dir={out}", *overrides]
    print(" ".join(cmd[2:]), flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


def load(run: Path) -> dict:
    """results.json and the curve (every scoring point) of a finished cell."""
    res = json.loads((run / "results.json").read_text())
    with open(run / "curves.csv") as f:
        rows = list(csv.DictReader(f))
    curve = {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}
    return {"results": res, "curve": curve}


def replay(curve: dict, iterations: int, patience: int | None, min_iterations: int) -> dict:
    """Where the live rule stops on this curve (``Holdout``: strict improvement; ``Trainer.run``: asked after every
    iteration, never at the last), the iteration it selects and that iteration's oracle PSNR and training seconds."""
    its, score = curve["iteration"].astype(int), curve["holdout"]
    best, sel, k = np.inf, None, 0
    stop = iterations
    for t in range(1, iterations):
        while k < len(its) and its[k] == t:
            if score[k] < best:
                best, sel = score[k], t
            k += 1
        if patience_reached(t, sel, patience, min_iterations):
            stop = t
            break
    if stop == iterations:  # ran to the end: the last scoring point counts too
        for j in range(k, len(its)):
            if score[j] < best:
                best, sel = score[j], int(its[j])
    i = int(np.flatnonzero(its == sel)[0])
    seconds = float(np.interp(stop, its, curve["seconds"]))
    return {
        "stop": stop,
        "selected": sel,
        "psnr": float(curve["oracle_psnr"][i]),
        "seconds": seconds,
        "seconds_to_selected": float(curve["seconds"][i]),
    }


def analyse(run: Path, patience: int | None, min_iterations: int) -> dict:
    r = load(run)
    res, curve = r["results"], r["curve"]
    iterations = int(res["iterations"])
    full, pat = replay(curve, iterations, None, 0), replay(curve, iterations, patience, min_iterations)
    assert full["selected"] == res["selection"]["iteration"], (run, full, res["selection"])
    assert abs(full["psnr"] - res["metrics"]["psnr"]) < 1e-6, (run, full["psnr"], res["metrics"]["psnr"])
    after = curve["iteration"] > pat["stop"]
    oracle_after = float(curve["oracle_psnr"][after].max()) if after.any() else float("nan")
    return {
        "cell": run.name,
        "iterations": iterations,
        "full_sel": full["selected"],
        "full_psnr": full["psnr"],
        "stop": pat["stop"],
        "sel": pat["selected"],
        "psnr": pat["psnr"],
        "delta": pat["psnr"] - full["psnr"],
        "seconds_full": float(res["train_seconds"]),
        "seconds_stop": pat["seconds"],
        "oracle_peak": float(curve["oracle_psnr"].max()),
        "oracle_peak_it": int(curve["iteration"][int(np.argmax(curve["oracle_psnr"]))]),
        "oracle_after_stop": oracle_after,
    }


def finished(out: Path, names) -> list[Path]:
    return [out / n for n in names if (out / n / "results.json").is_file()]


def table(rows: list[dict], patience, min_iterations) -> str:
    head = (
        "| cell | iterations | full run: selected it, PSNR | patience: stop it, selected it, PSNR | Δ dB | "
        "train s full → stopped (saved) | oracle peak (it) | best oracle after the stop |"
    )
    lines = [f"patience {patience}, min_iterations {min_iterations}", "", head, "|:--|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        saved = 1 - r["seconds_stop"] / r["seconds_full"]
        lines.append(
            f"| {r['cell']} | {r['iterations']} | {r['full_sel']}, {r['full_psnr']:.2f} | {r['stop']}, {r['sel']}, "
            f"{r['psnr']:.2f} | {r['delta']:+.2f} | {r['seconds_full']:.0f} → {r['seconds_stop']:.0f} "
            f"({100 * saved:.0f}%) | {r['oracle_peak']:.2f} ({r['oracle_peak_it']}) | {r['oracle_after_stop']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("run", "table", "sweep", "verify", "list"))
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "patience_study")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--only", nargs="*", default=None, help="cell names (default: the measured subset)")
    ap.add_argument("--patience", type=int, default=300)  # conf/task/restore.yaml
    ap.add_argument("--min-iterations", type=int, default=500)
    a = ap.parse_args(argv)
    grid = cells(a.size)
    names = a.only or DEFAULT
    unknown = [n for n in names if n not in grid]
    if unknown:
        ap.error(f"unknown cells {unknown}; `list` shows them")
    if a.what == "list":
        print("\n".join(f"{n}: {' '.join(grid[n])}" for n in grid))
    elif a.what == "run":
        for n in names:
            _cli(a.out / n, [*grid[n], "select.patience=null"])
    elif a.what == "table":
        print(
            table(
                [analyse(p, a.patience, a.min_iterations) for p in finished(a.out, names)], a.patience, a.min_iterations
            )
        )
    elif (
        a.what == "sweep"
    ):  # every (patience, min_iterations): the worst headline change and the mean time saved, per task
        runs = finished(a.out, names)
        print(
            "| task | patience | min_iterations | cells | worst Δ dB | cells with |Δ| > 0.05 | mean train time saved |"
        )
        print("|:--|--:|--:|--:|--:|--:|--:|")
        for task in ("restore", "complete"):
            mine = [p for p in runs if load(p)["results"]["task"] == task]
            for pat in (50, 100, 150, 200, 300, 500):
                for mi in (0, 200, 300, 500):
                    rows = [analyse(p, pat, mi) for p in mine]
                    if rows:
                        worst = min(r["delta"] for r in rows)
                        bad = sum(abs(r["delta"]) > 0.05 for r in rows)
                        saved = np.mean([1 - r["seconds_stop"] / r["seconds_full"] for r in rows])
                        print(f"| {task} | {pat} | {mi} | {len(rows)} | {worst:+.2f} | {bad} | {100 * saved:.0f}% |")
    else:  # verify: real stopped runs against the replay
        for n in names:
            full = a.out / n
            stopped = a.out / f"{n}_stopped_p{a.patience}_m{a.min_iterations}"
            _cli(stopped, [*grid[n], f"select.patience={a.patience}", f"select.min_iterations={a.min_iterations}"])
            want, got = analyse(full, a.patience, a.min_iterations), json.loads((stopped / "results.json").read_text())
            print(
                f"{n}: replay stop {want['stop']} selects {want['sel']} at {want['psnr']:.4f} dB; real run stopped at "
                f"{got['selection']['stopped_early_at']} selected {got['selection']['iteration']} at "
                f"{got['metrics']['psnr']:.4f} dB in {got['train_seconds']:.0f} s (full run {want['seconds_full']:.0f} "
                "s)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
