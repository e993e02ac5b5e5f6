"""``inr-recover-summary DIR``: every job's ``results.json`` under DIR -> CSV, a paper-style Markdown table, a plot.

Layout of the table (as the paper's Tables 2-4): one row per method, one column group per dataset x degradation,
each with PSNR / SSIM / LPIPS (NRMSE / R² for point data) as ``mean ± std`` over the seeds (population std,
``numpy.std``; the number of seeds is in ``summary.csv``), the best value of each column in bold (highest
PSNR/SSIM/R², lowest LPIPS/NRMSE). A second table, time to
quality, gives per method and column the mean training seconds to the selected iteration (what the honest headline
cost; ``results.json`` ``seconds_to_selected``), the mean total training seconds, and the mean selected iteration.

A *method* is the model name plus every override that varies across the sweep other than data, degradation and
seed (e.g. ``choir (model.chs=false, model.gamma=0.25)`` in the ablation), so a grid over hyper-parameters gets
one row per setting. Jobs whose ``results.json`` is missing or not ``complete`` are counted, never averaged.

Files written into DIR (or ``--out``): ``summary_runs.csv`` (one line per job), ``summary.csv`` (mean, std, n per
method x data x degradation x metric), ``summary.md``, and ``summary_heatmap.png`` (mean PSNR over the two
numeric sweep parameters, depth x learning rate when swept as in the paper's Figure 1) when such a pair exists.

The papers' own figures (``paper_figures.csv``: the CHOIR paper's Tables 2 and 3 and FINER++'s Table 2, extracted by
``tools/paper/choir_tables.py`` and ``tools/paper/finerpp_table2.py``, each row citing paper, table, dataset and
method) stand next to ours: a "paper PSNR" (or "paper IoU", "paper Chamfer") column beside each dataset x degradation
column that has one, and a ``paper`` column in ``summary.csv``, matched by data config name, degradation config name
and method (a method with sweep settings in its name matches nothing). A shape's figures stand beside ours only when
our runs computed them the same way (``metrics.shape``, :func:`comparable`): FINER++'s beside ``metrics.shape=finer``.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from inr_recover.measure.metrics import METRICS
from inr_recover.run.files import atomic_path

log = logging.getLogger("inr_recover")

COLUMNS = [name for name, m in METRICS.items() if m.column]  # the metrics of the tables (one table: METRICS)
RECORDED = [name for name, m in METRICS.items() if m.recorded]  # and of records.csv
TIMES = ("seconds_to_selected", "train_seconds", "selected_iteration")  # time to quality, averaged like the metrics
NOT_METHOD = ("data", "degrade", "seed", "hydra", "progress", "device", "checkpoint")
HEATMAP_PAIRS = [("model.depth", "optim.lr")]  # preferred (rows, columns) when swept
PAPER = Path(__file__).resolve().parents[1] / "paper_figures.csv"
PAPER_METRICS = ("psnr", "iou", "chamfer")  # the headline metrics shown with the paper's figure beside ours


def paper_figures(path: Path = PAPER, conventions: bool = False) -> dict:
    """{(data, degrade, method): {metric: value}} from the paper's tables (module doc); a row's ``data`` lists every
    data config name that loads that tensor; with ``conventions``, the value is ``(figures, convention)``: the way a
    shape's figures were computed (``metrics.shape``; empty for images)."""
    out = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            figures = {m: float(row[m]) for m in COLUMNS if row.get(m)}
            for data in row["data"].split():
                out[(data, row["degrade"], row["method"])] = (figures, row["convention"]) if conventions else figures
    return out


def comparable(records: list[dict], path: Path = PAPER) -> dict:
    """The paper's figures that may stand beside ours: a figure computed in a convention (FINER++'s IoU and Chamfer,
    by FINER's code) only where every run of that data, degradation and method was scored in the same one (its
    ``metrics.convention``), never beside another quantity of the same name."""
    ours = defaultdict(set)
    for r in records:
        ours[(r["data"], r["degrade"], r["method"])].add(r["convention"])
    return {k: figures for k, (figures, convention) in paper_figures(path, conventions=True).items()
            if not convention or ours.get(k, {convention}) == {convention}}


