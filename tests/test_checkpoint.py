"""Resumable fits and runs (inr_recover/run/checkpoint.py): checkpoint contents, SIGTERM, USR2 and Ctrl-C at a known
iteration, relaunching into a finished, another config's or an interrupted run dir, and a killed sweep (the CLI in
subprocesses where the behaviour is about the process: exit codes, signals, stderr)."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import numpy as np
import pytest
import torch
from conftest import TINY, cli_command, make_optim, read_curves, read_results, run_cli, run_pipeline

from inr_recover.data.builtin import synthetic
from inr_recover.engine.fit import fit
from inr_recover.engine.select import Holdout
from inr_recover.errors import UserError
from inr_recover.measure.degrade import RandomMissing, degrade
from inr_recover.measure.domain import Domain
from inr_recover.models.choir import CHOIR
from inr_recover.run.checkpoint import Checkpoint
from inr_recover.tasks.entries import Recovery

OPTIM = make_optim(
    "optim.lr=3e-3", "optim.weight_decay=1e-5", "optim.iterations=20", "scheduler.eta_min=1e-6", "optim.grad_clip=1.0"
)


def _fit(seed, **kw):
    obs = degrade(synthetic("s", shape=[16, 16, 3], kind="smooth").values, [RandomMissing(0.5)], seed=0)
    torch.manual_seed(seed)
    model = CHOIR(2, 3, Domain.of(obs), width=16, depth=2)
    select = Holdout(Recovery("complete"), obs, 0, fraction=0.1, error="trimmed", trim=0.1, every=0)
    return fit(model, obs, Recovery("complete"), OPTIM, select, seed=0, eval_every=4, batch_size=64, **kw)


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
    res = _fit(
        123, on_eval=lambda i, p: extra2["seen"].append(i), checkpoint=Checkpoint(path, every=3, meta="m", extra=extra2)
    )
    assert res.iterations == 20 and extra2["seen"] == [4, 8, 12, 16, 20]
    np.testing.assert_array_equal(res.prediction, ref.prediction)
    timeless = lambda h: {k: v for k, v in h.items() if k != "seconds"}  # noqa: E731 (wall-clock time differs)
    assert res.selected_iteration == ref.selected_iteration and timeless(res.history) == timeless(ref.history)
    assert res.history["seconds"] == sorted(res.history["seconds"])  # time to quality keeps counting across the resume
    assert torch.load(path, weights_only=False)["iteration"] == 18  # periodic saves continued (every 3)


def test_requeue_signal_checkpoints_then_goes_to_the_previous_handler(tmp_path):
    """USR2 (submitit's requeue signal) at iteration 8: the state is checkpointed first, then the handler installed
    before the fit (submitit's "checkpoint and requeue") gets the signal; when that handler returns, training goes
    on to the end, and the fit's own handlers are gone afterwards."""
    path, calls = tmp_path / "ck.pt", []

    def submitit_like(signum, frame):
        calls.append((signum, torch.load(path, weights_only=False)["iteration"]))

    def on_eval(i, pred):
        if i == 8:
            os.kill(os.getpid(), signal.SIGUSR2)

    previous = signal.signal(signal.SIGUSR2, submitit_like)
    try:
        res = _fit(0, on_eval=on_eval, checkpoint=Checkpoint(path, every=0, meta="m"))
        assert signal.getsignal(signal.SIGUSR2) is submitit_like
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert calls == [(signal.SIGUSR2, 8)] and res.iterations == 20


def test_requeue_signal_in_a_subprocess_checkpoints_and_exits(tmp_path):
    """The CLI process sent USR2 (no submitit handler: the signal's default ends it) checkpoints and exits 128 +
    USR2."""
    over = [*SWEEP, "optim.iterations=100000", "checkpoint.every=20"]
    cmd, env, out = cli_command(tmp_path, *over)
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_for(out / "checkpoint.pt", proc)
    proc.send_signal(signal.SIGUSR2)
    log = proc.communicate(timeout=120)[0]
    assert proc.returncode == 128 + signal.SIGUSR2, log
    assert "SIGUSR2: training state checkpointed; exiting" in log and not (out / "results.json").exists()
    assert torch.load(out / "checkpoint.pt", weights_only=False)["iteration"] >= 20


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


def _files(run_dir):
    """Every file of a run dir with its bytes and mtime."""
    return {p.relative_to(run_dir): (p.read_bytes(), p.stat().st_mtime_ns) for p in run_dir.rglob("*") if p.is_file()}


def test_cli_relaunch_skips_a_finished_dir_and_refuses_another_config(tmp_path):
    """Relaunching the CLI into a dir holding complete results of the same config skips it (every file keeps its
    bytes and mtime); another config there is refused with one line and exit code 2, and nothing is rewritten;
    checkpoint.resume=false overwrites."""
    _, _, out = cli_command(tmp_path)
    first = run_pipeline(out, *TINY)
    files = _files(out)
    proc, _ = run_cli(tmp_path, *TINY)
    assert "skipped" in proc.stdout + proc.stderr and _files(out).items() >= files.items()
    proc, _ = run_cli(tmp_path, *TINY, "optim.lr=1e-3", check=False)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and "different configuration" in err[0] and str(out) in err[0]
    assert _files(out).items() >= files.items()
    again = run_pipeline(out, *TINY, "optim.lr=1e-3", "checkpoint.resume=false")
    assert again["config_sha"] != first["config_sha"] and read_results(out)["config_sha"] == again["config_sha"]


LONG = [*TINY, "data.shape=[16,16,4]", "optim.iterations=200", "eval_every=50", "checkpoint.every=0"]


def _long_run(out, *overrides):
    """LONG (and ``overrides``) run start to end in this process: (results, prediction, curves rows)."""
    return run_pipeline(out, *LONG, *overrides), np.load(out / "reconstruction.npz")["prediction"], read_curves(out)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """LONG run start to end in this process: (results, prediction, curves rows)."""
    return _long_run(tmp_path_factory.mktemp("uninterrupted"))


# The CLI, but the process signals itself from inside its first oracle evaluation (iteration 50 of LONG) once the
# folder $SIGNAL_ONCE_EXISTS exists (a run dir: the run's first evaluation; a sweep job's dir: that job's first): a
# real signal, delivered while training, at a known iteration. SIGINT acts as in a terminal even when the tests run
# as a background job (which starts its processes with SIGINT ignored).
SIGNAL_AT_FIRST_EVAL = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
import inr_recover.measure.metrics as M
psnr = M.psnr
def psnr_then_signal(*args):
    if os.path.isdir(os.environ["SIGNAL_ONCE_EXISTS"]):
        M.psnr = psnr
        os.kill(os.getpid(), int(os.environ["SIGNAL_AT_FIRST_EVAL"]))
    return psnr(*args)
M.psnr = psnr_then_signal
sys.argv[0] = "inr-recover"
from inr_recover.cli.main import main
main()
"""


def _signal_cli_in_training(tmp_path, signum, *overrides, job=None):
    """Run the CLI on LONG (and ``overrides``; a multirun when ``job`` names the sweep job to signal), signalled with
    ``signum`` at iteration 50 (of ``job``); returns (process, run or sweep dir)."""
    _, _, out = cli_command(tmp_path)
    where = out if job is None else out / job
    cmd, env, _ = cli_command(
        tmp_path,
        *LONG,
        *overrides,
        multirun=job is not None,
        env={"SIGNAL_AT_FIRST_EVAL": str(int(signum)), "SIGNAL_ONCE_EXISTS": str(where)},
    )
    assert cmd[1:3] == ["-m", "inr_recover.cli.main"]
    proc = subprocess.run(
        [cmd[0], "-c", SIGNAL_AT_FIRST_EVAL, *cmd[3:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    proc.log = proc.stdout + proc.stderr
    return proc, out


def _curve_iterations(out):
    return [int(row["iteration"]) for row in read_curves(out)]


def _resumed_and_same_as_uninterrupted(out, saved, uninterrupted):
    """The run in ``out`` continued from the checkpoint ``saved`` (its curves keep the saved evaluation's training
    time, which a restart from scratch would measure anew) and ends with the uninterrupted run's numbers."""
    assert [float(row["seconds"]) for row in read_curves(out)[:1]] == saved["history"]["seconds"]
    _same_as_uninterrupted(out, uninterrupted)


def _same_as_uninterrupted(out, uninterrupted):
    """The run in ``out`` is complete with the numbers of ``uninterrupted`` (:func:`_long_run`)."""
    ref, prediction, _ = uninterrupted
    r = read_results(out)
    assert r["status"] == "complete" and r["iterations"] == 200 and not (out / "checkpoint.pt").exists()
    assert r["metrics"] == ref["metrics"] and r["config_sha"] == ref["config_sha"]
    np.testing.assert_array_equal(np.load(out / "reconstruction.npz")["prediction"], prediction)


def test_sigterm_exits_143_with_a_checkpoint_and_the_relaunch_resumes(tmp_path, uninterrupted):
    """SIGTERM (SLURM preemption) during training: exit code 143, a checkpoint and no results; the relaunched CLI
    resumes from the checkpoint and ends with the uninterrupted run's numbers, bit for bit."""
    proc, out = _signal_cli_in_training(tmp_path, signal.SIGTERM)
    assert proc.returncode == 128 + signal.SIGTERM, proc.log
    assert not (out / "results.json").exists()
    saved = torch.load(out / "checkpoint.pt", weights_only=False)
    assert saved["iteration"] == 50
    again, _ = run_cli(tmp_path, *LONG)
    assert "resuming from" in again.stdout + again.stderr
    _resumed_and_same_as_uninterrupted(out, saved, uninterrupted)
    assert _curve_iterations(out) == [50, 100, 150, 200]


def test_ctrl_c_writes_interrupted_results_and_a_checkpoint_and_a_rerun_completes(tmp_path, uninterrupted):
    """Ctrl-C (SIGINT) during training: the run ends normally with results.json ``status: interrupted`` at the
    iteration reached, beside a checkpoint of that iteration; a rerun resumes and completes with the uninterrupted
    run's numbers."""
    proc, out = _signal_cli_in_training(tmp_path, signal.SIGINT)
    assert proc.returncode == 0, proc.log
    r = read_results(out)
    assert r["status"] == "interrupted" and r["iterations"] == 50
    saved = torch.load(out / "checkpoint.pt", weights_only=False)
    assert saved["iteration"] == 50
    run_pipeline(out, *LONG)
    _resumed_and_same_as_uninterrupted(out, saved, uninterrupted)
    # Ctrl-C landed inside an evaluation's oracle diagnostic: every evaluation keeps its row (the oracle column is
    # aligned by iteration, empty where the diagnostic was cut), not a row dropped and the oracle shifted
    assert _curve_iterations(out) == [50, 100, 150, 200]
    rows = read_curves(out)
    oracle = [(row["oracle_psnr"], ref["oracle_psnr"]) for row, ref in zip(rows, uninterrupted[2], strict=True)]
    assert sum(v == "" for v, _ in oracle) <= 1 and all(v == ref for v, ref in oracle if v)  # the uninterrupted run's
    # results.json's oracle diagnostic is its best point in curves.csv: PSNR, iteration, training seconds to it
    best = max((row for row in rows if row["oracle_psnr"]), key=lambda row: float(row["oracle_psnr"]))
    peak = read_results(out)["oracle"]
    assert (peak["psnr_peak"], peak["iteration"], peak["seconds_to_peak"]) == (
        float(best["oracle_psnr"]),
        int(best["iteration"]),
        float(best["seconds"]),
    )


def test_killed_sweep_relaunch_skips_finished_and_resumes_interrupted(tmp_path, uninterrupted):
    """A 2-job sweep (LONG, seeds 0 and 1) gets SIGTERM (as SLURM preemption) while job 1 trains (iteration 50 of
    200): exit 143, job 0 complete, job 1 a checkpoint and no results. The relaunch with the same sweep dir leaves
    job 0's outputs byte-for-byte and mtime untouched, resumes job 1 from its checkpoint, and each job ends with the
    numbers of an uninterrupted run of its config (in this process)."""
    jobs = ["0_choir_synthetic_random_0.1_s0", "1_choir_synthetic_random_0.1_s1"]
    proc, out = _signal_cli_in_training(tmp_path, signal.SIGTERM, "seed=0,1", job=jobs[1])
    job0, job1 = (out / j for j in jobs)
    assert proc.returncode == 128 + signal.SIGTERM, proc.log
    assert read_results(job0)["status"] == "complete" and not (job1 / "results.json").exists()
    saved = torch.load(job1 / "checkpoint.pt", weights_only=False)
    assert saved["iteration"] == 50
    finished = {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in job0.iterdir() if p.is_file() and p.suffix != ".log"
    }

    again, _ = run_cli(tmp_path, *LONG, "seed=0,1", multirun=True)
    assert {n: (p.read_bytes(), p.stat().st_mtime_ns) for n, p in ((n, job0 / n) for n in finished)} == finished
    assert "skipped" in again.stdout + again.stderr and "resuming from" in again.stdout + again.stderr
    _same_as_uninterrupted(job0, uninterrupted)
    _resumed_and_same_as_uninterrupted(job1, saved, _long_run(tmp_path / "seed1", "seed=1"))
    assert _curve_iterations(job1) == [50, 100, 150, 200]


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
        overfitting_restore(
            patience=20, min_iterations=30, on_eval=on_eval, checkpoint=Checkpoint(path, every=0, meta="m")
        )
    assert torch.load(path, weights_only=False)["selected"]["iteration"] == 15
    res = overfitting_restore(seed=1, patience=20, min_iterations=30, checkpoint=Checkpoint(path, every=0, meta="m"))
    assert res.iterations == res.selection["stopped_early_at"] == ref.iterations == 35
    assert res.selected_iteration == ref.selected_iteration == 15
    np.testing.assert_array_equal(res.prediction, ref.prediction)
    assert 0 < res.seconds_to_selected < res.train_seconds
