"""Gauss (liuzhen0212/FINERplusplus benchmark): ``models.Gauss`` trained as ``train_image.py`` with ``run.sh``'s
settings.

Width 256, 3 hidden layers, scale 30, PyTorch init, lr 5e-3, 5000 iterations in the script (FINER's run_gauss.sh:
the same). The Gauss paper (Ramasinghe & Lucey) has no repository in the project's list.
"""

from common import Run, import_repo, parse_args, train_image_recipe

args = parse_args(__doc__)
import_repo(args.repo)
from models import Gauss  # noqa: E402  (the official checkout)

run = Run(args)
model = Gauss(
    in_features=2, hidden_features=256, hidden_layers=3, out_features=run.shape[-1], scale=30, init_method="pytorch"
)
train_image_recipe(run, model, lr=5e-3, official_iterations=5000, source="FINER++ train_image.py, run.sh (Gauss)")
