"""hydra/launcher=ray_gpu and hydra/launcher=slurm (optional extras: inr-recover[ray], inr-recover[slurm])."""
from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import stat

import pytest
from conftest import ROOT, run_cli


def _need(module: str, extra: str):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (optional extra: pip install 'inr-recover[{extra}]')")


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one Ray cluster at a time on this machine
def test_ray_gpu_gives_each_concurrent_job_its_own_device(tmp_path):
    """Ray is told the machine has 2 GPUs (fake: no CUDA here). 4 jobs: each runs in a fresh process (max_calls=1)
    with CUDA_VISIBLE_DEVICES set to exactly one id, and jobs that overlap in time never share an id."""
    _need("hydra_plugins.hydra_ray_launcher", "ray")
    _need("ray", "ray")
    # 300 iterations: each job outlasts a Ray worker's start on a loaded CPU, so two do overlap (at 4, a CI run once saw
    # every job end before the next worker was up)
    proc, out = run_cli(tmp_path, "experiment=smoke", "seed=0", "optim.iterations=300", "hydra/launcher=ray_gpu",
                        "hydra.launcher.ray.init.num_gpus=2", "+hydra.launcher.ray.init.num_cpus=2", multirun=True)
    jobs = [json.loads(p.read_text())["process"] for p in sorted(out.glob("*/results.json"))]
    assert len(jobs) == 4 and (out / "summary.md").is_file()
    assert {j["cuda_visible_devices"] for j in jobs} == {"0", "1"}
    assert len({j["pid"] for j in jobs}) == 4  # a fresh worker process per job
    overlapping = 0
    for a, b in itertools.combinations(jobs, 2):
        if a["started_unix"] < b["finished_unix"] and b["started_unix"] < a["finished_unix"]:
            overlapping += 1
            assert a["cuda_visible_devices"] != b["cuda_visible_devices"], (a, b)
    assert overlapping >= 1  # the jobs did run concurrently, two at a time


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one Ray cluster at a time on this machine
def test_ray_gpu_jobs_per_gpu_shares_a_device_never_beyond_the_setting(tmp_path):
    """hydra.launcher.jobs_per_gpu=2 on 2 fake GPUs, 8 logical CPUs (so only the GPUs limit the jobs), the smoke grid
    with batch=seeds: 4 group jobs (2 seeds each) through Ray, each in its own process on one device; at no job's start
    does its device hold more than 2 running jobs, and some device does hold 2."""
    _need("hydra_plugins.hydra_ray_launcher", "ray")
    _need("ray", "ray")
    # 300 iterations, as the test above: a 4-iteration group can end before the next one starts (a loaded CI run saw
    # no overlap); the assertions are unchanged
    proc, out = run_cli(tmp_path, "experiment=smoke", "batch=seeds", "optim.iterations=300", "eval_every=100",
                        "hydra/launcher=ray_gpu", "hydra.launcher.jobs_per_gpu=2",
                        "hydra.launcher.ray.init.num_gpus=2", "+hydra.launcher.ray.init.num_cpus=8", multirun=True)
    results = [json.loads(p.read_text()) for p in sorted(out.glob("*/results.json"))]
    assert len(results) == 8 and all(r["status"] == "complete" and r["batch"]["members"] == 2 for r in results)
    jobs = list({r["process"]["pid"]: r["process"] for r in results}.values())  # one process per group
    assert len(jobs) == 4 and {j["cuda_visible_devices"] for j in jobs} <= {"0", "1"}
    held = [
        sum(
            o["cuda_visible_devices"] == j["cuda_visible_devices"]
            and o["started_unix"] <= j["started_unix"] < o["finished_unix"]
            for o in jobs
        )
        for j in jobs
    ]
    assert max(held) == 2, held


FAKE_SBATCH = """#!/bin/sh
# stands in for SLURM's sbatch: keeps the job script submitit generated, then refuses (no cluster here)
cp "$1" "$FAKE_SBATCH_OUT"
echo "sbatch: error: no cluster (test)" >&2
exit 1
"""


def test_slurm_job_script_requests_what_the_config_says(tmp_path):
    """The real hydra-submitit-launcher writes the sbatch script of the array; a stand-in `sbatch` keeps it. Site
    settings come from local/slurm.yaml (conf/local/ is gitignored; here hydra.searchpath adds a folder holding it)."""
    _need("hydra_plugins.hydra_submitit_launcher", "slurm")
    bin_dir, site = tmp_path / "bin", tmp_path / "site" / "local"
    bin_dir.mkdir()
    site.mkdir(parents=True)
    for name, body in (("sbatch", FAKE_SBATCH), ("srun", "#!/bin/sh\nexit 1\n")):  # submitit looks for srun
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(stat.S_IRWXU)
    (site / "slurm.yaml").write_text("partition: gpu_a100\naccount: my_lab\ntimeout_min: 1440\narray_parallelism: 3\n")
    script = tmp_path / "job.sh"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_SBATCH_OUT": str(script)}
    proc, _ = run_cli(
        tmp_path,
        f"hydra.searchpath=[file://{tmp_path / 'site'}]",
        "experiment=smoke",
        "hydra/launcher=slurm",
        multirun=True,
        check=False,
        env=env,
    )
    assert proc.returncode != 0 and "no cluster (test)" in proc.stdout + proc.stderr
    text = script.read_text()
    sb = dict(re.findall(r"^#SBATCH --([\w-]+)(?:=(.*))?$", text, re.M))
    assert sb["array"] == "0-7%3"  # 8 jobs of the smoke grid, 3 at a time (site setting)
    assert sb["partition"] == "gpu_a100" and sb["account"] == "my_lab"
    assert sb["time"] == "1440" and sb["gpus-per-node"] == "1" and sb["ntasks-per-node"] == "1" and sb["nodes"] == "1"
    assert sb["cpus-per-task"] == "8" and sb["mem"] == "32GB" and sb["job-name"] == "inr-recover"
    assert sb["signal"] == "USR2@120"  # submitit requeues on it; the requeued job resumes from checkpoint.pt


def test_ray_gpu_reserves_the_configured_cpus_and_gpu_share_per_job():
    """hydra.launcher.cpus_per_job is Ray's num_cpus per job (so its workers' OMP_NUM_THREADS); bad values refused."""
    _need("hydra_plugins.hydra_ray_launcher", "ray")
    from omegaconf import OmegaConf

    from hydra_plugins.inr_recover_batch.ray_gpu import RayGPULauncher

    conf = OmegaConf.load(ROOT / "conf" / "hydra" / "launcher" / "ray_gpu.yaml")
    launcher = RayGPULauncher(conf.ray, jobs_per_gpu=4, cpus_per_job=3)
    assert launcher.ray_cfg.remote.num_cpus == 3 and launcher.ray_cfg.remote.num_gpus == 0.25
    assert launcher.ray_cfg.remote.max_calls == 1
    with pytest.raises(ValueError, match="cpus_per_job must be a positive integer, got 0"):
        RayGPULauncher(conf.ray, cpus_per_job=0)
