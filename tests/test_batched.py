"""K fits as one vmapped model (inr_recover/engine/batched.py, experiment.run_group, the batch=seeds|lr sweeper in
hydra_plugins/inr_recover_batch): the same numbers and files as K separate runs."""
from __future__ import annotations

import json
import logging
import os
import signal

import numpy as np
import pytest
import torch
from conftest import TINY, compose_config, make_optim, read_results, run_cli, run_pipeline

from inr_recover.data.builtin import synthetic
from inr_recover.engine.batched import Group, fit_group, refusal, unbatchable
from inr_recover.engine.fit import Trainer
from inr_recover.engine.select import Final
from inr_recover.errors import UserError
from inr_recover.measure.degrade import RandomMissing, degrade
from inr_recover.measure.domain import Domain
from inr_recover.models.choir import CHOIR
from inr_recover.models.classical import Interp
from inr_recover.models.fresh import FreSh
from inr_recover.run.checkpoint import Checkpoint
from inr_recover.run.experiment import run_group
from inr_recover.tasks.entries import Recovery
from inr_recover.tasks.shapes.labels import LABELS

OPTIM = make_optim(
    "optim.lr=3e-3", "optim.weight_decay=1e-5", "optim.iterations=25", "scheduler.eta_min=1e-6", "optim.grad_clip=0.05"
)
TASK = Recovery("complete")


def _obs():
    return degrade(synthetic("s", shape=[16, 16, 3], kind="smooth").values, [RandomMissing(0.3)], seed=0)


def _trainer(seed, obs, batch_size=None, checkpoint=None, on_eval=None, optim=OPTIM, memory_limit=None):
    torch.manual_seed(seed)
    model = CHOIR(2, 3, Domain.of(obs), width=16, depth=2)
    return Trainer(
        model,
        obs,
        TASK,
        optim,
        Final(TASK, obs, seed),
        seed=seed,
        eval_every=10,
        batch_size=batch_size,
        checkpoint=checkpoint,
        on_eval=on_eval,
        memory_limit=memory_limit,
    )


@pytest.mark.parametrize("batch_size", [None, 100])
def test_group_equals_separate_fits(batch_size):
    """Clipping is active (small max norm), the seeds differ and each member draws its own mini-batches: a shared norm,
    a shared batch or mixed-up slices would show."""
    obs = _obs()
    group = fit_group([_trainer(s, obs, batch_size) for s in (0, 1, 2)])
    for s, r in zip((0, 1, 2), group):
        alone = _trainer(s, obs, batch_size).run()
        np.testing.assert_allclose(r.prediction, alone.prediction, atol=2e-5)
        np.testing.assert_allclose(r.history["loss"], alone.history["loss"], rtol=1e-4)
        assert r.iterations == alone.iterations == 25
    assert np.abs(group[0].prediction - group[1].prediction).max() > 1e-2  # different seeds, different fits


def test_a_member_resumed_from_its_checkpoint_waits_for_the_group(tmp_path):
    """Member 0 was interrupted at iteration 10 (its checkpoint); member 1 starts fresh: both end as uninterrupted
    fits, so member 0 takes no step until the group reaches iteration 11."""
    obs = _obs()

    def interrupt(iteration, prediction):
        if iteration == 10:
            raise KeyboardInterrupt

    ck = lambda: Checkpoint(tmp_path / "0.pt", 0, "sha")  # noqa: E731
    assert _trainer(0, obs, checkpoint=ck(), on_eval=interrupt).run().interrupted
    resumed = fit_group([_trainer(0, obs, checkpoint=ck()), _trainer(1, obs)])
    for s, r in zip((0, 1), resumed):
        np.testing.assert_allclose(r.prediction, _trainer(s, obs).run().prediction, atol=2e-5)
        assert r.history["iteration"] == [10, 20, 25]


def test_a_diverging_member_leaves_the_group_the_others_finish():
    obs = _obs()
    hot = make_optim("optim.lr=1e30", "optim.iterations=25", "optim.grad_clip=null")
    ok, bad = fit_group([_trainer(0, obs), _trainer(1, obs, optim=hot)])
    np.testing.assert_allclose(ok.prediction, _trainer(0, obs).run().prediction, atol=2e-5)
    assert isinstance(bad, UserError) and "lower optim.lr" in str(bad)


