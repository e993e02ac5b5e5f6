"""FreSh (gmum/FreSh): the SIREN of ``src/models.py`` with ``configs/siren_best_omega.yaml``'s selection and training.

Selection (``training_type: best``): for each first-layer w0 in 10, 20, ..., 200, ``initial_evals`` = 10 untrained
networks; spectrum generator ``cropped_64`` (``metrics.prepare_spectrum_generators``: ``get_spectrum`` of
``resize_to_square`` of the output, first 64 entries); ``metrics.get_wasserstein`` against the signal's normalised
spectrum; the lowest mean wins. The signal here is the observation with its missing entries filled by
``inr_recover.models.fresh.fill_missing`` (the paper fits fully observed signals; handing it the zero-filled
observation would match the mask's spectrum): the one step that is not FreSh's code, the same as our side.
Network (``siren_base.yaml``): width 256, 3 hidden layers, hidden w0 30, beta 1, weight constant 6,
``apply_omega_when_linear: True``, ``boost_bias: False``, linear output. Training (``INR.training_step``,
``configure_optimizers``): targets in [-1, 1], ``F.mse_loss`` over the training pixels (here: the observed
entries), Adam lr 1e-4, no scheduler, full batch; 15000 steps in ``base.yaml``.
"""
import numpy as np
import torch
from common import Run, import_repo, parse_args, predict

args = parse_args(__doc__)
repo = import_repo(args.repo)
import sys  # noqa: E402

sys.path.insert(0, str(repo / "src"))
from config_utils import SpectrumConfig  # noqa: E402  (the official checkout)
from data_utils import get_mgrid  # noqa: E402
from metrics import get_wasserstein, prepare_spectrum_generators  # noqa: E402
from models import Siren  # noqa: E402

from inr_recover.models.fresh import fill_missing  # noqa: E402

run = Run(args)
H, W, C = run.shape


def make(w):
    return Siren(in_features=2, hidden_features=256, hidden_layers=3, out_features=C, outermost_linear=True,
                 first_omega_0=w, hidden_omega=30.0, beta=1.0, weight_constant=6.0, apply_omega_when_linear=True,
                 boost_bias=False)


coords = get_mgrid((H, W), dim=2)
spectrum = prepare_spectrum_generators(
    SpectrumConfig(
        use_baseline=True,
        eval_before_training=False,
        resize_before_crop=False,
        resize_sizes=[],
        crop_sizes=[64, 128],
        selection_methods=["cropped_64"],
        initial_evals=10,
    )
)["cropped_64"]
signal = torch.from_numpy(fill_missing(run.obs.values, run.obs.known) * 2 - 1).movedim(-1, 0)  # (C, H, W) in [-1, 1]
gt = spectrum(signal).numpy()
gt = gt / gt.sum()
run.start()
distances = {}
with torch.no_grad():
    for w in [float(v) for v in range(10, 201, 10)]:
        d = [get_wasserstein(gt, spectrum(make(w)(coords).reshape(H, W, C).movedim(-1, 0)).numpy()) for _ in range(10)]
        distances[w] = float(np.mean(d))
chosen = min(distances, key=distances.get)
net = make(chosen)
target, mask = run.values * 2 - 1, run.mask
opt = torch.optim.Adam(net.parameters(), lr=1e-4)
for _ in range(args.iterations):
    loss = (mask * (net(coords) - target) ** 2).sum() / mask.sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
run.finish(
    predict(net, coords) / 2 + 0.5,
    {
        "source": "FreSh src/models.py Siren, configs/siren_base.yaml + siren_best_omega.yaml, metrics.py",
        "chosen_first_omega0": chosen,
        "distances": distances,
        "loss": "F.mse_loss over the observed entries (sum(M (f - y)^2) / sum(M))",
        "optimizer": "Adam(0.9, 0.999)",
        "lr": 1e-4,
        "schedule": None,
        "weight_decay": 0,
        "grad_clip": None,
        "range": "[-1, 1]",
        "batch": "full",
    },
    15000,
    notes="spectrum of the filled observation (inr_recover fill_missing), not of the truth",
)
