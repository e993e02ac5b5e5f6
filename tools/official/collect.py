"""Collect a run_inr.sh output directory into RESULTS.json under the key "<iterations> iterations, seed <seed>" (other
keys are kept): per observation and method, the official side (driver JSON), this runner's side (its results.json)
and the gap (ours - official, dB).

    python tools/official/collect.py OUT_DIR RESULTS.json [LABEL]

LABEL (e.g. "protocol=official") is appended to the key, so a rerun of this runner's side keeps the earlier rows.
"""
import json
import sys
from pathlib import Path

out_dir, dest = Path(sys.argv[1]), Path(sys.argv[2])
rows = {}
for off in sorted((out_dir / "official").glob("*/*.json")):
    obs, method = off.parent.name, off.stem
    o = json.loads(off.read_text())
    row = {"official": {k: o[k] for k in ("psnr", "iterations", "official_iterations", "seed", "train_seconds", "recipe",
                                          "notes", "repo_commit", "machine", "command")}}
    ours = out_dir / "ours" / obs / method / "results.json"
    if ours.is_file():
        r = json.loads(ours.read_text())
        row["ours"] = {"psnr": r["metrics"]["psnr"], "iterations": r["iterations"], "seed": r["seed"],
                       "train_seconds": r["train_seconds"], "command": "python -m inr_recover.cli " + r["command"].split(" ", 1)[1]}
        row["gap_db"] = row["ours"]["psnr"] - row["official"]["psnr"]
    rows.setdefault(obs, {})[method] = row
first = next(iter(next(iter(rows.values())).values()))["official"]
merged = json.loads(dest.read_text()) if dest.is_file() else {}
label = f", {sys.argv[3]}" if len(sys.argv) > 3 else ""
merged[f"{first['iterations']} iterations, seed {first['seed']}{label}"] = rows
dest.write_text(json.dumps(merged, indent=2) + "\n")
for obs, methods in rows.items():
    print(obs)
    for m, row in methods.items():
        ours = row.get("ours", {}).get("psnr", float("nan"))
        print(f"  {m:14s} official {row['official']['psnr']:7.3f}  ours {ours:7.3f}  gap {row.get('gap_db', float('nan')):+6.2f} dB")
