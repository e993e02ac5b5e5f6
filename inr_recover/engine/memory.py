"""Will a fit fit in memory? Its peak memory, estimated before training, against what is available.

The estimate is what training adds to the memory in use when it starts (data, model and libraries are resident by
then), from three measured quantities and the sizes of the run: ``P`` parameter bytes; ``S`` optimiser state bytes
per parameter byte (one step of the configured optimiser on a small tensor: Adam keeps 2); and the bytes of the
tensors autograd saves for the backward pass of the training loss, measured on two small batches ``b1 < b2`` and
fitted as ``a + s * B`` (so a tensor method whose forward builds the whole grid shows in ``a``), and the largest
single saved tensor, fitted the same way as ``a' + s' * B``. For ``N`` grid points of ``C`` channels::

    state       (S + 1) * P                       optimiser state, and the selection rule's copy of the model
    training    P + TRAIN * (a + s * B)           gradients, saved tensors and the backward pass's temporaries
                                                  at batch B
    evaluation  EVAL * (a' + s' * E) + ENTRY * N * C   a chunk of E coordinates through the network without autograd,
                                                  and the prediction's copies (flat, numpy, task output, float64 PSNR)
    peak        state + max(training, evaluation)

On CUDA the evaluation's numpy copies are host memory and are left out of the device's budget. The estimate is
checked against measured peaks (``tests/test_memory.py``, slow: growth of the peak resident set over the resident set
at the check, CPU, for CHOIR full-batch and mini-batch, SIREN and LRTFR on 128x128x8): estimate / measured was 0.51 to
0.99 on a 2-core CPU; it leaves out the libraries' own allocations (tens of MB), which dominate only small fits.
The probe runs in a forked random state and leaves no gradient behind, so a fit with the check is bit-identical to
one without.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from inr_recover.errors import UserError

TRAIN = 2.0  # saved tensors -> peak of one forward+backward step (the backward pass's gradients of activations)
EVAL = 4.0  # largest per-coordinate tensor -> peak of one no-grad forward pass of a chunk
ENTRY = 48  # bytes per grid entry at an evaluation point: the float32 prediction copies and the float64 PSNR
PROBE = (256, 512)  # coordinates of the two probe batches
GiB = 2**30


@dataclass
class Estimate:
    state: int  # bytes: optimiser state and the selection rule's copy of the model
    grads: int
    saved: tuple  # (a, s): saved-tensor bytes a + s * B at batch B
    largest: tuple  # (a', s'): the largest saved tensor's bytes a' + s' * B
    entries: int  # N * C
    coords: int  # N
    host_eval: bool  # the evaluation's numpy copies count against this budget (CPU)

    def group(self, k: int) -> "Estimate":
        """K such fits trained as one vmapped model (a batched group): K models' optimiser state, gradients and saved
        tensors; evaluation stays one member at a time."""
        return replace(self, state=k * self.state, grads=k * self.grads, saved=tuple(k * v for v in self.saved))

    def training(self, batch: int) -> float:
        return self.grads + TRAIN * _line(self.saved, batch)

    def evaluation(self, chunk: int) -> float:
        return EVAL * _line(self.largest, chunk) + (ENTRY * self.entries if self.host_eval else 8 * self.entries)

    def peak(self, batch: int, chunk: int) -> float:
        return self.state + max(self.training(batch), self.evaluation(chunk))

    def largest_batch(self, budget: float, cap: int) -> int | None:
        """The largest power-of-two batch (at most ``cap``) whose training step fits in ``budget``; None if none."""
        return _largest(lambda b: self.state + self.training(b) <= budget, cap)

    def largest_chunk(self, budget: float, cap: int) -> int | None:
        return _largest(lambda e: self.state + self.evaluation(e) <= budget, cap)


def _line(fit: tuple, n: int) -> float:
    return fit[0] + fit[1] * n


def _fit(n1: int, y1: float, n2: int, y2: float) -> tuple:
    """``(a, s)`` of the line ``a + s * n`` through two measurements (both >= 0)."""
    s = max(y2 - y1, 0) / (n2 - n1) if n2 > n1 else 0.0
    return max(y2 - s * n2, 0.0), s


def _largest(fits, cap: int) -> int | None:
    best, b = None, 1
    while b <= cap and fits(b):
        best, b = b, 2 * b
    return best


def _storage(t: torch.Tensor):
    s = t.untyped_storage()
    return s.data_ptr(), s.nbytes()


def saved_tensor_bytes(loss_fn, n: int, exclude: set) -> tuple[int, int]:
    """(total, largest) bytes of the tensors autograd saves while ``loss_fn(n)`` builds the loss of ``n`` coordinates,
    each storage counted once, storages in ``exclude`` (parameters, buffers, the data) left out."""
    seen = {}

    def pack(t):
        ptr, nbytes = _storage(t)
        if ptr not in exclude:
            seen[ptr] = nbytes
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = loss_fn(n)
    del loss
    return sum(seen.values()), max(seen.values(), default=0)


def optimizer_state_ratio(make_optimizer) -> float:
    """Optimiser state bytes per parameter byte after one step (Adam: 2; SGD without momentum: 0)."""
    x = torch.nn.Parameter(torch.zeros(1024))
    opt = make_optimizer([x])
    x.grad = torch.ones_like(x)
    opt.step()
    state = sum(v.nbytes for v in opt.state[x].values() if torch.is_tensor(v) and v.numel() == x.numel())
    return state / x.nbytes


def estimate(model, loss_fn, make_optimizer, exclude: list, coords: int, entries: int, device) -> Estimate:
    """Measure the run's quantities (module doc). ``loss_fn(n)``: the training loss on the first ``n`` coordinates;
    ``exclude``: tensors already resident (the data on the device)."""
    params = [*model.parameters()]
    p_bytes = sum(p.numel() * p.element_size() for p in params)
    skip = {_storage(t)[0] for t in [*params, *model.buffers(), *exclude]}
    b1, b2 = (min(b, coords) for b in PROBE)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        t1, big1 = saved_tensor_bytes(loss_fn, b1, skip)
        t2, big2 = saved_tensor_bytes(loss_fn, b2, skip)
    ratio = optimizer_state_ratio(make_optimizer)
    return Estimate(
        state=int((ratio + 1) * p_bytes),
        grads=p_bytes,
        saved=_fit(b1, t1, b2, t2),
        largest=_fit(b1, big1, b2, big2),
        entries=entries,
        coords=coords,
        host_eval=device.type != "cuda",
    )


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _cgroup_available() -> int | None:
    """Room left under this process's cgroup (v2 ``memory.max``, v1 ``memory.limit_in_bytes``), if it has a limit."""
    for limit, usage in (
        ("memory.max", "memory.current"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
    ):
        try:
            text = (Path("/sys/fs/cgroup") / limit).read_text().strip()
            if text != "max" and int(text) < 2**60:
                return int(text) - int((Path("/sys/fs/cgroup") / usage).read_text())
        except (OSError, ValueError):
            continue
    return None


def available(device) -> int | None:
    """Bytes this process can still allocate on ``device``: on CUDA the free device memory plus the allocator's
    reserved-but-unused blocks (``memory_reserved - memory_allocated``: a tensor can reuse them); on the host the
    smaller of MemAvailable and the room under a cgroup limit. None when unknown (no check)."""
    if device.type == "cuda":  # free, and what the caching allocator holds without using it
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return torch.cuda.mem_get_info(device)[0] + cached
    known = [v for v in (_meminfo_available(), _cgroup_available()) if v is not None]
    return min(known) if known else None


def resident() -> int | None:
    """This process's resident memory now (bytes), None where /proc is absent."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def check(est: Estimate, batch: int | None, chunk: int | None, limit, device, batchable: bool = True) -> dict:
    """Stop with a one-line error when the estimated peak exceeds the budget: ``limit`` GiB, or with ``limit='auto'``
    what :func:`available` reports; ``batchable``: the fit may train on mini-batches (not when its measurement needs
    the whole grid). Returns the record for ``results.json``."""
    batch, chunk = batch or est.coords, min(chunk or est.coords, est.coords)
    peak = est.peak(batch, chunk)
    budget = available(device) if limit == "auto" else float(limit) * GiB
    record = {
        "estimate_mb": peak / 2**20,
        "budget_mb": None if budget is None else budget / 2**20,
        "resident_mb": None if (r := resident()) is None else r / 2**20,
    }
    if budget is None or peak <= budget:
        return record
    fit_batch, fit_chunk = est.largest_batch(budget, est.coords), est.largest_chunk(budget, est.coords)
    if not batchable:
        advice = ["a smaller model or grid (data.resize or data.crop: this observation trains on the whole grid)"]
    elif fit_batch:
        advice = [f"batch_size={fit_batch}"]
    else:
        advice = ["no batch_size fits (the model or data is too large: use data.resize or data.crop)"]
    if est.state + est.evaluation(chunk) > budget:
        advice.append(f"eval_chunk={fit_chunk}" if fit_chunk else "no eval_chunk fits")
    where = f"free on {device}" if device.type == "cuda" else "available"
    raise UserError(
        f"the fit needs about {peak / GiB:.2f} GiB beyond what is in use (training step at batch_size="
        f"{'null' if batch == est.coords else batch}: {est.training(batch) / GiB:.2f} GiB, evaluation at "
        f"eval_chunk={chunk}: "
        f"{est.evaluation(chunk) / GiB:.2f} GiB, optimiser and selection state {est.state / GiB:.2f} GiB) but "
        f"{budget / GiB:.2f} GiB is {where if limit == 'auto' else 'allowed by memory_limit'}; "
        f"{' and '.join(advice)} would fit (memory_limit=null skips this check)"
    )


def require(nbytes: int, what: str) -> None:
    """Refuse to allocate ``nbytes`` for ``what`` (e.g. reading a file) when the host has less available."""
    room = available(torch.device("cpu"))
    if room is not None and nbytes > room:
        raise UserError(f"{what} needs {nbytes / GiB:.2f} GiB but {room / GiB:.2f} GiB of memory is available")
