"""CRNL side by side: the official code (YisiLuo/CRNL) or this runner on one saved observation.

    python tools/official/crnl.py --repo /path/to/CRNL --obs OBS_DIR --iterations N --out FILE.json
        [--side official|ours] [--seed S] [--check]

Official side: ``utils_patch.py`` (``add_pad``, ``patch_assign``, ``patch_assign_key``, ``search_KNN_4D``,
``patch_recover_4D_new``) imported from the user's checkout, the classes ``SineLayer_4D`` and ``Network_4D`` read
from ``main()`` of ``demo_CRNL_inpainting.py`` (task complete) or ``demo_CRNL_denoising.py`` (task restore), and
their training loops restated line for line. Constants: inpainting, the "for hyperspectral data" block of
``main()`` (a string in the script; parsed from it); denoising, the assignments of ``main()``.
How the observation is fed:

- the initial estimate ("com", the scripts' TCTV / LRTDTV result, which does not ship) is this runner's
  box-filled observation (``inr_recover.models.tensor.crnl.fill_missing``), identical on both sides;
- ``X`` = our observed tensor (H, W, C) on [0, 1], missing entries 0; ``mask`` = our known mask (the inpainting
  script derives it from ``X == 0``);
- restore: the denoising script's loss ``||X_Out_new - N_new||`` has no mask; with known-missing entries (Scene 3
  stripes and known impulses) it is applied as in the inpainting script, ``||(X_Out_new - N_new) * mask_new||``;
- ``torch.manual_seed(--seed)`` before the core and networks are initialised (the scripts set no seed).

Ours side: this runner's ``model=crnl`` with its config's ``recipe.<task>.model`` options, trained by the
runner's ``fit()`` with the recipe's Adam settings (CRNL's objective is the model's own).
"""
from __future__ import annotations

import ast
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _tensor_common as C  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn, optim  # noqa: E402

from inr_recover.models.tensor.crnl import fill_missing  # noqa: E402

HSI = ["max_iter", "omega_0_4D", "down_2", "lr_real", "gamma", "p", "k"]
DENOISE = ["lr", "max_iter", "omega_0_4D", "gamma", "p", "k", "r_1", "r_2", "r_3", "r_4"]


def hsi_constants(script: Path) -> dict:
    """The "# for hyperspectral data" block of the inpainting ``main()`` (a string literal), parsed."""
    main = next(n for n in ast.parse(script.read_text()).body if isinstance(n, ast.FunctionDef) and n.name == "main")
    text = next(n.value.value for n in main.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
                and "for hyperspectral data" in str(n.value.value))
    block = text.split("# for hyperspectral data")[1].split("# for video data")[0]
    out = {}
    for node in ast.parse("\n".join(line.strip() for line in block.splitlines())).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = (C._constant(node.value), "main() docstring block 'for hyperspectral data'")
    return {n: out[n] for n in HSI}


def groups(U, X, mask, com, p, k, task):
    """Padding, patches, keys and KNN as the scripts (inpainting lines 77-97)."""
    [X_Out_, mask] = U.add_pad(com.clone(), mask, p)
    [X_Out_, X] = U.add_pad(com.clone(), X, p)
    X_Out = X_Out_
    [X_patch, mask_patch] = U.patch_assign(X_Out, mask, p)
    T = int((X_Out.shape[0] - p + 1) * (X_Out.shape[1] - p + 1))
    [X_patch_key, mask_patch_key] = U.patch_assign_key(X_Out, mask, p)
    L = int(((X_Out.shape[0] - p) / (p - 1) + 1) * ((X_Out.shape[1] - p) / (p - 1) + 1))
    l1 = int((X_Out.shape[0] - p) / (p - 1) + 1)
    l2 = int((X_Out.shape[1] - p) / (p - 1) + 1)
    [X_new, mask_new] = U.search_KNN_4D(X_patch_key, X_patch, mask_patch_key, mask_patch, k, p, T, L)
    g = {"X_Out": X_Out, "mask": mask, "X": X, "L": L, "l1": l1, "l2": l2, "X_new": X_new, "mask_new": mask_new}
    if task == "restore":  # the data are the noisy observation's patches at the same neighbours (denoising lines 41-54)
        [N_patch, _] = U.patch_assign(X, mask, p)
        [N_patch_key, _] = U.patch_assign_key(X, mask, p)
        g["X_new"] = U.search_KNN_4D(X_patch_key, X_patch, N_patch_key, N_patch, k, p, T, L)[1]
    return g


