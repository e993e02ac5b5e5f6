"""FINER++ Table 2's SDF runs in the FINER fork's own code (liuzhen0212/FINER ``sdf/bacon``), scored by inr-recover's
``metrics.shape=finer`` on the shape an inr-recover run trained on.

The official side: ``dataio.MeshSDF`` reads the run's oriented cloud (``data.cloud``, an ``.xyz`` file), normalises it
and draws BACON's points at every step; the network is the one ``experiments/train_sdf.py`` ``init_model`` builds for
``--model_type`` with ``--hidden_size 256 --hidden_layers 2`` and the ``run_paper_*.sh`` options; the loop is
``training.train``'s (``training.py:178-310``): Adam (amsgrad but for WIRE), ``LambdaLR(lr_log_schedule(lr0=lr,
lrn=1e-4, nw=1))`` over ``--iterations``, the summed ``loss_functions.overfit_sdf``, ``clip_grad_norm_(max_norm=1)``,
one step per draw, with ``torch.manual_seed`` and ``np.random.seed`` set as ``train_sdf.py:110-112`` sets them. The
trained field is sampled on the grids of inr-recover's FINER convention and scored by the same code as the run
(``inr_recover.tasks.shapes.metrics``), against the run's truth mesh.

    python tools/shapes_cloud.py MESH CLOUD.xyz                  # an oriented cloud both sides train on
    inr-recover experiment=finerpp_sdf model=siren data=mesh data.path=MESH data.cloud=CLOUD.xyz \\
        optim.iterations=1000 data.mesh_resolution=256 hydra.run.dir=RUN
    python tools/official/finer_sdf.py --repo $OFF/FINER --obs RUN --model siren --iterations 1000 --out out.json

It needs, beside inr-recover's dependencies, what the fork imports: ``pykdtree``, ``configargparse`` and
``tensorboard`` (tools/official/README.md).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import import_repo, machine, repo_commit  # noqa: E402

SCRIPTS = {  # model: (--model_type, --lr, the run_paper_*.sh that sets them)
    "siren": ("siren", 1e-4, "run_paper_siren.sh"),
    "finer": ("finer", 1e-4, "run_paper_finer.sh"),
    "gauss": ("gauss", 1e-4, "run_paper_guass.sh"),
    "finer_gauss": ("gf", 1e-4, "run_paper_guass_finer.sh"),
    "finer_wavelet": ("wf", 1e-4, "run_paper_wire_finer.sh"),
    "wire": ("wire", 1e-4, "run_paper_wire.sh"),
    "pemlp": ("nerfpe", 5e-4, "run_paper_nerfpe.sh"),
}


def network(model_type: str):
    """The network ``train_sdf.py`` ``init_model`` builds for ``model_type`` (train_sdf.py:146-269), with the paper
    scripts' options: hidden size 256, 2 hidden layers, w0 30, FINER's fbs 1, FINER++ wavelet's fbs 1/sqrt(3)."""
    import modules
    import modules_finer_plus_plus as fpp

    common = {"in_features": 3, "out_features": 1, "hidden_layers": 2, "hidden_features": 256}
    if model_type == "siren":
        return modules.CoordinateNet(nl="sine", in_features=3, out_features=1, num_hidden_layers=2,
                                     hidden_features=256, w0=30, is_sdf=True)
    if model_type == "nerfpe":
        return modules.CoordinateNet(nl="relu", in_features=3, out_features=1, num_hidden_layers=2,
                                     hidden_features=256, is_sdf=True, pe_scale=5, nerfpe=True, use_sigmoid=False)
    if model_type == "wire":
        return modules.Wire(**common, first_omega_0=20, hidden_omega_0=20, scale=10, is_sdf=True)
    if model_type == "finer":
        return modules.FinerB(**common, first_omega_0=30, hidden_omega_0=30, first_bias_scale=1.0, is_sdf=True)
    if model_type == "gauss":
        return fpp.Gauss(**common, scale=30, is_sdf=True)
    if model_type == "gf":
        return fpp.GF(**common, scale=3, omega=10, init_method="sine", init_gain=1, fbs=1.0, is_sdf=True)
    return fpp.WF(**common, scale=2, omega_w=4, omega=5, init_method="sine", init_gain=1, fbs=1 / np.sqrt(3),
                  is_sdf=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--repo", required=True, help="your checkout of liuzhen0212/FINER (its sdf/bacon is imported)")
    p.add_argument("--obs", required=True, help="the inr-recover run directory (.hydra/config.yaml) to match")
    p.add_argument("--model", required=True, choices=sorted(SCRIPTS))
    p.add_argument("--iterations", type=int, required=True, help="training steps (the schedule spans them)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk", type=int, default=262144, help="points per forward pass at evaluation")
    p.add_argument("--out", required=True, help="JSON file to write")
    a = p.parse_args()
    import_repo(str(Path(a.repo) / "sdf" / "bacon"))
    import dataio
    import loss_functions
    import training
    from omegaconf import OmegaConf

    from inr_recover.config import instantiate
    from inr_recover.tasks.shapes.metrics import CONVENTIONS, grid_rows

    cfg = OmegaConf.load(Path(a.obs) / ".hydra" / "config.yaml")
    if cfg.data.get("cloud") is None or cfg.data.frame != "bacon":
        sys.exit(f"{a.obs}: the run must train on a cloud file in BACON's frame (data.cloud=FILE.xyz data.frame=bacon)")
    shape = instantiate(cfg.data, samples=1000)  # the truth, the frame and the grids; the pool is not used here
    model_type, lr, script = SCRIPTS[a.model]
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    data = dataio.MeshSDF(str(cfg.data.cloud), num_samples=int(cfg.batch_size), coarse_scale=cfg.data.coarse_scale,
                          fine_scale=cfg.data.fine_scale)
    model = network(model_type)
    optim = torch.optim.Adam(lr=lr, params=model.parameters(), amsgrad=model_type not in ("wire", "wf"))
    optim.param_groups[0]["lr"] = 1  # training.py:207-210: the schedule gives the lr itself
    schedule = partial(training.lr_log_schedule, num_steps=a.iterations, nw=1, lr0=lr, lrn=1e-4)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optim, lr_lambda=schedule)
    loss_fn = partial(loss_functions.overfit_sdf, coarse_loss_weight=cfg.data.coarse_weight)
    start = time.perf_counter()
    for _ in range(a.iterations):
        model_input, gt = data[0]  # the DataLoader's batch of one: a leading axis of 1
        losses = loss_fn(model({"coords": model_input["coords"][None]}), {"sdf": gt["sdf"][None]})
        loss = sum(v.mean() for v in losses.values())
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optim.step()
        scheduler.step()
    seconds = time.perf_counter() - start
    convention = CONVENTIONS[cfg.data.convention]
    volumes = {}
    with torch.no_grad():
        for name, axis in convention.grids(shape).items():
            n, ax = len(axis), torch.from_numpy(axis.astype(np.float32))
            out = [model({"coords": grid_rows(ax, i, min(i + a.chunk, n**3))[None]})["model_out"][0, :, 0]
                   for i in range(0, n**3, a.chunk)]
            volumes[name] = torch.cat(out).reshape(n, n, n).numpy()
    metrics = convention.score(volumes, shape, a.seed)
    record = {
        "model": a.model, "seed": a.seed, "iterations": a.iterations, "train_seconds": seconds,
        "metrics": metrics, "official_iterations": 200000,
        "recipe": {"model_type": model_type, "lr": lr, "script": f"sdf/bacon/experiments/{script}",
                   "points_per_step": int(cfg.batch_size), "coarse_weight": float(cfg.data.coarse_weight)},
        "obs": str(a.obs), "repo_commit": repo_commit(a.repo), "machine": machine(), "command": " ".join(sys.argv),
    }
    Path(a.out).write_text(json.dumps(record, indent=1))
    print(f"{a.model} seed {a.seed}: IoU {metrics['iou']:.4f} Chamfer {metrics['chamfer']:.3e} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
