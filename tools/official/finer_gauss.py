"""FINER++ Gauss (liuzhen0212/FINERplusplus HEAD): ``models.GF`` trained as ``train_image.py`` with ``run.sh``'s
settings.

``--scale 3 --omega 10 --fbs 1 --init_method sine --lr 1e-3``, width 256, 3 hidden layers, 5000 iterations.
"""

from common import Run, import_repo, parse_args, train_image_recipe

args = parse_args(__doc__)
import_repo(args.repo)
from models import GF  # noqa: E402  (the official checkout)

run = Run(args)
model = GF(
    in_features=2,
    out_features=run.shape[-1],
    hidden_layers=3,
    hidden_features=256,
    scale=3,
    omega=10,
    init_method="sine",
    fbs=1,
)
train_image_recipe(run, model, lr=1e-3, official_iterations=5000, source="FINER++ train_image.py, run.sh (GF)")
