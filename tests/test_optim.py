"""The optimiser and schedule (inr_recover/engine/optim.py) as the configs of conf/optim and conf/scheduler build
them."""

import pytest
import torch
from conftest import make_optim

from inr_recover.errors import UserError


def _lrs(optim, steps):
    w = torch.nn.Parameter(torch.ones(3))
    updater = optim.build([w])
    lrs = []
    for _ in range(steps):
        updater.step((w**2).sum())
        lrs.append(updater.lr)
    return updater, lrs


def test_adam_cosine_by_default_and_adamw_by_name():
    updater, lrs = _lrs(make_optim("optim.lr=0.1", "optim.iterations=4", "scheduler.eta_min=0.01"), 4)
    assert type(updater.optimizer) is torch.optim.Adam and updater.optimizer.defaults["weight_decay"] == 1e-5
    assert lrs[-1] == pytest.approx(0.01) and lrs == sorted(
        lrs, reverse=True
    )  # cosine to eta_min over optim.iterations
    assert type(_lrs(make_optim("optim=adamw"), 1)[0].optimizer) is torch.optim.AdamW


def test_scheduler_none_keeps_the_learning_rate():
    _, lrs = _lrs(make_optim("optim.lr=0.1", "scheduler=none"), 3)
    assert lrs == [0.1, 0.1, 0.1]


def test_gradient_clipping_bounds_the_norm():
    w = torch.nn.Parameter(torch.zeros(4))
    seen = []
    updater = make_optim("optim.grad_clip=0.5").build(
        [w], clip=lambda ps, c: seen.append(torch.nn.utils.clip_grad_norm_(ps, c))
    )
    updater.step((w - 10.0).square().sum())
    assert float(seen[0]) == pytest.approx(40.0) and float(w.grad.norm()) == pytest.approx(0.5, rel=1e-5)


def test_negative_iterations_is_a_user_error():
    with pytest.raises(UserError, match="optim.iterations must be >= 0"):
        make_optim("optim.iterations=-1")


def test_exponential_schedule_is_lr_gamma_to_the_t_over_T():
    """FINER/WIRE's LambdaLR(0.1 ** min(t / T, 1)): after t steps the lr is lr * gamma^(t / T), then stays."""
    _, lrs = _lrs(make_optim("optim.lr=0.2", "optim.iterations=4", "scheduler=exponential", "scheduler.gamma=0.1"), 6)
    assert lrs == pytest.approx([0.2 * 0.1 ** (t / 4) for t in (1, 2, 3, 4)] + [0.02, 0.02])


def test_auto_schedule_is_the_recipe_one():
    """scheduler=auto (the default) builds the protocol's: SIREN's recipe has none, FINER's the exponential decay."""
    from conftest import compose_config

    from inr_recover.engine.optim import Optim

    lrs = _lrs(Optim.from_config(compose_config("model=siren", "optim.iterations=2")), 2)[1]
    assert lrs == pytest.approx([1e-4, 1e-4])
    lrs = _lrs(Optim.from_config(compose_config("model=finer", "optim.iterations=2")), 2)[1]
    assert lrs == pytest.approx([5e-4 * 0.1**0.5, 5e-4 * 0.1])


def test_bacon_schedule_is_its_lr_log_schedule():
    """BACON's lr_log_schedule(nw=1, lr0=lr, lrn=1e-4) (training.py:370-372): the first step at 1% of lr, then
    lr (1e-4 / lr)^(t / T), a log-linear decay that ends at 1e-4; constant 1e-4 when lr is 1e-4 (FINER++'s SDF runs)."""
    import math

    updater, lrs = _lrs(make_optim("optim.lr=5e-4", "optim.iterations=4", "scheduler=bacon"), 4)
    assert updater.optimizer.param_groups[0]["lr"] == pytest.approx(5e-4 * 0.2)  # t = 4: lr_end
    assert lrs == pytest.approx([5e-4 * 0.2 ** (t / 4) for t in (1, 2, 3, 4)])
    first = _lrs(make_optim("optim.lr=5e-4", "optim.iterations=4", "scheduler=bacon"), 0)[0]
    assert first.optimizer.param_groups[0]["lr"] == pytest.approx(5e-4 * 0.01)  # step 0: lambdaw
    assert math.isclose(_lrs(make_optim("optim.lr=1e-4", "optim.iterations=9", "scheduler=bacon"), 5)[1][-1], 1e-4)


def test_amsgrad_comes_from_the_recipe():
    """FINER++'s SDF runs use Adam(amsgrad=True) but for WIRE (training.py:184-186); every other recipe PyTorch's
    default."""
    from conftest import compose_config

    from inr_recover.engine.optim import Optim

    for model, expected in (("siren", True), ("wire", False)):
        optim = Optim.from_config(compose_config("experiment=finerpp_sdf", f"model={model}", "optim.iterations=2"))
        assert _lrs(optim, 1)[0].optimizer.defaults["amsgrad"] is expected
    assert _lrs(make_optim(), 1)[0].optimizer.defaults["amsgrad"] is False
