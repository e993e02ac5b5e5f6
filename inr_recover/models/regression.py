"""Regression baselines on coordinates, ``model=knn``, ``model=tree``, ``model=forest``: the point-data baselines of
S-INR's Table 4 (k-nearest-neighbours regressor, decision tree, random forest; scikit-learn). No training loop
(:class:`~inr_recover.models.base.Solver`): a regressor is fitted on the observed samples' coordinates (those the model
would be queried at: the unit-sphere embedding of point data, the grid's coordinates otherwise) and predicts every
sample. Channels observed at the same samples share one multi-output regressor (all of them for point data, whose
points are observed whole); the others are fitted apart.

Hyper-parameters: the paper does not state them and the official repository has no baseline script (its only
regressor, ``KNeighborsRegressor(n_neighbors=3)``, fills the observation before segmentation), so each config gives
scikit-learn's defaults (``conf/model/knn.yaml``, ``tree.yaml``, ``forest.yaml``); ``model.options.<name>=`` sets any
argument of the scikit-learn class, and ``model.seed`` its ``random_state``.
"""
from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.neighbors import KNeighborsRegressor
from sklearn.tree import DecisionTreeRegressor

from inr_recover.errors import UserError
from inr_recover.measure.domain import Domain
from inr_recover.models.base import Solver

KINDS = {"knn": (KNeighborsRegressor, False), "tree": (DecisionTreeRegressor, True),
         "forest": (RandomForestRegressor, True)}  # kind -> (class, takes random_state)


def regressor(kind: str, options: dict | None = None, seed: int = 0):
    """A fresh scikit-learn regressor of ``kind`` with ``options`` (and ``random_state=seed`` where it has one)."""
    if kind not in KINDS:
        raise UserError(f"model.kind='{kind}' is not one of {', '.join(KINDS)}")
    cls, seeded = KINDS[kind]
    try:
        return cls(**(options or {}), **({"random_state": seed} if seeded else {}))
    except TypeError as e:
        raise UserError(f"model={kind}: {e}") from None


class Regressor(Solver):
    """``model=knn|tree|forest``: per group of channels observed at the same samples, a regressor fitted on the
    observed coordinates and evaluated at all of them (module doc)."""

    needs_entries = True

    def __init__(
        self,
        in_features: int,
        out_features: int,
        domain: Domain,
        kind: str = "knn",
        options: dict | None = None,
        seed: int = 0,
    ):
        super().__init__(in_features, out_features, domain)
        regressor(kind, options, seed)  # checks the options now
        self.kind, self.options, self.seed = kind, dict(options or {}), int(seed)

    def solve(self, observation) -> np.ndarray:
        x = observation.coordinates().numpy().astype(np.float64)
        values = observation.values.reshape(x.shape[0], -1)
        known = observation.known.reshape(values.shape)
        out = np.zeros(values.shape, dtype=np.float64)
        groups: dict[bytes, list[int]] = {}
        for c in range(values.shape[1]):
            groups.setdefault(np.packbits(known[:, c]).tobytes(), []).append(c)
        for chans in groups.values():
            rows = known[:, chans[0]]
            if not rows.any():
                raise UserError(f"model={self.kind}: channel {chans[0]} has no observed sample to fit")
            try:
                target = values[rows][:, chans]
                model = regressor(self.kind, self.options, self.seed).fit(
                    x[rows], target if len(chans) > 1 else target[:, 0]
                )
            except ValueError as e:  # e.g. fewer observed samples than neighbours
                raise UserError(f"model={self.kind}: {' '.join(str(e).split())}") from None
            out[:, chans] = np.asarray(model.predict(x)).reshape(x.shape[0], len(chans))
        return out.reshape(observation.values.shape)