def _value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def _overrides(job: Path) -> dict:
    """The job's command-line overrides (``.hydra/overrides.yaml``) as {key: value}."""
    path = job / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return {}
    from omegaconf import OmegaConf

    out = {}
    for item in OmegaConf.to_container(OmegaConf.load(path)) or []:
        key, _, val = str(item).partition("=")
        out[key.lstrip("+~")] = _value(val)
    return out


def collect(root: str | Path) -> tuple[list[dict], list[str]]:
    """(one record per job with a results.json, the sweep keys that vary across the jobs)."""
    root = Path(root)
    records = []
    natural = lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(p))]  # noqa: E731  job 2 before 10
    for res in sorted(root.rglob("results.json"), key=natural):
        r = json.loads(res.read_text())
        records.append(
            {
                "job": str(res.parent.relative_to(root)) or ".",
                "status": r.get("status"),
                "model": r["model"]["name"],
                "data": r["data"]["name"],
                "degrade": r["degrade"]["name"],
                "seed": r.get("seed"),
                "iterations": r.get("iterations"),
                "train_seconds": r.get("train_seconds"),
                "seconds_to_selected": r.get("seconds_to_selected"),
                "selected_iteration": (r.get("selection") or {}).get("iteration"),
                "convention": (r.get("metrics") or {}).get("convention"),
                "stopped_early_at": (r.get("selection") or {}).get("stopped_early_at"),
                **{m: (r.get("metrics") or {}).get(m) for m in RECORDED},
                "process": r.get("process") or {},
                "overrides": _overrides(res.parent),
            }
        )
    keys = sorted({k for r in records for k in r["overrides"]})
    varying = [
        k
        for k in keys
        if k.split(".")[0] not in NOT_METHOD
        and k != "model"
        and len({json.dumps(r["overrides"].get(k)) for r in records}) > 1
    ]
    for r in records:
        setting = ", ".join(f"{k}={r['overrides'].get(k)}" for k in varying)
        r["method"] = r["model"] + (f" ({setting})" if setting else "")
    return records, varying


def aggregate(records: list[dict]) -> dict:
    """{(method, data, degrade): {metric or time: (mean, std, n)}} over the complete jobs (their seeds)."""
    groups = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r["status"] != "complete":
            continue
        for m in (*COLUMNS, *TIMES):
            if r[m] is not None:
                groups[(r["method"], r["data"], r["degrade"])][m].append(r[m])
    return {k: {m: (float(np.mean(v)), float(np.std(v)), len(v)) for m, v in g.items()} for k, g in groups.items()}


def markdown(agg: dict, n_incomplete: int = 0, paper: dict | None = None) -> str:
    """The paper-style table; ``paper`` ({(data, degrade, method): {metric: value}}) adds a "paper <metric>" column
    beside each column of a :data:`PAPER_METRICS` metric that has a paper figure for one of the methods."""
    paper = paper or {}
    methods = list(dict.fromkeys(k[0] for k in agg))
    columns = sorted({(k[1], k[2]) for k in agg})
    metrics = [m for m in COLUMNS if any(m in v for v in agg.values())]
    cited = {
        (col, m) for col in columns for m in PAPER_METRICS if any(m in paper.get((*col, me), {}) for me in methods)
    }
    best = {}
    for col in columns:
        for m in metrics:
            vals = [agg[(me, *col)][m][0] for me in methods if m in agg.get((me, *col), {})]
            if vals:
                best[(col, m)] = METRICS[m].better(vals)
    head = ["method"] + [
        h
        for d, g in columns
        for m in metrics
        for h in [f"{d} · {g} · {METRICS[m].header} {'↑' if METRICS[m].better is max else '↓'}"]
        + ([f"{d} · {g} · paper {METRICS[m].header}"] if ((d, g), m) in cited else [])
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join([":--"] + ["--:"] * (len(head) - 1)) + "|"]
    for me in methods:
        cells = [me]
        for col in columns:
            for m in metrics:
                if m not in agg.get((me, *col), {}):
                    cells.append("–")
                else:
                    mean, std, n = agg[(me, *col)][m]
                    p = METRICS[m].format
                    s = f"{mean:{p}}" + (f" ± {std:{p}}" if n > 1 else "")
                    cells.append(f"**{s}**" if math.isclose(mean, best[(col, m)]) else s)
                if (col, m) in cited:
                    fig = paper.get((*col, me), {}).get(m)
                    cells.append("–" if fig is None else f"{fig:{METRICS[m].format}}")
        lines.append("| " + " | ".join(cells) + " |")
    n = max((v[m][2] for v in agg.values() for m in v), default=0)
    note = f"\nmean ± std over seeds (up to {n} per cell); best per column in bold."
    if cited:
        note += " paper: the paper's own figure (inr_recover/paper_figures.csv cites paper, table and row)."
    if n_incomplete:
        note += f" {n_incomplete} job(s) without complete results are not included."
    return "\n".join(lines) + "\n" + note + "\n" + time_to_quality(agg, methods, columns)


