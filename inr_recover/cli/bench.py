"""``inr-recover-bench``: time each method's training step and a short full run, plain vs optimised.

Every measurement runs in a fresh worker process (so allocator settings and caches do not leak between
them): ``plain`` is eager PyTorch with the allocator as the OS sets it, ``fast`` is what ``inr-recover``
runs (glibc allocator tuned, see :mod:`inr_recover.engine.runtime`; ``--compile`` adds ``torch.compile``).
Prints median [min, max] over repeats and the plain/fast ratio, and writes everything as JSON.

``--batched 1,5,20``: instead, K seeds of each method trained ``separate`` (one after another, as K jobs) vs
``batched`` (one vmapped group, :class:`inr_recover.engine.batched.Group`, as ``batch=seeds`` runs them): seconds per
iteration of all K (wall clock, and the process's CPU time, steadier on a shared machine), peak memory, and the
batched/separate ratio of each repeat, the two modes interleaved.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SHAPES = {  # name: (data overrides, description)
    "synthetic-64": (["data=synthetic", "data.shape=[64,64,31]"], "synthetic 64x64x31"),
    "synthetic-256": (["data=synthetic", "data.shape=[256,256,31]"], "synthetic 256x256x31 (the paper's CAVE size)"),
    "cave_cloth": (["data=cave_cloth"], "CAVE cloth 256x256x31 (real, ../shared/data)"),
    "astronaut": (["data=astronaut", "data.resize=[256,256]"], "astronaut 256x256x3 (real, scikit-image)"),
}


def _compose(overrides):
    from hydra import compose, initialize_config_dir

    from inr_recover.config.paths import config_dir

    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def worker(args) -> dict:
    """One process: load, degrade and build as a run does, then time ``steps`` steps of the fit (:meth:`Trainer.step`:
    forward, the task's loss, backward, clipping, the optimiser and the schedule) after ``warmup``."""
    import torch

    from inr_recover.engine.fit import Trainer
    from inr_recover.engine.optim import Optim
    from inr_recover.engine.runtime import peak_memory_mb, tune_allocator
    from inr_recover.engine.select import Final
    from inr_recover.run.experiment import Experiment

    if args.mode == "fast":
        tune_allocator()
    cfg = _compose([f"model={args.method}", *SHAPES[args.shape][0], *args.override])
    device = torch.device(args.device)
    exp = Experiment(cfg, device)
    obs, model = exp.obs, exp.build()
    if args.compile and args.mode == "fast":
        model.training_forward = torch.compile(model.training_forward)
    trainer = Trainer(model, obs, exp.task, Optim.from_config(cfg), Final(exp.task, obs, 0), device=device)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        trainer.step()
    sync()
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        trainer.step()
        sync()
        times.append(time.perf_counter() - t)
    mem = peak_memory_mb(device)
    return {
        "step_seconds": times,
        "params": sum(p.numel() for p in model.parameters()),
        "grid": list(obs.grid),
        "channels": obs.channels,
        "peak_rss_mb": mem.get("host"),
        **({"peak_cuda_mb": mem["cuda"]} if "cuda" in mem else {}),
    }


def group_worker(args) -> dict:
    """One process: K = ``members`` seeds built as ``batch=seeds`` builds them
    (:func:`inr_recover.run.experiment.prepare`,
    :meth:`Experiment.trainer`), then ``steps`` iterations of all K after ``warmup``: ``separate`` steps each member
    alone, one member after another; ``batched`` steps them together (:meth:`inr_recover.engine.batched.Group.step`)."""
    import tempfile

    import torch

    from inr_recover.engine.batched import Group
    from inr_recover.engine.runtime import peak_memory_mb, tune_allocator
    from inr_recover.run.experiment import prepare

    tune_allocator()
    with tempfile.TemporaryDirectory() as tmp:
        overrides = [
            f"model={args.method}",
            *SHAPES[args.shape][0],
            *args.override,
            f"device={args.device}",
            "checkpoint.resume=false",
            "select=final",
        ]
        exps = [prepare(_compose([*overrides, f"seed={k}"]), Path(tmp) / str(k)) for k in range(args.members)]
        trainers = [exp.trainer() for exp in exps]
        device = trainers[0].device
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        if args.mode == "batched":
            group = Group(trainers)
            steps = [lambda: group.step(trainers)]
        else:
            steps = [t.step for t in trainers]
        seconds = cpu = 0.0
        for step in steps:
            for _ in range(args.warmup):
                step()
            sync()
            t, c = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                step()
            sync()
            seconds, cpu = seconds + time.perf_counter() - t, cpu + time.process_time() - c
    mem = peak_memory_mb(device)
    return {
        "iteration_seconds": seconds / args.steps,
        "iteration_cpu_seconds": cpu / args.steps,
        "params": sum(p.numel() for p in trainers[0].model.parameters()),
        "peak_rss_mb": mem.get("host"),
        **({"peak_cuda_mb": mem["cuda"]} if "cuda" in mem else {}),
    }


def compare_batched(args) -> list[dict]:
    """``--batched``: separate vs batched for each K (module doc); prints one line per method x shape x K."""
    rows = []
    print(
        f"{'method':<10} {'shape':<14} {'K':>3} {'separate s/it':>14} {'batched s/it':>13} "
        f"{'batched/separate wall (median [min, max])':>38} {'cpu time':>16}"
    )
    for method in args.methods.split(","):
        for shape in args.shapes.split(","):
            for k in map(int, args.batched.split(",")):
                runs = {"separate": [], "batched": []}
                for _ in range(args.repeats):  # interleaved: a load change on the machine hits both modes
                    for mode in runs:
                        runs[mode].append(run_worker(method, shape, mode, args, members=k))
                errs = [r["error"] for rs in runs.values() for r in rs if "error" in r]
                row = {"method": method, "shape": shape, "members": k, "description": SHAPES[shape][1]}
                if errs:
                    row["error"] = errs[0]
                    print(f"{method:<10} {shape:<14} {k:>3} error: {errs[0]}")
                    rows.append(row)
                    continue
                for mode, rs in runs.items():
                    row[mode] = {
                        "iteration": summarise([r["iteration_seconds"] for r in rs]),
                        "params": rs[0]["params"],
                        **{m: max(r[m] for r in rs) for m in ("peak_rss_mb", "peak_cuda_mb") if m in rs[0]},
                    }
                for clock in ("iteration_seconds", "iteration_cpu_seconds"):
                    row[f"ratio_{clock}"] = summarise(
                        [b[clock] / s[clock] for s, b in zip(runs["separate"], runs["batched"])]
                    )
                ratio, cpu = row["ratio_iteration_seconds"], row["ratio_iteration_cpu_seconds"]
                print(
                    f"{method:<10} {shape:<14} {k:>3} {row['separate']['iteration']['median']:>14.4f} "
                    f"{row['batched']['iteration']['median']:>13.4f} {ratio['median']:>17.2f} [{ratio['min']:.2f}, "
                    f"{ratio['max']:.2f}]"
                    f" {cpu['median']:>9.2f} [{cpu['min']:.2f}, {cpu['max']:.2f}]"
                )
                rows.append(row)
    return rows


def run_worker(method, shape, mode, args, members: int | None = None) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "inr_recover.cli.bench",
        "--worker",
        "--method",
        method,
        "--shape",
        shape,
        "--mode",
        mode,
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--device",
        args.device,
    ]
    cmd += ["--members", str(members)] if members else []
    cmd += (["--compile"] if args.compile else []) + [a for o in args.override for a in ("--override", o)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["worker failed"])[-1]}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["process_seconds"] = time.perf_counter() - t
    return res


