"""What the field of a 3-D shape outputs (``task.shape``, which sets ``data.label``): one strategy object per label,
named once in :data:`LABELS`, holding all that differs between them: how the training points are labelled, which
side of the zero level is inside, the fit to the training labels, and the figure's error panel."""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from inr_recover.errors import UserError


class Label:
    """A label of a shape's points: ``of(mesh, points)`` the training target, the network's output on the same scale,
    whose zero level (``threshold`` for the labels) is the surface."""

    name: ClassVar[str]
    distance: ClassVar[bool]  # whether the output is a distance (the eikonal term, BACON's cloud labels apply)
    threshold: ClassVar[float]  # the labels' value on the surface

    def of(self, mesh, points: np.ndarray) -> np.ndarray:
        """The labels ``(N,)`` float64 of ``points`` against ``mesh`` (a :class:`~.mesh.Mesh` or ``Cloud``)."""
        raise NotImplementedError

    def inside(self, volume: np.ndarray) -> np.ndarray:
        """Where the network's output says "inside"."""
        raise NotImplementedError

    def truth(self, mesh, points: np.ndarray) -> np.ndarray:
        """The true field on the network's scale (zero on the surface), for the figure."""
        return self.of(mesh, points) - self.threshold

    def fit(self, prediction: np.ndarray, labels: np.ndarray) -> dict:
        """The fit of the output to the training labels (``results.json`` ``observed``)."""
        raise NotImplementedError

    def error(self, recon: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, str]:
        """The figure's error panel between the output and :meth:`truth`, and its title."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class SignedDistance(Label):
    """``task=sdf``: the exact signed distance, negative inside (SCONE, FINER++ Table 2)."""

    name, distance, threshold = "sdf", True, 0.0

    def of(self, mesh, points):
        return mesh.sdf(points)

    def inside(self, volume):
        return volume <= 0

    def fit(self, prediction, labels):
        return {"fraction": 1.0, "rmse_fit": float(np.sqrt(np.mean((prediction - labels) ** 2)))}

    def error(self, recon, truth):
        return np.abs(recon - truth), "|SDF error|"


class Occupancy(Label):
    """``task=occupancy``: 1 inside (generalised winding number >= 1/2), 0 outside; the network's output is the logit
    of "inside", trained with binary cross-entropy."""

    name, distance, threshold = "occupancy", False, 0.5

    def of(self, mesh, points):
        return mesh.inside(points).astype(np.float64)

    def inside(self, volume):
        return volume >= 0

    def fit(self, prediction, labels):
        return {"fraction": 1.0, "accuracy_fit": float(np.mean((prediction >= 0) == (labels >= self.threshold)))}

    def error(self, recon, truth):
        return (self.inside(recon) != self.inside(truth)).astype(float), "inside/outside disagree"


LABELS = {label.name: label for label in (SignedDistance(), Occupancy())}


def label_named(name: str) -> Label:
    """The strategy of ``data.label=name``; a one-line error naming the choices otherwise."""
    if name not in LABELS:
        raise UserError(f"data.label='{name}' is not one of {', '.join(LABELS)}")
    return LABELS[name]
