"""SCONE (jasonli0707/scone): ``models.scone.SCONE`` trained as ``train_image.py`` with ``config/train_image.yaml``.

``model_config/scone.yaml``: dim_hidden 250, num_layers 5, w0 30, omegas [90, 60, 30, 10]; targets in [-1, 1]
(``normalize: True``); MSE; Adam lr 1e-4 with ``CosineAnnealingLR(T = iterations, eta_min = 1e-6)``; full batch;
10000 iterations. (The script reports the best PSNR against the truth; the driver reports the final iterate.)
"""
from types import SimpleNamespace

import torch
from common import Run, fit_full_batch, grid_ij, import_repo, parse_args, predict

args = parse_args(__doc__)
import_repo(args.repo)
from models.scone import SCONE  # noqa: E402  (the official checkout)

run = Run(args)
H, W, C = run.shape
net = SCONE(2, C, SimpleNamespace(dim_hidden=250, num_layers=5, w0=30.0, use_bias=True, omegas=[90, 60, 30, 10]))
coords, target, mask = grid_ij(H, W), run.values * 2 - 1, run.mask
opt = torch.optim.Adam(net.parameters(), lr=1e-4)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.iterations, eta_min=1e-6)
run.start()
fit_full_batch(net, coords, target, mask, args.iterations, opt, sched)
run.finish(
    predict(net, coords) / 2 + 0.5,
    {
        "source": "scone train_image.py, config/train_image.yaml, model_config/scone.yaml",
        "loss": "mean(mask * (f - y)^2) over all entries",
        "optimizer": "Adam(0.9, 0.999)",
        "lr": 1e-4,
        "schedule": "cosine to 1e-6 over T = iterations",
        "weight_decay": 0,
        "grad_clip": None,
        "range": "[-1, 1]",
        "batch": "full",
    },
    10000,
)
