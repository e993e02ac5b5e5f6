"""Process-level settings that make CPU training fast."""
from __future__ import annotations

import ctypes
import re
import sys
from pathlib import Path

from inr_recover.errors import UserError


def tune_allocator(threshold: int = 1 << 30) -> bool:
    """Keep freed activation buffers in glibc's heap instead of returning them to the OS every step.

    Full-batch INR steps allocate and free tens-of-MB tensors each iteration; glibc serves those with
    mmap/munmap by default, and the page faults cost as much as the arithmetic (measured: a 256x256 CHOIR
    step on 2 CPU cores went from 1.64 s to 0.77 s). Same effect as MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_.
    Returns False where glibc is not available (no-op).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(
            libc.mallopt(m_trim_threshold, ctypes.c_int(threshold))
            and libc.mallopt(m_mmap_threshold, ctypes.c_int(threshold))
        )
    except (OSError, AttributeError):
        return False


def flush_denormals() -> bool:
    """Flush subnormal floats to zero on CPU (``torch.set_flush_denormal``).

    Gaussian-type activations (Gauss, FINER++ Gauss) output ``exp(-(s z)^2)`` far below 1e-38 for most
    neurons; arithmetic on subnormals is microcoded on x86 and made a 64x64 Gauss training step 7x slower
    (measured: 5.9 s vs 0.88 s per forward+backward, width 256, 2-core CPU). No effect on GPU results.
    Returns False where the CPU does not support it (no-op).
    """
    import torch

    return bool(torch.set_flush_denormal(True))


def fast_cpu() -> None:
    """The process settings of every run (the CLI, and the test suite's in-process runs): :func:`tune_allocator`
    and :func:`flush_denormals`."""
    tune_allocator()
    flush_denormals()


def peak_memory_mb(device) -> dict:
    """Peak resident memory of this process (``host``) and, on CUDA, peak allocated GPU memory (``cuda``), MiB.
    ``host`` is VmHWM (``/proc/self/status``): on Linux ``ru_maxrss`` keeps the high-water mark of the process that
    started this one (it survives ``fork`` + ``exec``), so a run launched by a large parent (a test worker, a Ray
    worker) would report the parent's peak; ``ru_maxrss`` only where /proc is absent."""
    out = {}
    try:
        status = Path("/proc/self/status").read_text()
        out["host"] = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024
    except (OSError, StopIteration, ValueError):
        try:
            import resource

            out["host"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        except ImportError:
            pass
    if getattr(device, "type", str(device)) == "cuda":
        import torch

        out["cuda"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


DEVICES = "auto, cpu, cuda, cuda:N"


def resolve_device(name: str):
    """The torch device ``device=`` names: ``auto`` (cuda if available, else cpu), ``cpu``, ``cuda`` or ``cuda:N``
    with N below this machine's CUDA device count."""
    import torch

    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    match = re.fullmatch(r"(cpu|cuda)(?::(\d+))?", name)
    if match is None or (match[1] == "cpu" and match[2] is not None):
        raise UserError(f"device='{name}' is not one of {DEVICES}")
    if match[1] == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device={name} but CUDA is not available here; use device=cpu or device=auto")
        count = torch.cuda.device_count()
        if match[2] is not None and int(match[2]) >= count:
            raise UserError(f"device={name} but this machine has {count} CUDA device(s): cuda:0 to cuda:{count - 1}")
    return torch.device(name)
