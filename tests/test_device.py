"""Every training path on a device that is not the CPU, on a machine without a GPU: torch's ``meta`` device rejects
the operations CUDA rejects (a tensor on one device combined with a tensor on another), so a fit that mixes devices
fails here as it would on a GPU. A meta tensor has no values: each read of one to the host (``.cpu()``, ``.item()``,
``float()``) is recorded with the line that makes it and answered with random values, so the fit goes on; a read
inside a training step (a host synchronisation every step on CUDA) fails the test with its site."""
from __future__ import annotations

import os
import traceback
import weakref
from collections import Counter

import pytest
import torch
from conftest import TINY_RUN, compose_config
from torch.overrides import TorchFunctionMode
from tqdm import tqdm

from inr_recover.errors import UserError
from inr_recover.run import experiment
from inr_recover.run.provenance import fingerprint

# meta: the CPU check; tools/gpu_smoke.sh runs the same tests on a real device (INR_RECOVER_TEST_DEVICE=cuda), where
# host reads are not recorded (a real device answers them) and a mixed-device operation raises as here.
META = torch.device(os.environ.get("INR_RECOVER_TEST_DEVICE", "meta"))
HOST = {"item", "tolist", "numpy", "cpu", "__float__", "__int__", "__bool__", "__index__", "__array__", "__repr__"}
MISMATCH = ("expected device", "same device", "different device")  # how torch refuses tensors of two devices
STEP = {"step", "batch", "loss", "objective"}  # the engine's functions of one training step
ONCE = {"check_memory", "setup"}  # ... and of what runs once, before training (the memory probe calls loss)


def site() -> tuple[str, bool]:
    """The innermost line of inr_recover on the stack, and whether it runs in every training step."""
    frames = [f for f in traceback.extract_stack() if "/inr_recover/" in f.filename]
    inner, names = frames[-1], {f.name for f in frames}
    in_step = any(f.name in STEP and "/engine/" in f.filename for f in frames) and not names & ONCE
    return f"{inner.filename.split('/inr_recover/')[-1]}:{inner.lineno} ({inner.name})", in_step


def fake(t, known: dict):
    """A host tensor in place of a meta tensor: the values :meth:`HostReads.on_host` computed for it (``known``), else
    random floats and booleans and integers 1 (a valid index and a count of one) of its shape; anything else as it
    is."""
    if isinstance(t, (list, tuple)):
        return type(t)(fake(v, known) for v in t)
    if not (isinstance(t, torch.Tensor) and t.is_meta):
        return t
    if id(t) in known and known[id(t)][0]() is t:
        return known[id(t)][1]
    if t.dtype == torch.bool:
        value = torch.rand(t.shape) > 0.5
    else:
        value = torch.rand(t.shape, dtype=t.dtype) if t.is_floating_point() else torch.ones(t.shape, dtype=t.dtype)
    known[id(t)] = (weakref.ref(t), value)  # the same values at the next read
    return value


def to_meta(r, known: dict):
    """``r`` (a host result) on the meta device, its values kept in ``known`` for :func:`fake`."""
    if isinstance(r, (list, tuple)):
        return type(r)(to_meta(v, known) for v in r)
    if not isinstance(r, torch.Tensor):
        return r
    m = r.to(META)
    known[id(m)] = (weakref.ref(m), r)
    return m


