"""``inr-recover``: thin Hydra entry point. Composes the config, runs the pipeline, returns the headline PSNR."""
from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from inr_recover.errors import UserError


def config_dir() -> str:
    """``conf/`` inside the installed package, else the repository's top-level ``conf/`` (editable checkout)."""
    here = Path(__file__).resolve().parent
    for cand in (here / "conf", here.parent / "conf"):
        if (cand / "config.yaml").is_file():
            return str(cand)
    raise RuntimeError("inr-recover: cannot find its conf/ directory; reinstall the package")


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
    from inr_recover.runtime import flush_denormals, tune_allocator

    tune_allocator()
    flush_denormals()
    hydra.main(config_path=config_dir(), config_name="config", version_base="1.3")(_main)()


if __name__ == "__main__":
    main()
