"""Collect a run_inr.sh output directory into RESULTS.json under the key "<iterations> iterations, seed <seed>" (other
keys are kept): per observation and method, the official side (driver JSON), this runner's side (its results.json)
and the gap (ours - official, dB).

    python tools/official/collect.py OUT_DIR RESULTS.json [LABEL]

LABEL (e.g. "protocol=official") is appended to the key, so a rerun of this runner's side keeps the earlier rows.
Rows merge per observation and method: a run replaces the rows of the methods it ran and keeps the others.
Runs of several seeds (``OUT/official/<obs>/<method>_s<seed>.json`` beside ``OUT/ours/<obs>/<method>_s<seed>/``, as
``SEEDS="0 1 2" bash tools/official/run_inr.sh ...`` writes them) go under "<iterations> iterations, seeds 0 1 2":
each side's mean and standard deviation over the seeds and its per-seed values; the gap is that of the means.
"""
import json
import re
import sys
from pathlib import Path

import numpy as np

SIDE = (
    "psnr",
    "iterations",
    "official_iterations",
    "seed",
    "train_seconds",
    "recipe",
    "notes",
    "repo_commit",
    "machine",
    "command",
)


def ours(path: Path) -> dict | None:
    if not path.is_file():
        return None
    r = json.loads(path.read_text())
    return {
        "psnr": r["metrics"]["psnr"],
        "iterations": r["iterations"],
        "seed": r["seed"],
        "train_seconds": r["train_seconds"],
        "command": "python -m inr_recover.cli.main " + r["command"].split(" ", 1)[1],
    }


def over_seeds(runs: list[dict]) -> dict:
    """One side of several seeds: the first run's record with the mean PSNR, its std and the per-seed values."""
    psnr = [r["psnr"] for r in runs]
    return {
        **runs[0],
        "psnr": float(np.mean(psnr)),
        "psnr_std": float(np.std(psnr, ddof=1)),
        "per_seed": {str(r["seed"]): r["psnr"] for r in runs},
        "seed": [r["seed"] for r in runs],
    }


def collect(out_dir: Path) -> dict:
    """``{key: {obs: {method: row}}}`` of the runs in ``out_dir`` (module doc)."""
    groups = {}
    for off in sorted((out_dir / "official").glob("*/*.json")):
        m = re.fullmatch(r"(.+?)(?:_s(\d+))?", off.stem)
        o = json.loads(off.read_text())
        groups.setdefault((off.parent.name, m.group(1), m.group(2) is not None), []).append(
            ({k: o[k] for k in SIDE}, ours(out_dir / "ours" / off.parent.name / off.stem / "results.json"))
        )
    keyed = {}
    for (obs, method, seeded), runs in groups.items():
        official = [r[0] for r in runs]
        row = {"official": over_seeds(official) if seeded else official[0]}
        if all(r[1] is not None for r in runs):
            row["ours"] = over_seeds([r[1] for r in runs]) if seeded else runs[0][1]
            row["gap_db"] = row["ours"]["psnr"] - row["official"]["psnr"]
        seeds = " ".join(str(s) for s in row["official"]["seed"]) if seeded else None
        key = f"{official[0]['iterations']} iterations, " + (
            f"seeds {seeds}" if seeded else f"seed {official[0]['seed']}"
        )
        keyed.setdefault(key, {}).setdefault(obs, {})[method] = row
    return keyed


def merge(merged: dict, keyed: dict, label: str = "") -> dict:
    """``merged`` with the rows of ``keyed`` (:func:`collect`) under their keys + ``label``: per observation and
    method, a new row replaces the old one and the other rows stay."""
    for key, rows in keyed.items():
        for obs, methods in rows.items():
            merged.setdefault(key + label, {}).setdefault(obs, {}).update(methods)
    return merged


if __name__ == "__main__":
    out_dir, dest = Path(sys.argv[1]), Path(sys.argv[2])
    label = f", {sys.argv[3]}" if len(sys.argv) > 3 else ""
    keyed = collect(out_dir)
    merged = merge(json.loads(dest.read_text()) if dest.is_file() else {}, keyed, label)
    for key, rows in keyed.items():
        print(key + label)
        for obs, methods in rows.items():
            print(" ", obs)
            for m, row in methods.items():
                mine = row.get("ours", {}).get("psnr", float("nan"))
                print(
                    f"    {m:14s} official {row['official']['psnr']:7.3f}  ours {mine:7.3f}  gap "
                    f"{row.get('gap_db', float('nan')):+6.2f} dB"
                )
    dest.write_text(json.dumps(merged, indent=2) + "\n")
