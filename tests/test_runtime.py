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
