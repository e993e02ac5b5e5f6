"""Out of device memory during a fit (inr_recover/engine/fit.py ``train``, ``out_of_memory``): a one-line error naming
the setting to lower, and the checkpoint kept where the fit's state is consistent. This machine has no GPU: the
allocator's failure is raised where CUDA raises it (``torch.OutOfMemoryError`` out of the step or a prediction), and
what the runner does with it is real."""
from __future__ import annotations

import re

import pytest
import torch
from conftest import TINY_RUN, compose_config

from inr_recover.engine import fit
from inr_recover.errors import UserError
from inr_recover.measure.measurements import Measurement
from inr_recover.run import experiment

OOM = "CUDA out of memory. Tried to allocate 1.50 GiB. GPU 0 has a total capacity of 79.19 GiB, 1.06 GiB free"


def prepared(tmp_path, *overrides):
    return experiment.prepare(compose_config(*TINY_RUN, "optim.iterations=6", "eval_every=2", *overrides), tmp_path)


def test_a_step_out_of_memory_names_batch_size_and_keeps_a_checkpoint_that_resumes(tmp_path):
    """The third update runs out of memory: the checkpoint holds the state after iteration 2 (the failed update did
    not happen) and the same config resumes from it to the end, as an uninterrupted run."""
    trainer = prepared(tmp_path / "run").trainer()
    steps = []

    def step(active):
        steps.append(1)
        if len(steps) == 3:
            raise torch.OutOfMemoryError(OOM)
        return [t.step() for t in active]

    with pytest.raises(UserError) as e:
        fit.train([trainer], step, progress=False)
    message = str(e.value)
    assert "\n" not in message and message.startswith("out of memory on cpu in the training step at iteration 2")
    assert "(tried to allocate 1.50 gib)" in message and "lower batch_size (now null: every row)" in message
    assert message.endswith(f"the checkpoint is kept: {tmp_path / 'run' / 'checkpoint.pt'}")
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["iteration"] == 2
    resumed = prepared(tmp_path / "run").trainer().run(progress=False)
    alone = prepared(tmp_path / "alone").trainer().run(progress=False)
    assert resumed.history["iteration"] == [2, 4, 6] and resumed.history["loss"] == alone.history["loss"]


def test_a_group_step_out_of_memory_names_the_group_size(tmp_path):
    trainers = [prepared(tmp_path / f"s{seed}", f"seed={seed}").trainer() for seed in (0, 1)]

    def step(active):
        raise torch.OutOfMemoryError(OOM)

    with pytest.raises(UserError, match=r"lower batch_size \(now null: every row\) or the group size \(2 members"):
        fit.train(trainers, step, progress=False)


def tight(monkeypatch, rows: int, when=lambda: True):
    """Every prediction of more than ``rows`` rows per forward pass runs out of memory (while ``when()``)."""
    predict = Measurement.predict

    def limited(self, model, chunk):
        if when() and (chunk is None or chunk > rows):
            raise torch.OutOfMemoryError(OOM)
        return predict(self, model, chunk)

    monkeypatch.setattr(Measurement, "predict", limited)


def test_an_evaluation_out_of_memory_names_eval_chunk(tmp_path, monkeypatch):
    tight(monkeypatch, 64)
    with pytest.raises(UserError, match=r"in the evaluation at iteration 2 .*: lower eval_chunk \(now 1024\)$"):
        prepared(tmp_path, "eval_chunk=1024").trainer().run(progress=False)


def test_a_finished_fit_out_of_memory_in_its_prediction_is_kept_and_finishes_with_a_lower_eval_chunk(
    tmp_path, monkeypatch
):
    """Training is done when the final prediction runs out of memory: the checkpoint at the last iteration is kept,
    and the rerun with a lower eval_chunk (a setting a checkpoint resumes across) predicts without training again."""
    trainer, finishing, finish = prepared(tmp_path, "eval_chunk=1024").trainer(), [], fit.Trainer.finish
    monkeypatch.setattr(fit.Trainer, "finish", lambda self: finishing.append(1) or finish(self))
    tight(monkeypatch, 64, when=lambda: bool(finishing))
    with pytest.raises(UserError, match=r"in the final prediction at iteration 6 .*lower eval_chunk \(now 1024\)"):
        trainer.run(progress=False)
    again = prepared(tmp_path, "eval_chunk=64").trainer()
    result = again.run(progress=False)
    assert result.iterations == 6 and re.fullmatch(r"\d+", str(result.selected_iteration))
    assert again.history == trainer.history and result.prediction.shape == (32, 32, 8)


def test_a_checkpoint_of_another_device_resumes_with_a_notice(tmp_path, caplog):
    """The device is left out of the config fingerprint (provenance.fingerprint): a checkpoint written on a GPU goes
    on on this CPU, and says so."""
    trainer = prepared(tmp_path).trainer()
    for it in (1, 2):
        trainer.done = it
        trainer.step()
    trainer.save_checkpoint()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    torch.save({**state, "device": "cuda:0"}, tmp_path / "checkpoint.pt")
    with caplog.at_level("INFO", logger="inr_recover"):
        result = prepared(tmp_path).trainer().run(progress=False)
    assert result.iterations == 6
    assert any("the checkpoint was written on cuda:0 and goes on on cpu" in r.getMessage() for r in caplog.records)
