"""FINER (liuzhen0212/FINER): ``models.Finer`` trained as ``train_image.py`` with ``run_finer.sh``'s settings.

Width 256, 3 hidden layers, w0 30 (first and hidden), first-layer bias PyTorch default (first_bias_scale None),
lr 5e-4, 5000 iterations in the script.
"""
from common import Run, import_repo, parse_args, train_image_recipe

args = parse_args(__doc__)
import_repo(args.repo)
from models import Finer  # noqa: E402  (the official checkout)

run = Run(args)
model = Finer(in_features=2, hidden_features=256, hidden_layers=3, out_features=run.shape[-1], first_omega_0=30,
              hidden_omega_0=30, first_bias_scale=None)
train_image_recipe(run, model, lr=5e-4, official_iterations=5000, source="FINER train_image.py, run_finer.sh")
