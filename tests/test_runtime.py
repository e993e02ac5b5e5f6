"""Process-level settings (inr_recover/engine/runtime.py): the device a config names, the peak memory a run reports."""
from __future__ import annotations

import pytest
import torch
from conftest import checkout_env

from inr_recover.engine.runtime import resolve_device
from inr_recover.errors import UserError


def test_cuda_device_numbers_beyond_the_count_are_refused(monkeypatch):
    """No GPU here: torch's CUDA queries stand in for a 2-GPU machine."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(UserError, match=r"^device=cuda:2 but this machine has 2 CUDA device\(s\): cuda:0 to cuda:1$"):
        resolve_device("cuda:2")
    with pytest.raises(UserError, match="device='cpu:0' is not one of auto, cpu, cuda, cuda:N"):
        resolve_device("cpu:0")


def test_peak_host_memory_is_this_process_own_not_its_parents():
    """A run started by a large parent (a test worker, a Ray worker) reports its own peak: ``ru_maxrss`` would carry
    the parent's high-water mark across fork + exec (here, over 400 MB held by this process)."""
    import subprocess
    import sys

    held = bytearray(400 * 2**20)  # resident: bytearray zero-fills every page
    code = "from inr_recover.engine.runtime import peak_memory_mb; print(peak_memory_mb('cpu')['host'])"
    child = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                 env=checkout_env()).stdout)
    assert len(held) and child < 100, child


def test_deterministic_and_precision_hold_for_their_job_only(tmp_path):
    """deterministic=true precision=high inside the job; the next job in the same process starts from torch's
    defaults (they used to stay switched on for every later job)."""
    from conftest import TINY_RUN, compose_config

    from inr_recover.run import experiment

    seen = {}
    trainer = experiment.Trainer.run

    def observed(self, progress=None):
        seen.update(det=torch.are_deterministic_algorithms_enabled(), precision=torch.get_float32_matmul_precision())
        return trainer(self, progress)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(experiment.Trainer, "run", observed)
        r = experiment.run(compose_config(*TINY_RUN, "deterministic=true", "precision=high"), tmp_path / "a")
    assert r["status"] == "complete" and seen == {"det": True, "precision": "high"}
    assert not torch.are_deterministic_algorithms_enabled() and torch.get_float32_matmul_precision() == "highest"


def test_an_operation_without_a_deterministic_kernel_is_refused_by_name():
    """torch's own refusal (max_unpool has no deterministic kernel, even on the CPU) becomes one line naming it."""
    from inr_recover.engine.runtime import job_settings

    with pytest.raises(UserError) as e, job_settings(True, "highest", torch.device("cpu")):
        torch.nn.functional.max_unpool1d(torch.rand(1, 1, 4), torch.tensor([[[0, 2, 4, 6]]]), 2)
    assert str(e.value) == ("deterministic=true but max_unpooling2d_forward_out has no deterministic implementation "
                            "on cpu (torch); set deterministic=false for this run")
    assert not torch.are_deterministic_algorithms_enabled()
    with job_settings(False, "highest", torch.device("cpu")):  # without it the same operation runs
        torch.nn.functional.max_unpool1d(torch.rand(1, 1, 4), torch.tensor([[[0, 2, 4, 6]]]), 2)


def test_precision_outside_the_choices_is_refused_before_work(tmp_path):
    from conftest import TINY_RUN, run_cli

    proc, _ = run_cli(tmp_path, *TINY_RUN, "precision=medium", check=False)
    assert proc.returncode == 2 and "precision" in proc.stderr and "Traceback" not in proc.stderr


def test_auto_on_a_machine_with_an_nvidia_device_but_no_usable_cuda_warns_with_torch_reason(monkeypatch, caplog):
    """This machine's torch cannot use CUDA; told an NVIDIA device is present, device=auto says why it trains on the
    CPU, once per process."""
    from inr_recover.engine import runtime

    if torch.cuda.is_available():
        pytest.skip("CUDA is usable here: device=auto does not fall back")
    monkeypatch.setattr(runtime, "nvidia_present", lambda: True)
    runtime.warn_cpu_fallback.cache_clear()
    with caplog.at_level("WARNING", logger="inr_recover"):
        assert runtime.resolve_device("auto") == torch.device("cpu")
        runtime.resolve_device("auto")
    warned = [r.getMessage() for r in caplog.records if "device=auto" in r.getMessage()]
    assert len(warned) == 1 and "an NVIDIA device is present but CUDA is unavailable to torch (" in warned[0]
    assert ("built without CUDA" in warned[0]) == (not torch.backends.cuda.is_built())
    monkeypatch.setattr(runtime, "nvidia_present", lambda: False)
    runtime.warn_cpu_fallback.cache_clear()
    caplog.clear()
    runtime.resolve_device("auto")
    assert not caplog.records


@pytest.mark.slow
def test_compile_trains_the_same_fit(tmp_path):
    """compile=true (torch.compile of the model, in place): the run completes with the eager run's numbers up to
    rounding, and its checkpoint keys are the model's own (resumable by either)."""
    from conftest import TINY, run_pipeline

    eager = run_pipeline(tmp_path / "eager", *TINY)
    compiled = run_pipeline(tmp_path / "compiled", *TINY, "compile=true")
    assert compiled["status"] == "complete"
    assert compiled["metrics"]["psnr"] == pytest.approx(eager["metrics"]["psnr"], abs=0.01)