def official_model(env, g, p, k, n_3, task, kc):
    """Core and network as the scripts (inpainting lines 100-116, 182; denoising lines 56-66, 127)."""
    L = g["L"]
    if task == "complete":
        n = [p, p, n_3, k + 1]
        r = [int(a / d) for a, d in zip(n, kc["down_2"])]
        mid_channel = 20 * int(p)  # inpainting line 102
        centre = torch.Tensor(L, *r)
        stdv = 0.1 / math.sqrt(centre.size(0))
        centre.data.uniform_(-stdv, stdv)
    else:
        r = [kc["r_1"], kc["r_2"], kc["r_3"], kc["r_4"]]
        mid_channel = 100 * int(p)  # denoising line 58
        centre = torch.Tensor(L, *r)
        torch.nn.init.kaiming_normal_(centre, a=math.sqrt(L * L))
    inputs = [torch.from_numpy(np.array(range(1, a + 1))).reshape(a, 1).float() for a in (p, p, n_3, k + 1)]
    model = env["Network_4D"](*r, mid_channel)
    centre.requires_grad = True
    return model, centre, inputs


def train(U, model, centre, inputs, g, p, n_3, gamma, lr, iterations, task):
    """Inpainting lines 188-204; denoising lines 134-160 (its SSTV term: 10 gamma on dz[..., 1:])."""
    optimizier = optim.Adam(list(model.parameters()) + [centre], lr=lr)
    n1, n2 = g["X_Out"].shape[:2]
    for _ in range(iterations):
        X_Out_new = model(centre, *inputs)
        loss = torch.norm(X_Out_new * g["mask_new"] - g["X_new"] * g["mask_new"], 2)
        X_Out_real = U.patch_recover_4D_new(X_Out_new, p, n1, n2, n_3, g["l1"], g["l2"])
        loss = loss + gamma * torch.norm(X_Out_real[1:, :, :] - X_Out_real[:-1, :, :], 1)
        loss = loss + gamma * torch.norm(X_Out_real[:, 1:, :] - X_Out_real[:, :-1, :], 1)
        if task == "restore":
            dz = X_Out_real[:, :, 1:] - X_Out_real[:, :, :-1]
            loss = loss + 10 * gamma * torch.norm(dz[1:, :, 1:] - dz[:-1, :, 1:], 1)
            loss = loss + 10 * gamma * torch.norm(dz[:, 1:, 1:] - dz[:, :-1, 1:], 1)
        optimizier.zero_grad()
        loss.backward()
        optimizier.step()
    with torch.no_grad():
        return U.patch_recover_4D_new(model(centre, *inputs), p, n1, n2, n_3, g["l1"], g["l2"])


