"""Process-level settings (inr_recover/runtime.py): the device a config names."""
from __future__ import annotations

import pytest
import torch

from inr_recover.errors import UserError
from inr_recover.runtime import resolve_device


def test_cuda_device_numbers_beyond_the_count_are_refused(monkeypatch):
    """No GPU here: torch's CUDA queries stand in for a 2-GPU machine."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(UserError, match=r"^device=cuda:2 but this machine has 2 CUDA device\(s\): cuda:0 to cuda:1$"):
        resolve_device("cuda:2")
    with pytest.raises(UserError, match="device='cpu:0' is not one of auto, cpu, cuda, cuda:N"):
        resolve_device("cpu:0")
