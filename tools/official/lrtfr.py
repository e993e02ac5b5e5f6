"""LRTFR side by side: the official code (YisiLuo/LRTFR, also YisiLuo/Continuous-Tensor-Toolbox) or this runner on
one saved observation.

    python tools/official/lrtfr.py --repo /path/to/LRTFR --obs OBS_DIR --iterations N --out FILE.json
        [--side official|ours] [--seed S] [--check]

Official side: the classes ``SineLayer``, ``Network`` (and ``soft``) and the constants (w_decay, lr_real, down,
omega; phi, mu, gamma) of ``Demo_Image_inpainting.py`` (task complete) or ``Demo_HSI_denoising.py`` (task
restore), read from the user's checkout without running the script; its training loop restated line for line.
How the observation is fed: ``X`` = our observed tensor (H, W, C) on [0, 1], missing entries 0; ``mask`` = our
known mask (the scripts derive it from ``X == 0``, which would also drop observed entries that are exactly 0);
``torch.manual_seed(--seed)`` before the core and networks are initialised (the scripts set no seed). The scripts
print the PSNR of ``X_Out`` (no observed entries written in); here the task's output rule applies.

Ours side: this runner's ``model=lrtfr`` with its config's ``recipe.<task>.model`` options, trained by the
runner's ``fit()`` with the recipe's Adam settings and the official Frobenius data term.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _tensor_common as C  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn, optim  # noqa: E402


def official_model(env, X, down):
    """``Network`` and ``centre`` as the scripts build them (inpainting lines 81-107; denoising 96-124)."""
    n_1, n_2, n_3 = X.shape
    env["mid_channel"] = int(n_2)
    down = down if isinstance(down, list) else [down] * 3
    r = [int(n / d) for n, d in zip((n_1, n_2, n_3), down)]
    centre = torch.Tensor(*r)
    stdv = 1 / math.sqrt(centre.size(0))
    centre.data.uniform_(-stdv, stdv)
    model = env["Network"](*r)
    centre.requires_grad = True
    inputs = [torch.from_numpy(np.array(range(1, n + 1))).reshape(n, 1).float() for n in (n_1, n_2, n_3)]
    return model, centre, inputs


def train(model, centre, inputs, X, mask, k, iterations, task, env):
    """Inpainting lines 103-115; denoising lines 120-145 (ADMM sparse term)."""
    optimizier = optim.Adam(list(model.parameters()) + [centre], lr=k["lr_real"], weight_decay=k["w_decay"])
    soft_thres = env["soft"]() if task == "restore" else None
    for it in range(iterations):
        X_Out = model(centre, *inputs)
        if task == "complete":
            loss = torch.norm(X_Out * mask - X * mask, 2)
        else:
            mu, gamma, phi = k["mu"], k["gamma"], k["phi"]
            if it == 0:
                D = torch.zeros(X.shape)
                S = (X - X_Out.clone().detach())
            V = soft_thres(S + D / mu, gamma / mu)
            S = (2 * X - 2 * X_Out.clone().detach() + mu * V - D) / (2 + mu)
            loss = torch.norm(X * mask - X_Out * mask - S * mask, 2)
            loss = loss + phi * torch.norm(X_Out[1:, :, :] - X_Out[:-1, :, :], 1)
            loss = loss + phi * torch.norm(X_Out[:, 1:, :] - X_Out[:, :-1, :], 1)
        optimizier.zero_grad()
        loss.backward(retain_graph=True)
        optimizier.step()
        if task == "restore":
            D = (D + mu * (S - V)).clone().detach()


def check(env, X, k, obs, task):
    """Our model with the official initial weights computes the official forward."""
    C.seed_all(0)
    model, centre, inputs = official_model(env, X, k["down"])
    ours, _ = C.our_model("lrtfr", task, obs, 0)
    with torch.no_grad():
        for f, net in zip(ours.factors, (model.U_net, model.V_net, model.W_net)):
            f.net[0].linear.load_state_dict(net[0].linear.state_dict())
            f.net[1].linear.load_state_dict(net[1].linear.state_dict())
            f.net[2].load_state_dict(net[2].state_dict())
        ours.core.copy_(centre)
        a, b = model(centre, *inputs), ours.render()
    err = float((a - b).abs().max() / a.abs().max())
    assert list(ours.core.shape) == list(centre.shape), "ranks differ"
    assert err < 1e-5, f"forward differs: relative max error {err}"
    return {"forward_max_rel_error": err, "ranks": list(centre.shape),
            "params_official": sum(p.numel() for p in model.parameters()) + centre.numel(),
            "params_ours": sum(p.numel() for p in ours.parameters())}


def main():
    args = C.parser(__doc__.splitlines()[0]).parse_args()
    repo = Path(args.repo).resolve()
    obs, truth, task, feed = C.observation(args.obs)
    script = repo / ("Demo_Image_inpainting.py" if task == "complete" else "Demo_HSI_denoising.py")
    names = ["w_decay", "lr_real", "down", "omega"] + (["phi", "mu", "gamma"] if task == "restore" else [])
    consts = C.script_values(script, names)
    k = {n: v for n, (v, _) in consts.items()}
    env = {"torch": torch, "nn": nn, "np": np, "omega": k["omega"]}  # omega: SineLayer's default omega_0
    C.script_defs(script, ["SineLayer", "Network"] + (["soft"] if task == "restore" else []), env)
    X = torch.from_numpy(np.ascontiguousarray(np.where(obs.known, obs.values, 0.0), dtype=np.float32))
    mask = torch.from_numpy(obs.known.astype(np.float32))
    record = {"method": "lrtfr", "official_script": script.name,
              "official_constants": {n: {"value": k[n], "line": consts[n][1]} for n in names},
              "official_files": {script.name: C.sha256(script)},
              "observation": "runner observation via degrade=from_file (" + " ".join(feed) + "); X = observed values "
                             "(missing 0), mask = runner's known mask, (H, W, C) float32 on [0, 1]"}
    if args.check:
        record["check"] = check(env, X, k, obs, task)
    C.seed_all(args.seed)
    if args.side == "official":
        model, centre, inputs = official_model(env, X, k["down"])
        with C.Timer() as t:
            train(model, centre, inputs, X, mask, k, args.iterations, task, env)
        seconds = t.seconds
        with torch.no_grad():
            pred = model(centre, *inputs).numpy()
        record["recipe"] = {"optimizer": "Adam", "lr": k["lr_real"], "weight_decay": k["w_decay"], "down": k["down"]}
    else:
        pred, seconds, record["recipe"] = C.run_ours("lrtfr", task, obs, args)
    C.finish(args, pred, obs, truth, task, seconds, record)


if __name__ == "__main__":
    main()
