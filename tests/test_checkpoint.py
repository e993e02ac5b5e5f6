"""Resumable fits and sweeps (inr_recover/checkpoint.py): checkpoint contents, SIGTERM, relaunching a killed sweep,
refusing another config's results (the last two in subprocesses: they are about the process)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import torch

from conftest import TINY, cli_command, make_optim, read_results
from inr_recover.checkpoint import Checkpoint
from inr_recover.data.builtin import synthetic
from inr_recover.degrade import RandomMissing, degrade
from inr_recover.errors import UserError
from inr_recover.fit import fit
from inr_recover.models.choir import CHOIR
from inr_recover.select import Holdout
from inr_recover.tasks import Task

OPTIM = make_optim("optim.lr=3e-3", "optim.weight_decay=1e-5", "optim.iterations=20", "scheduler.eta_min=1e-6", "optim.grad_clip=1.0")


def _fit(seed, **kw):
    obs = degrade(synthetic("s", shape=[16, 16, 3], kind="smooth").values, [RandomMissing(0.5)], seed=0)
    torch.manual_seed(seed)
    model = CHOIR(2, 3, obs.grid, width=16, depth=2)
    select = Holdout(Task("complete"), obs, 0, fraction=0.1, error="trimmed", trim=0.1, every=0)
    return fit(model, obs, Task("complete"), OPTIM, select, seed=0, eval_every=4, batch_size=64, **kw)


def test_resumed_fit_equals_uninterrupted(tmp_path):
    """SIGTERM at iteration 10 saves the state and exits 143; a fresh process-like restart (new model from another
    init) continues from the checkpoint to the bit-identical result of an uninterrupted fit, including mini-batch
    sampling, Adam moments, the cosine schedule, holdout selection and the caller's extra state."""
    ref = _fit(0)
    path = tmp_path / "ck.pt"
    extra = {"seen": []}

    def on_eval(i, pred):
        extra["seen"].append(i)
        if i == 8:
            os.kill(os.getpid(), signal.SIGTERM)  # handled at the end of the iteration: checkpoint, then exit

    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as e:
        _fit(0, on_eval=on_eval, checkpoint=Checkpoint(path, every=3, meta="m", extra=extra))
    assert e.value.code == 128 + signal.SIGTERM and signal.getsignal(signal.SIGTERM) is handler
    state = torch.load(path, weights_only=False)
    assert state["iteration"] == 8 and state["history"]["iteration"] == [4, 8] and state["extra"] == {"seen": [4, 8]}

    extra2 = {"seen": ["overwritten"]}
    res = _fit(123, on_eval=lambda i, p: extra2["seen"].append(i),
               checkpoint=Checkpoint(path, every=3, meta="m", extra=extra2))
    assert res.iterations == 20 and extra2["seen"] == [4, 8, 12, 16, 20]
    np.testing.assert_array_equal(res.prediction, ref.prediction)
    timeless = lambda h: {k: v for k, v in h.items() if k != "seconds"}  # noqa: E731 (wall-clock time differs)
    assert res.selected_iteration == ref.selected_iteration and timeless(res.history) == timeless(ref.history)
    assert res.history["seconds"] == sorted(res.history["seconds"])  # time to quality keeps counting across the resume
    assert torch.load(path, weights_only=False)["iteration"] == 18  # periodic saves continued (every 3)


def test_checkpoint_of_another_config_is_refused(tmp_path):
    path = tmp_path / "ck.pt"
    _fit(0, checkpoint=Checkpoint(path, every=5, meta="a"))
    with pytest.raises(UserError, match="different configuration"):
        _fit(0, checkpoint=Checkpoint(path, every=5, meta="b"))


SWEEP = [*TINY, "eval_every=100"]


def _wait_for(path, proc, timeout=120):
    t = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t < timeout, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.slow
