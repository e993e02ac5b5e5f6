"""PEMLP (liuzhen0212/FINERplusplus): ``models.PEMLP`` trained as ``train_image.py`` with ``run.sh``'s PEMLP settings.

Width 256, 3 hidden layers, N_freqs 10, PyTorch init, lr 5e-4, 5000 iterations in the script.
"""
from common import Run, import_repo, parse_args, train_image_recipe

args = parse_args(__doc__)
import_repo(args.repo)
from models import PEMLP  # noqa: E402  (the official checkout)

run = Run(args)
model = PEMLP(in_features=2, hidden_features=256, hidden_layers=3, out_features=run.shape[-1], N_freqs=10)
train_image_recipe(run, model, lr=5e-4, official_iterations=5000, source="FINER++ train_image.py, run.sh (PEMLP)")
