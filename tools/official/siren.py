"""SIREN (vsitzmann/siren): ``modules.SingleBVPNet(type='sine')`` trained as
``experiment_scripts/train_img_inpainting.py``.

Width 256, 3 hidden layers, w0 30 (the ``Sine`` module's fixed factor), linear output, sine init
(``modules.sine_init``, first layer ``first_layer_sine_init``); targets in [-1, 1] (``dataio.Implicit2DWrapper``:
``Normalize(0.5, 0.5)``); loss ``loss_functions.image_mse(mask, ...)`` = ``mean(mask * (f - y)^2)``; Adam lr 1e-4
(``training.train``: no schedule, ``clip_grad=False``); full batch; the script's default is 10000 epochs of one step.
"""

import torch
from common import Run, grid_ij, import_repo, parse_args, predict

args = parse_args(__doc__)
import_repo(args.repo)
import loss_functions  # noqa: E402  (the official checkout)
import modules  # noqa: E402

run = Run(args)
H, W, C = run.shape
net = modules.SingleBVPNet(
    out_features=C, type="sine", in_features=2, mode="mlp", hidden_features=256, num_hidden_layers=3, sidelength=(H, W)
)
coords, target, mask = grid_ij(H, W)[None], (run.values * 2 - 1)[None], run.mask[None]
opt = torch.optim.Adam(lr=1e-4, params=net.parameters())
run.start()
for _ in range(args.iterations):
    out = net({"coords": coords})
    loss = loss_functions.image_mse(mask, out, {"img": target})["img_loss"]
    opt.zero_grad()
    loss.backward()
    opt.step()
pred = predict(lambda c: net({"coords": c})["model_out"], coords)[0] / 2 + 0.5
run.finish(
    pred,
    {
        "source": "siren train_img_inpainting.py, training.train, loss_functions.image_mse",
        "loss": "mean(mask * (f - y)^2) over all entries",
        "optimizer": "Adam(0.9, 0.999)",
        "lr": 1e-4,
        "schedule": None,
        "weight_decay": 0,
        "grad_clip": None,
        "range": "[-1, 1]",
        "batch": "full",
    },
    10000,
)
