"""S-INR (jiayili11/S-INR, branch master): ``dataloader.data_load_img_completion_overlap_bound_kmeans`` and
``models.NET_S_INR`` trained as ``sinr_completion.py``.

Superpixels: k-means++ (``int(H W / pixel_set)`` clusters, labels indexed ``label - 1`` as the official code) on
bands 10, 20, 30 of a 3-NN interpolated observation with [0, 5) positions; each network also covers a 2-pixel ring.
Network: c_mid 35, h 5 (3 hidden sine layers), r 120, first omega 150 (``hidden_omega_0`` 150 only reaches the output
init), SE blocks. Loss: sum over superpixels of ``||M (f - y)||_2`` on [0, 1] data; Adam lr 1e-3, weight decay 1e-6;
8001 epochs in the script; output = mean over the networks covering a pixel (the script's final block).
The script's call ``NET_S_INR(pixel_count, pixel_num, ...)`` does not match the signature (the completion script does
not run as released); the driver calls ``NET_S_INR(pixel_num, ...)`` as ``sinr_denoising.py`` does. The loader reads
the "clean" tensor only on observed entries here: the driver hands it the observation (never the truth).
``--pixel-set`` (default 2500 as the script) sets the superpixel size; 64x64 data needs a smaller one (500).
"""
import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.io
import torch

sys.argv, _extra = [a for a in sys.argv if not a.startswith("--pixel-set")], [a for a in sys.argv if a.startswith("--pixel-set")]
from common import Run, import_repo, parse_args  # noqa: E402

args = parse_args(__doc__)
pixel_set = int(_extra[0].split("=")[1]) if _extra else 2500
import_repo(args.repo)
from dataloader import data_load_img_completion_overlap_bound_kmeans  # noqa: E402  (the official checkout)
from models import NET_S_INR  # noqa: E402

run = Run(args)  # after the official imports: models.py seeds on import
H, W, C = run.shape
tmp = Path(tempfile.mkdtemp())
observed = np.where(run.obs.known, run.obs.values, 0.0)
scipy.io.savemat(tmp / "ob.mat", {"Nhsi": observed})
scipy.io.savemat(tmp / "gt.mat", {"Ohsi": observed})  # read on observed entries only (masked loss)
scipy.io.savemat(tmp / "mask.mat", {"Mask": run.obs.known.astype(np.float64)})
data = data_load_img_completion_overlap_bound_kmeans(str(tmp / "ob"), str(tmp / "gt"), str(tmp / "mask"), pixel_set=pixel_set, freq=0)
net = NET_S_INR(data.pixel_num, c_in=2, r=120, c_out=C, c_mid=35, hidden_layers=3, first_omega_0=150, hidden_omega_0=150)
opt = torch.optim.Adam(lr=1e-3, params=net.parameters(), weight_decay=1e-6)
gt, gt_mask, coords = data.gt, data.gt_mask, data.coords2
run.start()
for _ in range(args.iterations):
    out = net(coords)
    loss = 0
    for j in range(data.pixel_num):
        loss += torch.norm(gt_mask[j] * out[j] - gt_mask[j] * gt[j], 2)
    opt.zero_grad()
    loss.backward()
    opt.step()
with torch.no_grad():
    out = net(coords)
    acc, cover = torch.zeros(H, W, C), torch.zeros(H, W, 1)
    for i, ij in enumerate(data.coords1):
        acc.index_put_((ij[:, 0].long(), ij[:, 1].long()), out[i], accumulate=True)
        cover.index_put_((ij[:, 0].long(), ij[:, 1].long()), torch.ones(len(ij), 1), accumulate=True)
    pred = (acc / cover.clamp(min=1)).reshape(-1, C)  # the label - 1 indexing leaves no pixel uncovered
run.finish(pred, {"source": "S-INR sinr_completion.py, dataloader.py, models.py (branch master)", "pixel_set": pixel_set,
                  "superpixel_networks": int(data.pixel_num), "r": 120,
                  "loss": "sum over superpixels of ||M (f - y)||_2", "optimizer": "Adam(0.9, 0.999)", "lr": 1e-3,
                  "schedule": None, "weight_decay": 1e-6, "grad_clip": None, "range": "[0, 1]", "batch": "full"}, 8001)
