"""DRO-TFF side by side: the official code (Xbow-Git/DRO-TFF) or this runner on one saved observation.

    python tools/official/dro_tff.py --repo /path/to/DRO-TFF --obs OBS_DIR --iterations N --out FILE.json
        [--side official|ours] [--seed S] [--check]

Official side: ``model/drotff.py``'s ``DRO_TFF`` (``DRO_TFF_video`` is for (H, W, T) data, not run here) built on
the observation and trained by the loop of ``Demo_Image_inpainting.py`` (task complete) or
``Demo_Mixed_noise_removal.py`` (task restore), restated line for line, with the constants read from those
scripts (gamma, lr_real, num_deep_layer, beta; mu, alpha_3, thres_tv, thres_sstv) except omega, which the
inpainting script sets to 1 for its colour image and says to set to 2 for HSI (used when C > 3), and the Adam
weight decay 10e-8 (an argument in ``main()``). How the observation is fed: ``X`` = our observed tensor
(H, W, C) on [0, 1], missing entries 0; ``mask`` = our known mask (the scripts derive it from ``X == 0``, which
would also drop observed entries that are exactly 0); ``torch.manual_seed(--seed)`` in place of their seed 1.
Their PSNR-best-over-iterations report is not used: the final iterate is scored.

Ours side: this runner's ``model=dro_tff`` with its config's ``recipe.<task>.model`` options, trained by the
runner's ``fit()`` with the recipe's Adam settings and the official Frobenius data term.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _tensor_common as C  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn, optim  # noqa: E402


def official_model(drotff, X, omega, depth, beta):
    return drotff.DRO_TFF(X.shape[0], X.shape[1], X.shape[2], int(X.shape[0] * beta), omega, depth)


def train_complete(model, X, mask, k, iterations):
    """``Demo_Image_inpainting.py`` lines 61-80."""
    gamma = k["gamma"]
    optimizier = optim.Adam(list(model.parameters()), lr=k["lr_real"], weight_decay=10e-8)
    for _ in range(iterations):
        X_Out = model()
        loss = torch.norm(X_Out * mask - X * mask, 2)
        X_Out[mask == 1] = X[mask == 1]
        loss = loss + gamma * torch.norm(X_Out[1:, :, :] - X_Out[:-1, :, :], 1)
        loss = loss + gamma * torch.norm(X_Out[:, 1:, :] - X_Out[:, :-1, :], 1)
        dz = X_Out[:, :, 1:] - X_Out[:, :, :-1]
        loss = loss + 10 * gamma * torch.norm(dz[1:, :, 1:] - dz[:-1, :, 1:], 1)
        loss = loss + 10 * gamma * torch.norm(dz[:, 1:, 1:] - dz[:, :-1, 1:], 1)
        optimizier.zero_grad()
        loss.backward(retain_graph=True)
        optimizier.step()


def train_restore(model, X, mask, k, iterations, utils, soft_thres):
    """``Demo_Mixed_noise_removal.py`` ``closure`` (lines 33-91) and its loop (lines 165-176)."""
    TV, SSTV = utils.TV_Loss(), utils.SSTV_Loss()
    mu, thres, thres_tv, thres_sstv = k["mu"], 2 * k["alpha_3"], k["thres_tv"], k["thres_sstv"]  # thres = 2 * alpha_3
    optimizier = optim.Adam(list(model.parameters()), lr=k["lr_real"], weight_decay=10e-8)
    mask = mask.permute(2, 0, 1)
    img_noisy_var = X.permute(2, 0, 1)[None, None, :]
    for it in range(iterations):
        optimizier.zero_grad()
        out_ = model().permute(2, 0, 1)[None, None, :]
        D_x_, D_y_ = TV(out_)
        D_xz_, D_yz_ = SSTV(out_)
        D_x, D_y, D_xz, D_yz = (d.clone().detach() for d in (D_x_, D_y_, D_xz_, D_yz_))
        out = out_.clone().detach()
        if it == 0:
            s = img_noisy_var.shape
            D_2 = torch.zeros([s[0], s[1], s[2], s[3] - 1, s[4]])
            D_3 = torch.zeros([s[0], s[1], s[2], s[3], s[4] - 1])
            D_4 = torch.zeros([s[0], s[1], s[2] - 1, s[3] - 1, s[4]])
            D_5 = torch.zeros([s[0], s[1], s[2] - 1, s[3], s[4] - 1])
        S = soft_thres(img_noisy_var - out, thres)
        V_2 = soft_thres(D_x + D_2 / mu, thres_tv)
        V_3 = soft_thres(D_y + D_3 / mu, thres_tv)
        V_4 = soft_thres(D_xz + D_4 / mu, thres_sstv)
        V_5 = soft_thres(D_yz + D_5 / mu, thres_sstv)
        total_loss = mu / 2 * torch.norm(D_x_ - (V_2 - D_2 / mu), 2)
        total_loss += mu / 2 * torch.norm(D_y_ - (V_3 - D_3 / mu), 2)
        total_loss += 10 * mu / 2 * torch.norm(D_xz_ - (V_4 - D_4 / mu), 2)
        total_loss += 10 * mu / 2 * torch.norm(D_yz_ - (V_5 - D_5 / mu), 2)
        total_loss += torch.norm(img_noisy_var * mask - out_ * mask - S, 2)
        total_loss.backward()
        D_2 = (D_2 + mu * (D_x - V_2)).clone().detach()
        D_3 = (D_3 + mu * (D_y - V_3)).clone().detach()
        D_4 = (D_4 + mu * (D_xz - V_4)).clone().detach()
        D_5 = (D_5 + mu * (D_yz - V_5)).clone().detach()
        optimizier.step()


def check(drotff, X, k, obs, task):
    """Our model with the official model's initial weights computes the official forward."""
    C.seed_all(0)
    off = official_model(drotff, X, k["omega"], k["num_deep_layer"], k["beta"])
    ours, _ = C.our_model("dro_tff", task, obs, 0)
    with torch.no_grad():
        for f, net in zip(ours.factors, (off.A_net, off.B_net)):
            f.net[0].linear.load_state_dict(net[0].linear.state_dict())
            f.net[1].load_state_dict(net[1].state_dict())
        ours.spectral.net[0].linear.load_state_dict(off.H_net[0].linear.state_dict())
        ours.spectral.net[1].load_state_dict(off.H_net[1].state_dict())
        for h, layer in zip(ours.transforms, off.net):
            h.load_state_dict(layer[0].state_dict())
        a, b = off(), ours.render()
    err = float((a - b).abs().max() / a.abs().max())
    assert ours.rank == off.A_net[1].out_features and len(ours.transforms) == len(off.net), "architecture differs"
    assert err < 1e-5, f"forward differs: relative max error {err}"
    return {
        "forward_max_rel_error": err,
        "rank": ours.rank,
        "params_official": sum(p.numel() for p in off.parameters()),
        "params_ours": sum(p.numel() for p in ours.parameters()),
    }