def summarise(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inr-recover-bench", description=__doc__.splitlines()[0])
    p.add_argument("--methods", default="choir", help="comma-separated model configs (conf/model/*.yaml)")
    p.add_argument("--shapes", default="synthetic-256", help=f"comma-separated, from: {', '.join(SHAPES)}")
    p.add_argument(
        "--modes", default="plain,fast", help="plain (eager, OS allocator) and/or fast (as inr-recover runs)"
    )
    p.add_argument("--steps", type=int, default=5, help="timed training steps per repeat")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="fresh worker processes per (method, shape, mode)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--compile", action="store_true", help="fast mode also wraps the forward in torch.compile")
    p.add_argument(
        "--override", action="append", default=[], help="extra Hydra override, e.g. model.width=64 (repeatable)"
    )
    p.add_argument("--smoke", action="store_true", help="tiny CI mode: synthetic-64, 1 step, 1 repeat")
    p.add_argument(
        "--batched", default=None, help="comma-separated K (e.g. 1,5,20): K seeds separate vs batched instead"
    )
    p.add_argument("--out", default="bench.json", help="JSON results file")
    p.add_argument("--members", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--method", help=argparse.SUPPRESS)
    p.add_argument("--shape", help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    return p


def compare_modes(args) -> list[dict]:
    """plain vs fast for each method x shape (module doc); prints one line per method x shape x mode."""
    modes, rows = args.modes.split(","), []
    print(f"{'method':<10} {'shape':<14} {'mode':<6} {'step s (median [min, max])':<30} {'plain/fast':>10}")
    for method in args.methods.split(","):
        for shape in args.shapes.split(","):
            row = {"method": method, "shape": shape, "description": SHAPES[shape][1]}
            for mode in modes:
                runs = [run_worker(method, shape, mode, args) for _ in range(args.repeats)]
                errs = [r["error"] for r in runs if "error" in r]
                if errs:
                    row[mode] = {"error": errs[0]}
                    print(f"{method:<10} {shape:<14} {mode:<6} error: {errs[0]}")
                    continue
                steps = [t for r in runs for t in r["step_seconds"]]
                row[mode] = {
                    "step": summarise(steps),
                    "params": runs[0]["params"],
                    **{k: max(r.get(k, 0) for r in runs) for k in ("peak_rss_mb", "peak_cuda_mb") if k in runs[0]},
                }
            if all(m in row and "step" in row[m] for m in ("plain", "fast")):
                row["ratio_plain_over_fast"] = row["plain"]["step"]["median"] / row["fast"]["step"]["median"]
            for mode in modes:
                if "step" in row.get(mode, {}):
                    s = row[mode]["step"]
                    ratio = (
                        f"{row['ratio_plain_over_fast']:.2f}x"
                        if mode == "fast" and "ratio_plain_over_fast" in row
                        else ""
                    )
                    print(
                        f"{method:<10} {shape:<14} {mode:<6} {s['median']:.4f} [{s['min']:.4f}, {s['max']:.4f}]{'':<8} "
                        f"{ratio:>10}"
                    )
            rows.append(row)
    return rows


def main(argv=None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(group_worker(args) if args.members else worker(args)))
        return 0
    if args.smoke:
        args.shapes, args.steps, args.warmup, args.repeats = "synthetic-64", 1, 1, 1
    for s in args.shapes.split(","):
        if s not in SHAPES:
            p.error(f"unknown shape '{s}' (choose from {', '.join(SHAPES)})")
    import platform

    import torch

    from inr_recover.run.files import write_json

    report = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "device": args.device,
            "threads": torch.get_num_threads(),
        },
        "settings": {k: v for k, v in vars(args).items() if k not in ("worker", "method", "shape", "mode")},
        "results": compare_batched(args) if args.batched else compare_modes(args),
    }
    write_json(Path(args.out), report)
    print(f"wrote {args.out}")
    return (
        0
        if all(
            "error" not in r and all("error" not in v for v in r.values() if isinstance(v, dict))
            for r in report["results"]
        )
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
