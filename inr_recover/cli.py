"""``inr-recover``: thin Hydra entry point. Composes the config, runs the pipeline, returns the headline PSNR."""
from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from inr_recover.errors import UserError
from inr_recover.paths import config_dir


def _main(cfg: DictConfig):
    from inr_recover.experiment import run

    hc = HydraConfig.get()
    try:
        results = run(cfg, hc.runtime.output_dir)
    except UserError as e:
        if hc.mode.name == "MULTIRUN":
            raise  # the launcher records the failed job
        print(f"inr-recover: error: {e}", file=sys.stderr)
        sys.exit(2)
    return (results.get("metrics") or {}).get("psnr")


def main() -> None:
    from inr_recover.runtime import fast_cpu

    fast_cpu()
    hydra.main(config_path=config_dir(), config_name="config", version_base="1.3")(_main)()


if __name__ == "__main__":
    main()