class HostReads(TorchFunctionMode):
    """Runs torch on the meta device, recording what would make the host wait for the device on CUDA: a read of a
    device tensor (``.cpu()``, ``.item()``, ``float()``, ``numpy()``) and an operation whose output shape depends on
    the values (``nonzero``, ``unique``, ``repeat_interleave``, boolean indexing, ``torch.equal``): meta refuses both,
    and each is recorded with its site (``reads``, or ``step_reads`` inside a training step) and computed on random
    host values of the same shapes (:func:`fake`), so the fit goes on. A copy of a host tensor to the device inside a
    step is recorded in ``uploads``. Two devices in one operation raise, as on CUDA."""

    def __init__(self):
        super().__init__()
        self.reads, self.step_reads, self.uploads = Counter(), Counter(), Counter()
        self.known = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
        targets = [str(a) for a in (*args[1:], *kwargs.values()) if isinstance(a, (str, torch.device))]
        host = name in HOST or (name == "to" and any(a.startswith("cpu") for a in targets))
        if host and tensors and tensors[0].is_meta:
            return self.on_host(func, args, kwargs, keep=True)
        if name == "to" and tensors and not tensors[0].is_meta and any(a == "meta" for a in targets):
            where, in_step = site()
            if in_step and tensors[0].numel() > 1:
                self.uploads[where] += 1
        try:
            return func(*args, **kwargs)
        except (NotImplementedError, RuntimeError) as e:
            if any(m in str(e) for m in MISMATCH) or not any(t.is_meta for t in tensors):
                raise
            return self.on_host(func, args, kwargs, keep=False)  # a value-dependent operation: a synchronisation

    def on_host(self, func, args, kwargs, keep: bool):
        where, in_step = site()
        (self.step_reads if in_step else self.reads)[where] += 1
        out = func(*fake(args, self.known), **{k: fake(v, self.known) for k, v in kwargs.items()})
        return out if keep else to_meta(out, self.known)


def meta_run(tmp_path, *overrides):
    """The pipeline (build, fit, evaluate, write) on the meta device under :class:`HostReads`; (results, the mode).
    A combination the runner refuses before training (a grid-only method on points) is skipped with the refusal."""
    cfg = compose_config(*TINY_RUN, *overrides)
    with HostReads() as mode:
        try:
            experiment.validate(cfg)
            exp = experiment.Experiment(cfg, META, tmp_path, fingerprint(cfg))
            exp.build()
        except UserError as e:
            pytest.skip(f"refused before training: {e}")
        results = experiment.alone(exp)
    return results, mode


MODELS = ["choir", "choir_linear", "siren", "pemlp", "gauss", "wire", "finer", "finer_gauss", "finer_wavelet",
          "fresh", "scone", "sinr", "iinr", "lrtfr", "dro_tff", "crnl"]


@pytest.mark.parametrize("model", MODELS)
def test_every_method_trains_on_another_device(tmp_path, model):
    results, mode = meta_run(tmp_path, f"model={model}")
    assert results["status"] == "complete"
    assert not mode.step_reads, f"host reads in a training step: {dict(mode.step_reads)}"


def test_a_fit_resumed_between_evaluation_points_goes_on_on_its_device(tmp_path):
    """A checkpoint written between two evaluation points (Ctrl-C, SIGTERM, a periodic checkpoint) holds the losses
    since the last one; resumed on the device, the next evaluation stacks them with the new losses: the restored
    losses must be on the training device (they were host tensors: every resume on CUDA crashed there)."""
    cfg = compose_config(*TINY_RUN, "optim.iterations=6", "eval_every=4")
    with HostReads():
        exp = experiment.Experiment(cfg, META, tmp_path, fingerprint(cfg))
        exp.build()
        first = exp.trainer()
        first.bar = tqdm(disable=True)
        for it in (1, 2, 3, 4, 5):
            first.record(it, first.step())
        first.save_checkpoint()  # after iteration 5: one loss since the evaluation at 4
        again = experiment.Experiment(cfg, META, tmp_path, fingerprint(cfg))
        again.build()
        result = again.trainer().run(progress=False)
    assert result.iterations == 6 and result.history["iteration"] == [4, 6]


