"""``hydra/launcher=ray_gpu``: Hydra's Ray launcher with ``jobs_per_gpu``: each job reserves ``1 / jobs_per_gpu`` of a
GPU (Ray's fractional ``num_gpus``), so that many small jobs share one device and no device holds more. Defined only
when the optional extra is installed (``pip install 'inr-recover[ray]'``)."""
from __future__ import annotations

try:
    from hydra_plugins.hydra_ray_launcher.ray_launcher import RayLauncher
except ImportError:  # the [ray] extra is absent: hydra/launcher=ray_gpu then says so when selected
    RayLauncher = None

if RayLauncher is not None:

    class RayGPULauncher(RayLauncher):
        def __init__(self, ray, jobs_per_gpu: int = 1, cpus_per_job: int = 1) -> None:
            for name, value in (("jobs_per_gpu", jobs_per_gpu), ("cpus_per_job", cpus_per_job)):
                if not isinstance(value, int) or value < 1:
                    raise ValueError(f"hydra.launcher.{name} must be a positive integer, got {value}")
            super().__init__(ray)
            self.ray_cfg.remote.num_gpus = 1.0 / jobs_per_gpu
            self.ray_cfg.remote.num_cpus = cpus_per_job  # Ray sets each worker's OMP_NUM_THREADS to it
