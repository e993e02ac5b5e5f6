"""``task=view_synthesis``: a radiance field trained on the rays of posed training views, rendered at the test views
and scored there only."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, ClassVar, Literal

import torch

from inr_recover.config.schema import Positive
from inr_recover.errors import UserError
from inr_recover.measure.observation import Observation
from inr_recover.models.base import model_class
from inr_recover.tasks.base import Field, Query
from inr_recover.tasks.losses import LOSSES
from inr_recover.tasks.views.evaluation import ViewEvaluation
from inr_recover.tasks.views.rays import Rays
from inr_recover.tasks.views.scene import load_blender


@dataclass
class ViewSynthesis(Field):
    """``task=view_synthesis``: a radiance field trained on the rays of posed training views
    (:mod:`inr_recover.tasks.views.rays`:
    the network maps a sample's position to density and colour, composited along each ray), rendered at the test
    views and scored there only (:class:`~inr_recover.tasks.views.evaluation.ViewEvaluation`)."""

    loss: Literal[tuple(LOSSES)] | None = "l2"  # torch-ngp's MSELoss (FINER's NeRF script)
    batch_size: int | None = 4096  # rays per step (torch-ngp --num_rays 4096)
    samples: Positive = 128  # stratified samples per ray
    eval_every: Positive = 1000  # the default eval_every: an evaluation renders every training ray
    eval_chunk: Positive = (
        4096  # the default eval_chunk: rays per forward pass in rendering (torch-ngp --max_ray_batch)
    )
    loader: ClassVar[Callable] = load_blender
    data_is: ClassVar[str] = "posed views of a scene: use task=view_synthesis"
    takes: ClassVar[str] = "posed views of a scene (data=lego, or data=blender data.scene=NAME data.root=DIR)"
    raw: ClassVar[str] = "raw outputs (a density before exp, a colour before the renderer's sigmoid)"

    def check(self, c: dict, solver: bool) -> None:
        super().check(c, solver)
        reason = Rays.refusal(model_class(c["model"]), c["model"].get("name", c["model"]["_target_"]))
        if reason:
            raise UserError(reason)

    def query(self, obs: Observation, signal, trains: bool, device) -> tuple[Observation, Query | None]:
        """The training views as pixels rendered along their rays (:class:`~inr_recover.tasks.views.rays.Rendered`); the
        test views' rays rendered for the reconstruction."""
        test = Rays(signal.test_rays, int(self.samples), signal.background)
        obs = replace(obs, geometry=Rays(signal.rays, int(self.samples), signal.background))
        return obs, Query(torch.from_numpy(signal.test_rays).to(device), signal.test.shape[:3], render=test.render)

    def evaluation(self, signal, obs: Observation, forward=None) -> ViewEvaluation:
        return ViewEvaluation(self, signal, obs, forward)