def test_killed_sweep_relaunch_skips_finished_and_resumes_interrupted(tmp_path):
    """A 2-job sweep is killed (SIGTERM, as SLURM preemption) while job 1 trains. The relaunch with the same sweep
    dir leaves job 0's outputs byte-for-byte and mtime untouched, resumes job 1 from its checkpoint, and job 1 ends
    with the requested iteration count and the same numbers as an uninterrupted run of the same config."""
    over = [*SWEEP, "optim.iterations=3000", "checkpoint.every=100", "seed=0,1"]
    cmd, env, out = cli_command(tmp_path, *over, multirun=True)
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    job0, job1 = out / "0_choir_synthetic_random_0.1_s0", out / "1_choir_synthetic_random_0.1_s1"
    _wait_for(job1 / "checkpoint.pt", proc)
    proc.send_signal(signal.SIGTERM)
    log = proc.communicate(timeout=120)[0]
    assert proc.returncode == 128 + signal.SIGTERM, log
    assert read_results(job0)["status"] == "complete" and not (job1 / "results.json").exists()
    stopped_at = torch.load(job1 / "checkpoint.pt", weights_only=False)["iteration"]
    assert 0 < stopped_at < 3000
    finished = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in job0.iterdir() if p.is_file() and p.suffix != ".log"}

    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert {n: (p.read_bytes(), p.stat().st_mtime_ns) for n, p in ((n, job0 / n) for n in finished)} == finished
    assert "skipped" in again.stdout + again.stderr and "resuming from" in again.stdout + again.stderr
    r1 = read_results(job1)
    assert r1["status"] == "complete" and r1["iterations"] == 3000 and not (job1 / "checkpoint.pt").exists()

    ref_cmd, _, ref_out = cli_command(tmp_path / "ref", *[o.replace("seed=0,1", "seed=1") for o in over])
    (tmp_path / "ref").mkdir()
    subprocess.run(ref_cmd, cwd=tmp_path, env=env, check=True, capture_output=True, timeout=600)
    ref = read_results(ref_out)
    assert r1["metrics"] == ref["metrics"] and r1["config_sha"] == ref["config_sha"]
    np.testing.assert_array_equal(np.load(job1 / "reconstruction.npz")["prediction"], np.load(ref_out / "reconstruction.npz")["prediction"])


@pytest.mark.slow
def test_relaunch_of_a_different_config_in_the_same_dir_is_refused(cli, tmp_path):
    TINY4 = [*SWEEP, "optim.iterations=4"]
    _, out = cli(*TINY4)
    before = (out / "results.json").read_bytes()
    proc, _ = cli(*TINY4, "optim.lr=1e-3", check=False)
    assert proc.returncode == 2 and "different configuration" in proc.stderr
    assert (out / "results.json").read_bytes() == before
    proc, _ = cli(*TINY4)  # same config: skipped, nothing rewritten
    assert "skipped" in proc.stdout + proc.stderr and (out / "results.json").read_bytes() == before
    cli(*TINY4, "optim.lr=1e-3", "checkpoint.resume=false")
    assert json.loads((out / "results.json").read_text())["config_sha"] != json.loads(before)["config_sha"]


def test_resumed_fit_stops_early_where_an_uninterrupted_one_does(tmp_path):
    """``select.patience``: SIGTERM at iteration 20 (after the selected iteration 15, before the stop at 35); the
    resumed fit restores the selection from the checkpoint and stops at 35 with the uninterrupted fit's headline."""
    from conftest import overfitting_restore

    ref = overfitting_restore(patience=20, min_iterations=30)
    path = tmp_path / "ck.pt"

    def on_eval(i, pred):
        if i == 20:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(SystemExit):
        overfitting_restore(patience=20, min_iterations=30, on_eval=on_eval, checkpoint=Checkpoint(path, every=0, meta="m"))
    assert torch.load(path, weights_only=False)["selected"]["iteration"] == 15
    res = overfitting_restore(seed=1, patience=20, min_iterations=30, checkpoint=Checkpoint(path, every=0, meta="m"))
    assert res.iterations == res.selection["stopped_early_at"] == ref.iterations == 35
    assert res.selected_iteration == ref.selected_iteration == 15
    np.testing.assert_array_equal(res.prediction, ref.prediction)
    assert 0 < res.seconds_to_selected < res.train_seconds
