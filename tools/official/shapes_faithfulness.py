"""docs/results.md "Faithfulness" for shapes: this runner's ``experiment=finerpp_sdf`` against the FINER fork's own SDF
training (``finer_sdf.py``) on the same oriented cloud, both scored by the same code in FINER's convention.

    python tools/official/shapes_faithfulness.py collect OUT_DIR   # run_sdf.sh's runs, merged into results_sdf.json
    python tools/official/shapes_faithfulness.py                   # the Markdown table from results_sdf.json

Each row is one shape and backbone: IoU (FINER's: 128 points per axis of [-1, 1]^3, inside by each mesh) and Chamfer
(FINER's: squared, mean per direction, summed, 300k samples), mean +- std (ddof 1) over the seeds of each side; the
IoU gap is ours - official, the Chamfer gap ours / official - 1. Bar: |IoU gap| <= 0.005 and |Chamfer gap| <= 15%.
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
RESULTS = HERE / "results_sdf.json"
IOU_BAR, CHAMFER_BAR = 0.005, 0.15


def collect(out: Path) -> list[dict]:
    """One record per run directory of ``out`` holding both sides (``results.json`` and ``official.json``)."""
    runs = []
    for off in sorted(out.glob("*/*/*/official.json")):
        ours, official = json.loads((off.parent / "results.json").read_text()), json.loads(off.read_text())
        runs.append({
            "shape": off.parents[2].name, "model": official["model"], "seed": official["seed"],
            "iterations": official["iterations"],
            "ours": {"iou": ours["metrics"]["iou"], "chamfer": ours["metrics"]["chamfer"],
                     "floor": ours["metrics"]["floor"]["chamfer"], "train_seconds": ours["train_seconds"],
                     "commit": ours["process"]["commit"], "command": ours["command"]},
            "official": {"iou": official["metrics"]["iou"], "chamfer": official["metrics"]["chamfer"],
                         "train_seconds": official["train_seconds"], "commit": official["repo_commit"],
                         "command": official["command"]},
            "machine": official["machine"],
        })
    return runs


def mean_std(values: list, fmt: str) -> str:
    return format(np.mean(values), fmt) + (f" ± {np.std(values, ddof=1):{fmt}}" if len(values) > 1 else "")


def rows(runs: list[dict]) -> list[tuple]:
    """(shape, model, seeds, iterations, IoU ours, IoU official, IoU gap, Chamfer ours, official, gap, holds)."""
    groups = defaultdict(list)
    for r in runs:
        groups[(r["shape"], r["model"], r["iterations"])].append(r)
    out = []
    for (shape, model, iterations), rs in sorted(groups.items()):
        side = {s: {m: [r[s][m] for r in rs] for m in ("iou", "chamfer")} for s in ("ours", "official")}
        iou_gap = np.mean(side["ours"]["iou"]) - np.mean(side["official"]["iou"])
        chamfer_gap = np.mean(side["ours"]["chamfer"]) / np.mean(side["official"]["chamfer"]) - 1
        out.append((
            shape, model, sorted(r["seed"] for r in rs), iterations,
            mean_std(side["ours"]["iou"], ".4f"), mean_std(side["official"]["iou"], ".4f"), iou_gap,
            mean_std(side["ours"]["chamfer"], ".2e"), mean_std(side["official"]["chamfer"], ".2e"), chamfer_gap,
            abs(iou_gap) <= IOU_BAR and abs(chamfer_gap) <= CHAMFER_BAR,
        ))
    return out


def table(runs: list[dict]) -> str:
    head = "shape | method | seeds | iterations | IoU ours | IoU official | gap | Chamfer ours | Chamfer official | gap"
    lines = [f"| {head} | bar |", "|---|---|---|--:|--:|--:|--:|--:|--:|--:|---|"]
    for shape, model, seeds, it, iou_o, iou_f, iou_gap, ch_o, ch_f, ch_gap, holds in rows(runs):
        lines.append(f"| {shape} | {model} | {', '.join(map(str, seeds))} | {it} | {iou_o} | {iou_f} | "
                     f"{iou_gap + 0.0:+.4f} | {ch_o} | {ch_f} | {ch_gap:+.0%} | {'holds' if holds else '**misses**'} |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if argv[:1] == ["collect"]:
        runs = collect(Path(argv[1]))
        key = lambda r: (r["shape"], r["model"], r["seed"], r["iterations"])  # noqa: E731
        merged = {key(r): r for r in json.loads(RESULTS.read_text())} if RESULTS.exists() else {}
        merged.update({key(r): r for r in runs})  # a run made again replaces the stored one
        RESULTS.write_text(json.dumps(sorted(merged.values(), key=key), indent=1) + "\n")
        print(f"{len(runs)} runs from {argv[1]} -> {RESULTS} ({len(merged)} in all)")
    print(table(json.loads(RESULTS.read_text())))


if __name__ == "__main__":
    main(sys.argv[1:])
