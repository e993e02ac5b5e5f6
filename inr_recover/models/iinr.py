"""I-INR (Iterative Implicit Neural Representations, AAAI 2026, arXiv 2504.17364): a plug-in around a backbone.

No official code is public; every choice below is ours and listed in ``conf/model/iinr.yaml``.

- Backbone ``B`` (any model with :meth:`features` / :meth:`head`), run once per call: ``h = B.features(x)``.
- FeedbackNet on the current estimate: ``e = relu(W2 relu(W1 [g_t, x, t] + b1) + b2)`` (2 layers, width 30).
- FuseNet on both feature sets, multiplying the backbone's (seed paper: ``f = FuseNet(concat(f, b)) * b``):
  ``s = V2 relu(V1 [e, h] + c1) + c2`` (2 layers, width 100, linear output as the paper writes no activation) and
  ``f(g_t, x, t) = B.head(h * s)``; ``V2 = 0``, ``c2 = 1`` at init, so ``s = 1`` and ``f(g_t, x, t) = B(x)``.
- Training (:meth:`training_forward`): ``g_t = (1 - t) y + t Z + eps t n`` with ``Z, n ~ N(0, 1)``, ``t ~ U(0, 1)``
  per coordinate, ``eps = 0.1``; ``f(g_t, x, t)`` is returned and the shared loop's task loss compares it with
  the observation ``y`` (never the clean tensor). Entries not observed (known from :meth:`setup`) carry no
  loss and have no value: there ``y`` in ``g_t`` is replaced by the backbone's current (detached) output.
- Inference (:meth:`predict`): ``g_1 = Z`` then ``g_{t-d} = (d/t) f(g_t, x, t) + (1 - d/t) g_t`` with
  ``d = 1/steps`` (the last step gives ``g_0 = f(g_d, x, d)``). ``Z`` is drawn once per grid point from ``seed``,
  so predictions are reproducible and independent of how the coordinates are chunked.
"""
from __future__ import annotations

import inspect

import numpy as np
import torch
from torch import nn

from inr_recover.errors import UserError
from inr_recover.measure.domain import Domain
from inr_recover.measure.grid import grid_index
from inr_recover.models.base import INR, build_model, model_config


class IINR(INR):
    needs_grid = needs_entries = True  # Z and the known mask per grid point; the target per coordinate
    def __init__(self, in_features: int, out_features: int, domain: Domain, backbone: str = "siren",
                 backbone_overrides: dict | None = None, feedback_width: int = 30, fuse_width: int = 100,
                 eps: float = 0.1, steps: int = 2, seed: int = 0):
        super().__init__()
        if steps < 1:
            raise UserError(f"model.steps must be >= 1, got {steps}")
        self.backbone = build_model(
            self.backbone_config(backbone, backbone_overrides), in_features, out_features, domain
        )
        with torch.no_grad():
            try:
                n_feat = self.backbone.features(torch.zeros(1, in_features)).shape[-1]
            except NotImplementedError:
                raise UserError(f"I-INR needs a backbone with features/head; '{backbone}' has none") from None
        self.grid, self.eps, self.steps = domain.grid, float(eps), int(steps)
        self.feedback = nn.Sequential(
            nn.Linear(out_features + in_features + 1, feedback_width),
            nn.ReLU(),
            nn.Linear(feedback_width, feedback_width),
            nn.ReLU(),
        )
        self.fuse = nn.Sequential(
            nn.Linear(feedback_width + n_feat, fuse_width), nn.ReLU(), nn.Linear(fuse_width, n_feat)
        )
        nn.init.zeros_(self.fuse[-1].weight)
        nn.init.ones_(self.fuse[-1].bias)
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("z", torch.randn(int(np.prod(self.grid)), out_features, generator=gen), persistent=False)
        self.register_buffer("known", torch.ones(1, dtype=torch.bool), persistent=False)  # all known until setup

    @staticmethod
    def backbone_config(backbone: str, overrides: dict | None) -> dict:
        """The backbone's config: ``conf/model/<backbone>.yaml`` updated with ``model.backbone_overrides``."""
        return model_config(backbone, overrides, exclude=("iinr",))

    @classmethod
    def backbone_node(cls, cfg: dict) -> tuple[str, dict]:
        """Where the backbone's options are set and its config, checked before any work
        (:mod:`inr_recover.config.validate`)."""
        default = inspect.signature(cls).parameters["backbone"].default
        return "model.backbone_overrides", cls.backbone_config(
            cfg.get("backbone", default), cfg.get("backbone_overrides")
        )

    def setup(self, observation, coords: torch.Tensor) -> None:
        self.backbone.setup(observation, coords)
        self.known = torch.from_numpy(observation.known.reshape(-1, observation.channels)).to(coords.device)

    def regularization(self):
        return self.backbone.regularization()

    def refine(self, h: torch.Tensor, g: torch.Tensor, coords: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``f(g_t, x, t) = B.head(FuseNet([FeedbackNet([g_t, x, t]), h]) * h)`` with ``h = B.features(x)``."""
        e = self.feedback(torch.cat([g, coords, t.expand(coords.shape[0], 1)], -1))
        return self.backbone.head(self.fuse(torch.cat([e, h], -1)) * h)

    def noised(self, target: torch.Tensor, z: torch.Tensor, n: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``g_t = (1 - t) target + t z + eps t n``."""
        return (1.0 - t) * target + t * z + self.eps * t * n

    def training_forward(self, coords: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        h = self.backbone.features(coords)
        if self.known.numel() > 1:
            known = self.known[grid_index(coords, self.grid)]
            target = torch.where(known, target, self.backbone.head(h).detach())
        t = torch.rand(coords.shape[0], 1, device=coords.device)
        g = self.noised(target, torch.randn_like(target), torch.randn_like(target), t)
        return self.refine(h, g, coords, t)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self.predict(coords)

    def predict(self, coords: torch.Tensor) -> torch.Tensor:
        h = self.backbone.features(coords)
        g = self.z[grid_index(coords, self.grid)]
        d = 1.0 / self.steps
        for k in range(self.steps, 0, -1):
            t = k * d
            f = self.refine(h, g, coords, torch.full((1, 1), t, device=coords.device))
            g = (d / t) * f + (1.0 - d / t) * g  # k = 1: d / t = 1, g_0 = f(g_d, x, d)
        return g
