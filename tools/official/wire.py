"""WIRE (vishwa91/wire): ``modules.wire.INR`` (complex Gabor) trained as ``wire_image_denoise.py``.

Recipe of WIRE's image script: targets in [0, 1] (``utils.normalize``), MSE, Adam with lr 5e-3 * min(1, 256*256 / N),
``LambdaLR(0.1 ** min(t / T, 1))``, batches of 256*256 randomly permuted points (the whole image here), 2000 iterations.
Architecture per task: completion w0 20, s0 10, 3 hidden layers (the FINER/FINER++ benchmarks' WIRE, our
conf/model/wire.yaml); restoration w0 5, s0 5, 2 hidden layers (wire_image_denoise.py). Width 256 (181 complex).
"""
import torch
from common import Run, exp_decay, grid_ij, import_repo, masked_mse, parse_args, predict

args = parse_args(__doc__)
import_repo(args.repo)
from modules import wire  # noqa: E402  (the official checkout)

run = Run(args)
H, W, C = run.shape
w0, s0, hidden = (5.0, 5.0, 2) if run.task.name == "restore" else (20.0, 10.0, 3)
net = wire.INR(in_features=2, hidden_features=256, hidden_layers=hidden, out_features=C, first_omega_0=w0,
               hidden_omega_0=w0, scale=s0)
maxpoints, n = 256 * 256, H * W
lr = 5e-3 * min(1, maxpoints / n)
coords, target, mask = grid_ij(H, W), run.values, run.mask
opt = torch.optim.Adam(lr=lr, params=net.parameters())
sched = torch.optim.lr_scheduler.LambdaLR(opt, exp_decay(args.iterations))
run.start()
for _ in range(args.iterations):
    idx = torch.randperm(n)
    for b in range(0, n, maxpoints):
        i = idx[b:b + maxpoints]
        loss = masked_mse(net(coords[i]), target[i], mask[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    sched.step()
run.finish(
    predict(net, coords),
    {
        "source": "wire wire_image_denoise.py",
        "w0": w0,
        "s0": s0,
        "hidden_layers": hidden,
        "loss": "mean(mask * (f - y)^2) over all entries",
        "optimizer": "Adam(0.9, 0.999)",
        "lr": lr,
        "schedule": "LambdaLR 0.1**min(t/T, 1), T = iterations",
        "weight_decay": 0,
        "grad_clip": None,
        "range": "[0, 1]",
        "batch": f"random batches of {maxpoints}",
    },
    2000,
)
