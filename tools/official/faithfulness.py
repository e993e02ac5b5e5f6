"""docs/results.md "Faithfulness": the side-by-side table (this runner vs the official code on identical observations)
as Markdown, from tools/official/results_inr.json and results_tensor.json.

    python tools/official/faithfulness.py            # the full table (docs/results.md)
    python tools/official/faithfulness.py --brief    # README's excerpt: the 200-iteration rows of one observation

INR peers: the runs keyed "..., protocol=official" (this runner's side under its default protocol=official, the
method's recipe) where they exist, and over them the runs of several seeds (keys "... seeds 0 1 2 ...": mean +- std
of each side, the gap of the means; a row whose per-seed gaps spread over more than 0.5 dB says so); any other
method's row comes from the earlier run (its key is printed, marked "before protocol"). Tensor methods:
results_tensor.json (mean +- std over its seeds). Gap = ours - official (dB); the bar is gap >= -0.5 dB.
Commands are printed with placeholders for the directories of whoever ran them: ``$OFFICIAL`` (the official
checkouts), ``$OBS`` (the saved observations), ``$OUT`` (the harness's output directory).
"""

import json
import re
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
OBS = {
    "cloth64_random0.1": "CAVE cloth 64x64x31, random 10%",
    "cloth64_scene3": "CAVE cloth 64x64x31, Scene 3 (impulses known)",
    "toy64_random0.1": "CAVE chart and stuffed toy 64x64x31, random 10%",
    "cloth128_random0.1": "CAVE cloth 128x128x31, random 10%",
    "cloth128_scene3": "CAVE cloth 128x128x31, Scene 3 (impulses known)",
}
PLACES = (
    (re.compile(r"(--repo )\S*/"), r"\1$OFFICIAL/"),  # --repo DIR/<checkout>
    (re.compile(r"(hydra\.run\.dir=)\S*/(ours/)"), r"\1$OUT/\2"),  # the harness's OUT/ours/...
    (re.compile(r"(?<=[= ])/\S*/(?=(cloth|toy)\w*[\d.]+/|cloth\d+_\w+\b)"), "$OBS/"),
)  # OBS/<observation>


def portable(cmd: str) -> str:
    """``cmd`` with the directories of the machine that ran it replaced by placeholders (module doc)."""
    for pattern, repl in PLACES:
        cmd = pattern.sub(repl, cmd)
    return cmd


def observation(name: str) -> str:
    return OBS.get(Path(name).name, Path(name).name)


def side(r: dict) -> str:
    """One side's PSNR: the value, or mean +- std over its seeds (:func:`spread`)."""
    return spread(list(r["per_seed"].values())) if "per_seed" in r else f"{r['psnr']:.2f}"


def note(key: str, r: dict) -> str:
    """What the method cell adds: the seeds, a per-seed spread over 0.5 dB, or that the run predates protocols."""
    if "per_seed" not in r["ours"]:
        return "" if "protocol=official" in key else " (before protocol)"
    gaps = [r["ours"]["per_seed"][s] - r["official"]["per_seed"][s] for s in r["ours"]["per_seed"]]
    spread = max(gaps) - min(gaps)
    return f" (seeds {', '.join(r['ours']['per_seed'])}" + (
        f"; per-seed gaps spread {spread:.2f} dB)" if spread > 0.5 else ")"
    )


def inr_rows():
    runs = json.loads((HERE / "results_inr.json").read_text())
    rows = {}
    for key in sorted(runs, key=lambda k: ("protocol=official" in k, "seeds" in k)):  # later wins: protocol, seeds
        iterations = int(key.split()[0])
        for obs, methods in runs[key].items():
            for method, r in methods.items():
                if "ours" not in r:
                    continue
                rows[(obs, method, iterations)] = (
                    method + note(key, r),
                    observation(obs),
                    iterations,
                    side(r["ours"]),
                    side(r["official"]),
                    r["gap_db"],
                    r["ours"]["command"],
                )
    return [rows[k] for k in sorted(rows)]


def spread(values: list) -> str:
    """Mean +- std (ddof 1) of one side's per-seed PSNRs, the mean alone for one seed."""
    return f"{np.mean(values):.2f}" + (f" ± {np.std(values, ddof=1):.2f}" if len(values) > 1 else "")


def tensor_rows():
    t = json.loads((HERE / "results_tensor.json").read_text())
    return [
        (
            f"{r['method']} ({r['task']}, seeds {', '.join(map(str, r['seeds']))})",
            observation(r["observation"]),
            r["iterations"],
            spread(r["ours"]["psnr"]),
            spread(r["official"]["psnr"]),
            r["ours"]["psnr_mean"] - r["official"]["psnr_mean"],
            r["ours"]["commands"][0],
        )
        for r in t["runs"]
    ]


def gap_cell(gap: float) -> str:
    gap = round(gap, 2) + 0.0  # no "-0.00"
    return f"**{gap:+.2f}**" if gap < -0.5 else f"{gap:+.2f}"


def main(brief: bool = False, observation_name: str = OBS["cloth64_random0.1"], iterations: int = 200):
    if brief:
        print("| method | ours | official | gap |")
        print("|---|--:|--:|--:|")
        for method, obs, it, ours, off, gap, _ in inr_rows():
            if obs == observation_name and it == iterations:
                print(f"| {method.split(' (')[0]} | {ours} | {off} | {gap_cell(gap)} |")
        return
    print("| method | observation | iterations | ours | official | gap | command (ours) |")
    print("|---|---|--:|--:|--:|--:|---|")
    for method, obs, it, ours, off, gap, cmd in inr_rows() + tensor_rows():
        print(f"| {method} | {obs} | {it} | {ours} | {off} | {gap_cell(gap)} | `{portable(cmd)}` |")


if __name__ == "__main__":
    import sys

    main(brief="--brief" in sys.argv)