def stamp(records: list[dict], command: str) -> str:
    """Where a table's numbers came from: the command that made it, the commits of the source its runs used, their
    machines and the dates they finished (from each run's ``results.json`` ``process``)."""
    done = [r["process"] for r in records if r["status"] == "complete"]
    commits = sorted({str(p.get("commit") or "unknown (an installed package)") for p in done})
    machines = sorted(
        {
            f"{(p.get('machine') or {}).get('cpu_cores', '?')} CPU cores, "
            + ((p.get("machine") or {}).get("gpu") or "no GPU")
            for p in done
            if p.get("machine")
        }
    )
    days = sorted({time.strftime("%Y-%m-%d", time.gmtime(p["finished_unix"])) for p in done if p.get("finished_unix")})
    when = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}" if days else "unknown"
    return (
        f"Stamp: `{command}` · commit {', '.join(commits) or 'unknown'} · {'; '.join(machines) or 'machine unknown'}"
        f" · {when} (UTC)."
    )


def time_to_quality(agg: dict, methods: list, columns: list) -> str:
    """The time-to-quality table: per method and column, ``seconds to the selected iteration / total seconds
    (selected iteration)``, means over the seeds; empty when no job recorded its seconds to the selected iteration."""
    if not any("seconds_to_selected" in v for v in agg.values()):
        return ""
    lines = [
        "",
        "Time to quality: training seconds to the selected iteration / in total (selected iteration), mean over seeds.",
        "",
        "| method | " + " | ".join(f"{d} · {g}" for d, g in columns) + " |",
        "|:--|" + "--:|" * len(columns),
    ]
    for me in methods:
        cells = []
        for col in columns:
            v = agg.get((me, *col), {})
            cells.append(
                f"{v['seconds_to_selected'][0]:.1f} / {v['train_seconds'][0]:.1f} s ({v['selected_iteration'][0]:.0f})"
                if all(t in v for t in TIMES)
                else "–"
            )
        lines.append(f"| {me} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def heatmap(records: list[dict], varying: list[str], path: Path) -> Path | None:
    """Mean PSNR over the two numeric sweep parameters (preferring depth x lr), one panel per model (averaged over
    seeds and any other swept value); None when there is no such pair."""
    numeric = [
        k
        for k in varying
        if all(
            isinstance(r["overrides"].get(k), (int, float)) and not isinstance(r["overrides"].get(k), bool)
            for r in records
        )
    ]
    pair = next((p for p in HEATMAP_PAIRS if set(p) <= set(numeric)), tuple(numeric[:2]) if len(numeric) >= 2 else None)
    done = [r for r in records if r["status"] == "complete" and r["psnr"] is not None]
    if pair is None or not done:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ys, xs = (sorted({r["overrides"][k] for r in done}) for k in pair)
    models = list(dict.fromkeys(r["model"] for r in done))
    fig, axes = plt.subplots(
        1, len(models), figsize=(len(models) * (1.2 * len(xs) + 2.8), 0.8 * len(ys) + 1.8), squeeze=False
    )
    for ax, model in zip(axes[0], models):
        cells = defaultdict(list)
        for r in done:
            if r["model"] == model:
                cells[(ys.index(r["overrides"][pair[0]]), xs.index(r["overrides"][pair[1]]))].append(r["psnr"])
        cells = {ij: float(np.mean(v)) for ij, v in cells.items()}
        grid = np.full((len(ys), len(xs)), np.nan)
        for (i, j), v in cells.items():
            grid[i, j] = v
        im = ax.imshow(grid, cmap="viridis", origin="lower", aspect="auto")
        ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
        ax.set_yticks(range(len(ys)), [f"{y:g}" for y in ys])
        ax.set_xlabel(pair[1])
        ax.set_ylabel(pair[0])
        ax.set_title(model)
        for (i, j), v in cells.items():
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", color="w", fontsize=8)
        fig.colorbar(im, ax=ax, label="PSNR (dB), mean over seeds")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def _write_csv(path: Path, header: list[str], rows) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def summarize(root: str | Path, out: str | Path | None = None) -> dict:
    """Write the summary files of the sweep under ``root``; returns {name: path}. Raises FileNotFoundError when
    there is no results.json under ``root``."""
    root = Path(root)
    out = Path(out) if out is not None else root
    records, varying = collect(root)
    if not records:
        raise FileNotFoundError(f"no results.json under {root}")
    agg = aggregate(records)
    paper = comparable(records)
    cols = [
        "job",
        "status",
        "method",
        "model",
        "data",
        "degrade",
        "seed",
        *RECORDED,
        "iterations",
        "train_seconds",
        "seconds_to_selected",
        "selected_iteration",
        "stopped_early_at",
    ]
    files = {"runs": out / "summary_runs.csv", "csv": out / "summary.csv", "md": out / "summary.md"}
    _write_csv(
        files["runs"],
        cols + varying,
        ([r[c] for c in cols] + [r["overrides"].get(k) for k in varying] for r in records),
    )
    _write_csv(
        files["csv"],
        ["method", "data", "degrade", "metric", "mean", "std", "n", "paper"],
        ([*k, m, *v, paper.get((k[1], k[2], k[0]), {}).get(m)] for k, g in agg.items() for m, v in g.items()),
    )
    n_incomplete = sum(r["status"] != "complete" for r in records)
    with atomic_path(files["md"]) as tmp:
        Path(tmp).write_text(
            markdown(agg, n_incomplete, paper) + "\n" + stamp(records, f"inr-recover-summary {root}") + "\n",
            encoding="utf-8",
        )
    png = heatmap(records, varying, out / "summary_heatmap.png")
    if png is not None:
        files["heatmap"] = png
    return files


try:  # the Hydra callback that runs the summary at the end of a multirun (conf/config.yaml hydra.callbacks)
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - hydra is a dependency
    Callback = object


class SummaryCallback(Callback):
    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = config.hydra.sweep.dir
        try:
            files = summarize(sweep_dir)
        except Exception as e:  # a failed summary must not fail a finished sweep; `inr-recover-summary` reruns it
            log.warning("summary of %s failed: %s", sweep_dir, e)
            return
        log.info("summary: %s", ", ".join(str(p) for p in files.values()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="inr-recover-summary", description=__doc__.splitlines()[0])
    ap.add_argument("dir", help="a sweep (multirun) directory, or any directory holding run folders")
    ap.add_argument("--out", default=None, help="where to write the summary files (default: DIR)")
    args = ap.parse_args(argv)
    try:
        files = summarize(args.dir, args.out)
    except FileNotFoundError as e:
        print(f"inr-recover-summary: error: {e}", file=sys.stderr)
        return 2
    print(Path(files["md"]).read_text(encoding="utf-8"))
    for p in files.values():
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