def main():
    args = C.parser(__doc__.splitlines()[0]).parse_args()
    repo = Path(args.repo).resolve()
    sys.path.insert(0, str(repo))
    import utils  # noqa: F401  (the official utils.py: TV_Loss, SSTV_Loss)
    from model import drotff

    obs, truth, task, feed = C.observation(args.obs)
    script = repo / ("Demo_Image_inpainting.py" if task == "complete" else "Demo_Mixed_noise_removal.py")
    names = ["gamma", "lr_real", "num_deep_layer", "beta", "omega"]
    if task == "restore":
        names += ["mu", "alpha_3", "thres_tv", "thres_sstv"]
    consts = C.script_values(script, names)
    k = {n: v for n, (v, _) in consts.items()}
    if task == "complete" and obs.channels > 3:
        k["omega"] = 2  # Demo_Image_inpainting.py: "otherwise (e.g. hsi - flowers ...), set omega to 2"
    X = torch.from_numpy(np.ascontiguousarray(np.where(obs.known, obs.values, 0.0), dtype=np.float32))
    mask = torch.from_numpy(obs.known.astype(np.float32))
    record = {
        "method": "dro_tff",
        "official_script": script.name,
        "official_constants": {n: {"value": k[n], "line": consts[n][1]} for n in names},
        "official_files": {f: C.sha256(repo / f) for f in ("model/drotff.py", "utils.py", script.name)},
        "observation": "runner observation via degrade=from_file (" + " ".join(feed) + "); X = observed values "
        "(missing 0), mask = runner's known mask, (H, W, C) float32 on [0, 1]",
    }
    with C.on_cpu(drotff, utils):
        if args.check:
            record["check"] = check(drotff, X, k, obs, task)
        C.seed_all(args.seed)
        if args.side == "official":
            model = official_model(drotff, X, k["omega"], k["num_deep_layer"], k["beta"])
            with C.Timer() as t:
                if task == "complete":
                    train_complete(model, X, mask, k, args.iterations)
                else:
                    env = C.script_defs(script, ["soft"], {"nn": nn, "torch": torch}, function="main")
                    train_restore(model, X, mask, k, args.iterations, utils, env["soft"]())
            seconds = t.seconds
            with torch.no_grad():
                pred = model().numpy()
            record["recipe"] = {
                "optimizer": "Adam",
                "lr": k["lr_real"],
                "weight_decay": 10e-8,
                "rank": int(X.shape[0] * k["beta"]),
            }
        else:
            pred, seconds, record["recipe"] = C.run_ours("dro_tff", task, obs, args)
    C.finish(args, pred, obs, truth, task, seconds, record)


if __name__ == "__main__":
    main()