def test_a_group_checkpoints_every_member_then_hands_the_requeue_signal_on(tmp_path):
    """USR2 (submitit's requeue signal) at iteration 10: every member's state is checkpointed first, then the handler
    installed before (submitit's "checkpoint and requeue") gets the signal, as for a single fit; when it returns,
    the group trains on to the end, to the uninterrupted fits."""
    obs, calls = _obs(), []
    paths = [tmp_path / f"{s}.pt" for s in (0, 1)]

    def submitit_like(signum, frame):
        calls.append((signum, [torch.load(p, weights_only=False)["iteration"] for p in paths]))

    def on_eval(i, pred):
        if i == 10:
            os.kill(os.getpid(), signal.SIGUSR2)

    previous = signal.signal(signal.SIGUSR2, submitit_like)
    try:
        results = fit_group(
            [
                _trainer(0, obs, checkpoint=Checkpoint(paths[0], 0, "sha"), on_eval=on_eval),
                _trainer(1, obs, checkpoint=Checkpoint(paths[1], 0, "sha")),
            ]
        )
        assert signal.getsignal(signal.SIGUSR2) is submitit_like
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert calls == [(signal.SIGUSR2, [10, 10])]
    for s, r in zip((0, 1), results):
        assert r.iterations == 25
        np.testing.assert_allclose(r.prediction, _trainer(s, obs).run().prediction, atol=2e-5)


def test_a_group_that_would_not_fit_in_memory_is_refused_before_training():
    """The memory check counts the K members (their models, optimiser states, gradients and saved tensors): with a
    budget between one member's estimate and the group's, a member alone trains and the group is refused before
    its first update, naming what would fit."""
    obs, seen = _obs(), []
    one = _trainer(0, obs, memory_limit=1000).check_memory()["estimate_mb"]
    four = _trainer(0, obs, memory_limit=1000).check_memory(4)["estimate_mb"]
    assert 3.5 * one < four <= 4 * one
    limit = (one + four) / 2 / 1024  # GiB
    assert _trainer(0, obs, memory_limit=limit).run().iterations == 25
    with pytest.raises(UserError, match="memory_limit"):
        fit_group([_trainer(s, obs, memory_limit=limit, on_eval=lambda i, p: seen.append(i)) for s in range(4)])
    assert seen == []


def test_what_cannot_be_batched_says_why():
    class Hooked(CHOIR):
        def regularization(self):
            return 0.0

    assert unbatchable(CHOIR) is None
    assert unbatchable(Hooked) == "Hooked overrides regularization"
    assert unbatchable(FreSh) == "FreSh overrides setup"  # its spectrum search depends on the data
    assert unbatchable(Interp) == "Interp has no training loop"
    grid = (8, 8)
    assert (
        refusal(
            [CHOIR(2, 3, Domain.on_grid(grid), width=8, depth=1), CHOIR(2, 3, Domain.on_grid(grid), width=16, depth=1)]
        )
        == "the members' models differ in their parameters' shapes"
    )
    with pytest.raises(UserError, match="overrides regularization: run the members as separate jobs"):
        Group([Trainer(Hooked(2, 3, Domain.of(_obs()), width=8, depth=1), _obs(), TASK, OPTIM, Final(TASK, _obs(), 0))])


def _holdout(run_dir):
    return np.load(run_dir / "reconstruction.npz")["holdout"]


FIT = [*TINY, "optim.iterations=12", "eval_every=3", "optim.grad_clip=0.05"]


@pytest.mark.parametrize(
    "key, values, select",
    [
        ("seed", (0, 1, 2), "final"),
        ("seed", (0, 1), "holdout"),
        ("optim.lr", (1e-3, 3e-2), "final"),
        ("optim.lr", (1e-3, 3e-2), "holdout"),
    ],
)
def test_run_group_writes_what_separate_runs_write(tmp_path, key, values, select):
    """Each member's results.json equals its separate run's: metrics, selection (its own holdout from its own seed),
    the oracle diagnostic, iterations; plus the record of the group it ran in."""
    runs = [(*FIT, f"select={select}", f"{key}={v}") for v in values]
    grouped = run_group([compose_config(*o) for o in runs], [tmp_path / f"g{k}" for k in range(len(runs))], key)
    for k, o in enumerate(runs):
        alone = run_pipeline(tmp_path / f"a{k}", *o)
        g = read_results(tmp_path / f"g{k}")
        assert g == json.loads(json.dumps(grouped[k]))
        assert g["config_sha"] == alone["config_sha"]  # the same run: resumable either way
        assert g["selection"] == alone["selection"] and g["iterations"] == alone["iterations"] == 12
        for m in ("psnr", "ssim"):
            assert g["metrics"][m] == pytest.approx(alone["metrics"][m], abs=1e-4)
        assert g["oracle"]["psnr_peak"] == pytest.approx(alone["oracle"]["psnr_peak"], abs=1e-4)
        assert g["oracle"]["iteration"] == alone["oracle"]["iteration"]
        assert g["batch"]["members"] == len(values) and "batch" not in alone
        assert sorted(p.name for p in (tmp_path / f"g{k}").iterdir()) == sorted(
            p.name for p in (tmp_path / f"a{k}").iterdir()
        )
        if select == "holdout":
            np.testing.assert_array_equal(_holdout(tmp_path / f"g{k}"), _holdout(tmp_path / f"a{k}"))
    if select == "holdout" and key == "seed":
        assert not np.array_equal(_holdout(tmp_path / "g0"), _holdout(tmp_path / "g1"))  # each seed its own holdout