def check(U, env, g, p, k, n_3, task, kc, obs):
    """Our model, given the official initial weights, computes the official group tensor and image; our groups
    (padding, keys, KNN members) gather the same patches as the official ones (up to members swapped by distance
    ties at float32 rounding: the official sums over (p, p, bands), ours in float64)."""
    C.seed_all(0)
    model, centre, inputs = official_model(env, g, p, k, n_3, task, kc)
    ours, _ = C.our_model("crnl", task, obs, 0)
    ours.setup(obs, torch.zeros(1, 2))
    with torch.no_grad():
        for f, net in zip(ours.factors, (model.U_net, model.V_net, model.W_net, model.Y_net)):
            f.net[0].linear.load_state_dict(net[0].linear.state_dict())
            f.net[1].linear.load_state_dict(net[1].linear.state_dict())
            f.net[2].load_state_dict(net[2].state_dict())
        ours.cores.copy_(centre)
        z_off, z_ours = model(centre, *inputs), ours.render_groups()
        n1, n2 = g["X_Out"].shape[:2]
        img_off = U.patch_recover_4D_new(z_off, p, n1, n2, n_3, g["l1"], g["l2"])
        img_ours = ours.tile(z_ours[..., 0])
        known_groups = ours.gather(ours.padded(torch.from_numpy(obs.known.astype(np.float32))))
        data_groups = ours.gather(ours.padded(torch.from_numpy(obs.values))) * known_groups
    rel = lambda a, b: float((a - b).abs().max() / a.abs().max())  # noqa: E731
    out = {"group_tensor_max_rel_error": rel(z_off, z_ours), "image_max_rel_error": rel(img_off, img_ours),
           # near-ties of the KNN distance (equal up to float32 summation order) may swap two members
           "group_entries_equal": float(((known_groups == g["mask_new"])
                                         & (data_groups == g["X_new"] * g["mask_new"])).float().mean()),
           "members": list(ours.members.shape), "ranks": list(centre.shape[1:]),
           "params_official": sum(q.numel() for q in model.parameters()) + centre.numel(),
           "params_ours": sum(q.numel() for q in ours.parameters())}
    assert list(ours.cores.shape) == list(centre.shape), "ranks or groups differ"
    assert out["group_tensor_max_rel_error"] < 1e-5 and out["image_max_rel_error"] < 1e-5, out
    assert out["group_entries_equal"] > 0.999, "KNN groups differ"
    return out


def main():
    args = C.parser(__doc__.splitlines()[0]).parse_args()
    repo = Path(args.repo).resolve()
    sys.path.insert(0, str(repo))
    import utils_patch as U

    obs, truth, task, feed = C.observation(args.obs)
    if len(obs.grid) != 2:
        raise SystemExit("the official CRNL code takes (H, W, bands) data")
    script = repo / ("demo_CRNL_inpainting.py" if task == "complete" else "demo_CRNL_denoising.py")
    consts = hsi_constants(script) if task == "complete" else C.script_values(script, DENOISE, function="main")
    kc = {n: v for n, (v, _) in consts.items()}
    p, k, gamma = kc["p"], kc["k"], kc["gamma"]
    lr = kc["lr_real"] if task == "complete" else kc["lr"]
    env = C.script_defs(script, ["SineLayer_4D", "Network_4D"], {"torch": torch, "nn": nn, "np": np, "math": math,
                                                                "omega_0_4D": kc["omega_0_4D"]}, function="main")
    values = torch.from_numpy(np.ascontiguousarray(obs.values, dtype=np.float32))
    known = torch.from_numpy(obs.known)
    X = torch.where(known, values, torch.zeros(()))
    mask = known.float()
    n_3 = X.shape[2]
    record = {"method": "crnl", "official_script": script.name,
              "official_constants": {n: {"value": v, "line": line} for n, (v, line) in consts.items()},
              "official_files": {f: C.sha256(repo / f) for f in ("utils_patch.py", script.name)},
              "observation": "runner observation via degrade=from_file (" + " ".join(feed) + "); X = observed values "
                             "(missing 0), mask = runner's known mask, (H, W, C) float32 on [0, 1]; KNN on the "
                             "runner's box-filled estimate (official: TCTV/LRTDTV result, not shipped)"}
    if args.side == "official" or args.check:
        with C.on_cpu(U), C.Timer() as t_groups:
            g = groups(U, X, mask, fill_missing(X, known), p, k, task)
        record["official_grouping_seconds"] = t_groups.seconds
    with C.on_cpu(U):
        if args.check:
            record["check"] = check(U, env, g, p, k, n_3, task, kc, obs)
        C.seed_all(args.seed)
        if args.side == "official":
            model, centre, inputs = official_model(env, g, p, k, n_3, task, kc)
            with C.Timer() as t:
                img = train(U, model, centre, inputs, g, p, n_3, gamma, lr, args.iterations, task)
            seconds = t.seconds
            pred = img[: X.shape[0], : X.shape[1]].numpy()
            record["recipe"] = {"optimizer": "Adam", "lr": lr, "weight_decay": 0.0, "tv_gamma": gamma,
                                "ranks": list(centre.shape[1:]), "groups": g["L"]}
        else:
            pred, seconds, record["recipe"] = C.run_ours("crnl", task, obs, args)
    C.finish(args, pred, obs, truth, task, seconds, record)


if __name__ == "__main__":
    main()