def write_scene(folder, views: int = 2, size: int = 8) -> str:
    """A Blender-layout scene (transforms_train/test.json, RGBA PNGs) of ``views`` cameras on a circle looking at the
    origin; the ``data.path`` override that loads it."""
    import json

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        (folder / split).mkdir(parents=True)
        frames = []
        for k in range(views):
            a = 2 * np.pi * k / views
            back = np.array([np.cos(a), np.sin(a), 0.5]) / np.linalg.norm([np.cos(a), np.sin(a), 0.5])
            right = np.cross([0.0, 0.0, 1.0], back)
            right /= np.linalg.norm(right)
            pose = np.eye(4)
            pose[:3, :3] = np.stack([right, np.cross(back, right), back], 1)  # camera looks along -back
            pose[:3, 3] = 4.0 * back
            Image.fromarray(rng.integers(0, 256, (size, size, 4), dtype=np.uint8)).save(folder / split / f"r_{k}.png")
            frames.append({"file_path": f"./{split}/r_{k}", "transform_matrix": pose.tolist()})
        (folder / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": 0.69, "frames": frames}))
    return f"data.path={folder}"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The data of each task written here (a fresh clone has no ../shared): a sphere mesh, a scene, a point file."""
    import trimesh
    from data.test_points import write_sst

    root = tmp_path_factory.mktemp("device")
    trimesh.creation.icosphere(subdivisions=2, radius=0.5).export(root / "sphere.obj")
    (root / "points").mkdir()
    write_sst(root / "points")
    shape = ["data=mesh", f"data.path={root / 'sphere.obj'}", "data.samples=300", "data.resolution=8", "batch_size=100"]
    scene = ["task=view_synthesis", "data=blender", write_scene(root / "scene"), "data.resize=null", "task.samples=4"]
    return {
        "mini-batch": ["batch_size=256"],
        "super-resolve": ["task=super_resolve", "degrade=downsample_2"],
        "sdf": ["task=sdf", *shape],
        "eikonal": ["task=sdf", "task.eikonal=0.1", *shape],
        "fresh sdf": ["task=sdf", "data.fresh=true", "select=final", *shape],
        "fresh cloud sdf": ["task=sdf", "data.fresh=true", "data.kind=points_with_normals", "data.cloud_points=2000",
                            "select=final", *shape],
        "occupancy": ["task=occupancy", *shape],
        "view synthesis": [*scene, "batch_size=32", "eval_chunk=64"],
        "points": ["data=sst", f"data.root={root / 'points'}", "degrade=random_0.3"],
    }


# The per-step host reads the algorithm needs, by method: S-INR on a mini-batch groups the batch's rows by the
# superpixels covering them (their counts decide the shapes of its batched pass: models/sinr.py Layout) and, on point
# data, finds each row's nearest point with a k-d tree on the host. Its full batch reads nothing (both decided once at
# setup: test_every_method_trains_on_another_device, and the points task here).
EXPLAINED = {"sinr": "models/sinr.py"}


TASKS = ["mini-batch", "super-resolve", "sdf", "eikonal", "fresh sdf", "fresh cloud sdf", "occupancy", "view synthesis",
         "points"]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("model", MODELS)
def test_every_method_and_task_trains_on_another_device(tmp_path, inputs, task, model):
    """Two steps of each method on each task; the host reads a step may make are the explained ones (EXPLAINED)."""
    over = inputs[task]
    if over[0] in ("task=sdf", "task=occupancy") and "out_activation" in compose_config(f"model={model}").model:
        over = [*over, "model.out_activation=none"]  # a signed output (CHOIR's default ends in a sigmoid)
    results, mode = meta_run(tmp_path, f"model={model}", "optim.iterations=2", *over)
    assert results["status"] == "complete"
    reads = {where: n for where, n in mode.step_reads.items() if not where.startswith(EXPLAINED.get(model, "-"))}
    assert not reads, f"host reads in a training step: {reads}"


@pytest.mark.parametrize("model", ["choir", "siren", "wire"])
def test_a_batched_group_trains_on_another_device(tmp_path, monkeypatch, model):
    """Two seeds as one vmapped model (batch=seeds), each member's results written, on the meta device."""
    monkeypatch.setattr(experiment, "resolve_device", lambda name: META)
    cfgs = [compose_config(*TINY_RUN, f"model={model}", f"seed={seed}") for seed in (0, 1)]
    with HostReads() as mode:
        results = experiment.run_group(cfgs, [tmp_path / "0", tmp_path / "1"], "seed")
    assert [r["status"] for r in results] == ["complete", "complete"] and results[0]["batch"]["members"] == 2
    assert not mode.step_reads, f"host reads in a training step: {dict(mode.step_reads)}"