def test_run_group_skips_complete_members_and_falls_back_when_models_differ(tmp_path, caplog):
    dirs = [tmp_path / f"m{k}" for k in range(3)]
    first = run_group([compose_config(*FIT, f"seed={s}") for s in (0, 1)], dirs[:2], "seed")
    again = run_group([compose_config(*FIT, f"seed={s}") for s in (0, 1, 2)], dirs, "seed")
    assert again[:2] == [json.loads(json.dumps(r)) for r in first]  # read back untouched, not refitted
    assert "batch" not in again[2]  # the one member left ran alone
    assert again[2]["metrics"]["psnr"] == pytest.approx(
        run_pipeline(tmp_path / "alone", *FIT, "seed=2")["metrics"]["psnr"], abs=1e-4
    )
    with caplog.at_level(logging.WARNING, logger="inr_recover"):
        mixed = run_group(
            [compose_config(*FIT, f"model.width={w}") for w in (8, 16)],
            [tmp_path / "w8", tmp_path / "w16"],
            "model.width",
        )
    assert (
        "batch: the members' models differ in their parameters' shapes; the 2 members run one after another"
        in caplog.text
    )
    assert [r["status"] for r in mixed] == ["complete", "complete"] and all("batch" not in r for r in mixed)


def test_cli_batch_seeds_runs_five_seeds_as_one_job_with_five_complete_runs(tmp_path):
    """The issue's command on the tiny config: one process fits the 5 seeds; each seed's run directory is the one it
    has without batch= (same name, its own overrides.yaml, complete results.json); the summary's mean +- std is over
    the 5; relaunching skips them all."""
    proc, out = run_cli(tmp_path, *TINY, "seed=0,1,2,3,4", "batch=seeds", multirun=True)
    assert "batch: jobs 0-4 (seed=0,1,2,3,4) run as one vmapped model" in proc.stdout + proc.stderr
    assert "Launching 1 jobs locally" in proc.stdout + proc.stderr
    runs = [out / f"{s}_choir_synthetic_random_0.1_s{s}" for s in range(5)]
    results = [read_results(d) for d in runs]
    assert [(r["status"], r["seed"], r["batch"]["members"]) for r in results] == [("complete", s, 5) for s in range(5)]
    assert len({r["process"]["pid"] for r in results}) == 1
    for s, d in enumerate(runs):
        overrides = (d / ".hydra" / "overrides.yaml").read_text()
        assert f"- seed={s}\n" in overrides and "batch.members" not in overrides and "- batch=seeds\n" in overrides
        assert {"mask.npz", "reconstruction.npz", "curves.csv"} <= {p.name for p in d.iterdir()}
    psnr = [r["metrics"]["psnr"] for r in results]
    assert f"**{np.mean(psnr):.2f} ± {np.std(psnr):.2f}**" in (out / "summary.md").read_text()
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [*(d.name for d in runs), "batch"]

    run_cli(tmp_path, *TINY, "seed=0,1,2,3,4", "batch=seeds", multirun=True)
    assert [read_results(d)["process"] for d in runs] == [r["process"] for r in results]  # complete: not refitted


def test_cli_batch_falls_back_to_separate_jobs_for_a_method_without_a_training_loop(tmp_path):
    """CHOIR's seeds are one job; interp's two run as separate jobs with a one-line notice, each in the run directory
    it has without batch= (job numbers 2 and 3, though they are launched second and third)."""
    common = ["data=synthetic", "optim.iterations=2", "eval_every=2", "metrics=fast", "save.figures=false"]
    proc, out = run_cli(tmp_path, *common, "model=choir,interp", "seed=0,1", "batch=seeds", multirun=True)
    log = proc.stdout + proc.stderr
    assert "batch: Interp has no training loop; its 2 jobs (seed=0,1) run as separate processes" in log
    assert "Launching 3 jobs locally" in log
    names = [
        "0_choir_synthetic_random_0.1_s0",
        "1_choir_synthetic_random_0.1_s1",
        "2_interp_synthetic_random_0.1_s0",
        "3_interp_synthetic_random_0.1_s1",
    ]
    results = [read_results(out / n) for n in names]
    assert [r["status"] for r in results] == ["complete"] * 4
    assert ["batch" in r for r in results] == [True, True, False, False]


