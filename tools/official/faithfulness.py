"""README "Faithfulness": the side-by-side table (this runner vs the official code on identical observations) as
Markdown, from tools/official/results_inr.json and results_tensor.json.

    python tools/official/faithfulness.py

INR peers: the runs keyed "..., protocol=official" (this runner's side under its default protocol=official, the
method's recipe) where they exist; any other method's row comes from the earlier run (its key is printed, marked
"before protocol"). Tensor methods: results_tensor.json (mean over its seeds). Gap = ours - official (dB); the bar
is gap >= -0.5 dB.
"""
import json
from pathlib import Path

HERE = Path(__file__).parent
OBS = {"cloth64_random0.1": "CAVE cloth 64x64x31, random 10%", "cloth64_scene3": "CAVE cloth 64x64x31, Scene 3 (impulses known)",
       "/work/official/obs/cloth128_random0.1": "CAVE cloth 128x128x31, random 10%",
       "/work/official/obs/cloth128_scene3": "CAVE cloth 128x128x31, Scene 3 (impulses known)"}


def inr_rows():
    runs = json.loads((HERE / "results_inr.json").read_text())
    rows = {}
    for key in sorted(runs, key=lambda k: "protocol=official" in k):  # protocol runs last: they win
        iterations = int(key.split()[0])
        for obs, methods in runs[key].items():
            for method, r in methods.items():
                if "ours" not in r:
                    continue
                note = "" if "protocol=official" in key else " (before protocol)"
                rows[(obs, method, iterations)] = (method + note, OBS.get(obs, obs), iterations, r["ours"]["psnr"],
                                                   r["official"]["psnr"], r["ours"]["command"])
    return [rows[k] for k in sorted(rows)]


def tensor_rows():
    t = json.loads((HERE / "results_tensor.json").read_text())
    return [(f"{r['method']} ({r['task']}, seeds {r['seeds']})", OBS.get(r["observation"], r["observation"]), r["iterations"],
             r["ours"]["psnr_mean"], r["official"]["psnr_mean"], r["ours"]["commands"][0]) for r in t["runs"]]


def main():
    print("| method | observation | iterations | ours | official | gap | command (ours) |")
    print("|---|---|--:|--:|--:|--:|---|")
    for method, obs, it, ours, off, cmd in inr_rows() + tensor_rows():
        gap = round(ours - off, 2) + 0.0  # no "-0.00"
        mark = f"**{gap:+.2f}**" if gap < -0.5 else f"{gap:+.2f}"
        print(f"| {method} | {obs} | {it} | {ours:.2f} | {off:.2f} | {mark} | `{cmd}` |")


if __name__ == "__main__":
    main()
