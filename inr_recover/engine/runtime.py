"""Process-level settings: fast CPU training, the device, torch's per-job settings (determinism, matmul precision)."""
from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import re
import sys
from pathlib import Path

from inr_recover.errors import UserError

log = logging.getLogger("inr_recover")


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


PRECISIONS = ("highest", "high")
NONDETERMINISTIC = " does not have a deterministic implementation"  # how torch names the operation it refuses


@contextlib.contextmanager
def job_settings(deterministic: bool, precision: str, device):
    """torch's process-wide settings for one job, restored after it (a later job in the same process, a sweep's
    next job, starts from the defaults again):

    - ``deterministic``: ``torch.use_deterministic_algorithms`` and no cuDNN autotuning, with
      ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (unless set; cuBLAS reads it at its first matmul in the process);
      an operation without a deterministic kernel on the device is refused with a one-line error naming it;
    - ``precision``: ``highest`` (float32 matmuls and convolutions in full float32) or ``high`` (TF32 on NVIDIA
      Ampere and later: about 10 mantissa bits, several times faster; no effect on the CPU);
    - the device's peak-memory statistics reset, so ``peak_memory_mb`` is this job's.
    """
    import torch

    if precision not in PRECISIONS:
        raise UserError(f"precision='{precision}' is not one of {', '.join(PRECISIONS)}")
    before = (torch.are_deterministic_algorithms_enabled(), torch.get_float32_matmul_precision(),
              torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(bool(deterministic))
    torch.backends.cudnn.benchmark = torch.backends.cudnn.benchmark and not deterministic
    torch.set_float32_matmul_precision(precision)
    torch.backends.cudnn.allow_tf32 = precision != "highest"
    if getattr(device, "type", None) == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        yield
    except RuntimeError as e:
        if NONDETERMINISTIC not in str(e):
            raise
        op = str(e).split(NONDETERMINISTIC)[0].strip().split()[-1]
        raise UserError(f"deterministic=true but {op} has no deterministic implementation on {device} (torch); "
                        "set deterministic=false for this run") from None
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.set_float32_matmul_precision(before[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32 = before[2:]


def upload(t, device):
    """A host tensor (a batch's random indices, jitter or points) on ``device`` without making the host wait for the
    device's queued work: on CUDA copied from pinned memory asynchronously (a copy from pageable memory synchronises
    the stream every step); elsewhere as ``.to``. The draws stay on the fit's CPU generator, so every device trains
    on the same batches and a checkpoint holds one random state."""
    if getattr(device, "type", None) == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


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


def nvidia_present() -> bool:
    """Whether this machine has an NVIDIA device (its kernel driver loaded, or a device node)."""
    return Path("/proc/driver/nvidia/version").is_file() or any(Path("/dev").glob("nvidia[0-9]*"))


@functools.lru_cache(maxsize=1)
def warn_cpu_fallback() -> None:
    """One warning per process: device=auto trains on the CPU although an NVIDIA device is here, with torch's reason
    (a CPU-only wheel, a driver older than the wheel's CUDA, no visible device)."""
    import torch

    if not torch.backends.cuda.is_built():
        reason = f"this torch ({torch.__version__}) is built without CUDA"
    else:
        try:
            torch.cuda.init()
            reason = "torch sees no usable CUDA device (CUDA_VISIBLE_DEVICES?)"
        except Exception as e:  # torch's own explanation: driver too old, no device visible, ...
            reason = str(e).strip().splitlines()[0]
    log.warning("device=auto: an NVIDIA device is present but CUDA is unavailable to torch (%s); training on the "
                "CPU. Install a torch wheel matching the driver, or set device=cpu to silence this", reason)


def resolve_device(name: str):
    """The torch device ``device=`` names: ``auto`` (cuda if available, else cpu), ``cpu``, ``cuda`` or ``cuda:N``
    with N below this machine's CUDA device count."""
    import torch

    name = str(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if nvidia_present():
            warn_cpu_fallback()
        return torch.device("cpu")
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