def _group_step_equals_alone(trainer) -> list:
    """One group step of members ``trainer(0)``, ``trainer(1)`` gives each the loss and gradients of its own step alone
    (to float summation order); returns the members' gradients."""
    members = [trainer(0), trainer(1)]
    losses = Group(members).step(members)
    grads = [[p.grad for p in t.model.parameters()] for t in members]
    for s in (0, 1):
        alone = trainer(s)
        assert float(losses[s].detach()) == pytest.approx(float(alone.step().detach()), rel=1e-5)
        for g, ref in zip(grads[s], (p.grad for p in alone.model.parameters())):
            torch.testing.assert_close(g, ref, rtol=1e-4, atol=1e-5 * float(ref.abs().max()) + 1e-8)
    return grads


BATCHABLE = ["choir", "siren", "pemlp", "gauss", "wire", "finer", "finer_gauss", "finer_wavelet", "scone"]


@pytest.mark.parametrize("name", BATCHABLE)
def test_every_batchable_method_gives_its_own_loss_and_gradient_in_a_group(name):
    """Each method the sweeper batches (no hook overridden) runs under vmap: one group step gives each member the loss
    and gradient of its own step alone (to float summation order), and the members' differ."""
    from inr_recover.models.base import build_model

    obs = degrade(synthetic("s", shape=[8, 8, 3], kind="smooth").values, [RandomMissing(0.5)], seed=0)
    cfg = compose_config(f"model={name}").model
    optim = make_optim("optim.iterations=1", "optim.grad_clip=null")

    def trainer(seed):
        torch.manual_seed(seed)
        model = build_model(cfg, 2, 3, Domain.of(obs))
        assert unbatchable(type(model)) is None
        return Trainer(model, obs, TASK, optim, Final(TASK, obs, seed), seed=seed)

    grads = _group_step_equals_alone(trainer)
    assert any(not torch.allclose(a, b) for a, b in zip(*grads))


@pytest.mark.parametrize("batch_size", [None, 64])
def test_a_group_with_an_eikonal_term_gives_each_member_its_own_loss_and_gradient(batch_size):
    """task=sdf with task.eikonal: the term in each member's input gradients is that member's own, full batch (the
    members then differentiate their own copy of the inputs) or mini-batch."""
    import trimesh

    from inr_recover.models.siren import SIREN
    from inr_recover.tasks.shapes import mesh as shapes
    from inr_recover.tasks.shapes.task import ShapeField

    ico = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    mesh = shapes.Mesh(np.asarray(ico.vertices, np.float64), np.asarray(ico.faces, np.int64))
    coords, values = shapes.sample(mesh, 200, LABELS["sdf"], seed=0)
    obs = degrade(values, [], seed=0, coords=coords)
    task = ShapeField("sdf", range=[0, 1], eikonal=0.1)
    optim = make_optim("optim.iterations=1", "optim.grad_clip=null")

    def trainer(seed):
        torch.manual_seed(seed)
        return Trainer(
            SIREN(3, 1, Domain.of(obs), width=16, depth=1),
            obs,
            task,
            optim,
            Final(task, obs, seed),
            seed=seed,
            batch_size=batch_size,
        )

    _group_step_equals_alone(trainer)


def test_a_group_rendering_rays_gives_each_member_its_own_loss_and_gradient():
    """task=view_synthesis: each member renders its own jittered samples of its own rays (the Rendered measurement's
    bins travel with each member's batch), as it would alone."""
    from inr_recover.models.siren import SIREN
    from inr_recover.tasks.views.rays import Rays, camera_rays, near_far
    from inr_recover.tasks.views.scene import Camera
    from inr_recover.tasks.views.task import ViewSynthesis

    pose = np.eye(4)
    pose[2, 3] = 3.0
    rays = camera_rays(pose, Camera.of_frame({"camera_angle_x": 0.8}, {}, 6, 6), 1.0)
    table = np.concatenate([rays, near_far(rays, 0.2)], -1).astype(np.float32)
    values = np.random.default_rng(0).random((1, 6, 6, 3)).astype(np.float32)
    obs = degrade(values, [], seed=0)
    obs = type(obs)(values=obs.values, known=obs.known, geometry=Rays(table, samples=5))
    task = ViewSynthesis("view_synthesis", range=[0, 1])
    optim = make_optim("optim.iterations=1", "optim.grad_clip=null")

    def trainer(seed):
        torch.manual_seed(seed)
        return Trainer(
            SIREN(3, 4, Domain.of(obs), width=16, depth=1),
            obs,
            task,
            optim,
            Final(task, obs, seed),
            seed=seed,
            batch_size=16,
        )

    grads = _group_step_equals_alone(trainer)
    assert any(not torch.allclose(a, b) for a, b in zip(*grads))
