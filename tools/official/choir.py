"""CHOIR (chorl0229/CHOIR): ``choir_core.CHOIRNet`` trained by ``choir_core.CHOIRTrainer.train_step``.

Width 128, first PSC layer + 8 ReZero blocks, sigmoid output; Adam lr 3e-3, weight decay 1e-5, cosine to 1e-6 over
``MAX_ITERATIONS`` (set to --iterations; the scripts use 5000), L1 ``L1Loss(f * M, y * M)`` (mean over all
entries), grad-norm clip 1.0; data in [0, 1]; ``choir_core.get_mgrid`` coordinates. The scripts early-stop on
the PSNR against the truth and report the best; the driver runs all iterations and reports the final iterate.
"""

from common import Run, import_repo, parse_args, predict

args = parse_args(__doc__)
import_repo(args.repo)
import choir_core  # noqa: E402  (the official checkout)

run = Run(args)
H, W, C = run.shape
choir_core.MAX_ITERATIONS = args.iterations  # the cosine schedule's T_max (a module global in the official code)
net = choir_core.CHOIRNet(out_features=C, signal_dims=(H, W, C))
trainer = choir_core.CHOIRTrainer(net)
coords = choir_core.get_mgrid((H, W))
run.start()
for _ in range(args.iterations):
    trainer.train_step(coords, run.values, run.mask)
run.finish(
    predict(net, coords),
    {
        "source": "CHOIR choir_core.py (CHOIRTrainer), Missing_Random.py / Mixed_Degradation.py",
        "loss": "L1Loss(f * M, y * M): mean over all entries",
        "optimizer": "Adam(0.9, 0.999)",
        "lr": 3e-3,
        "schedule": "cosine to 1e-6 over T = iterations",
        "weight_decay": 1e-5,
        "grad_clip": 1.0,
        "range": "[0, 1]",
        "batch": "full",
    },
    5000,
)
