"""``inr-recover``: thin Hydra entry point. Composes the config, runs the pipeline, returns the headline PSNR."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict

from inr_recover.errors import UserError
from inr_recover.paths import config_dir


def members(cfg: DictConfig, hc) -> tuple[list, list]:
    """The configs and run directories of the members of a batched group job (``batch.members``, set by
    hydra_plugins/inr_recover_batch/sweeper.py), each member's ``.hydra/config.yaml`` and ``overrides.yaml`` written
    as its own job would have written them."""
    key, parser = cfg.batch.key, OverridesParser.create()
    keyed = lambda o, k: parser.parse_override(o).get_key_element() == k  # noqa: E731
    task = [o for o in hc.overrides.task if not keyed(o, "batch.members")]
    cfgs, dirs = [], []
    for m in cfg.batch.members:
        line = f"{key}={m.value}"
        c = copy.deepcopy(cfg)
        with open_dict(c):
            c.batch.members = None
            OmegaConf.update(c, key, parser.parse_override(line).value())
        out = Path(hc.sweep.dir) / m.dir
        (out / ".hydra").mkdir(parents=True, exist_ok=True)
        OmegaConf.save(c, out / ".hydra" / "config.yaml")
        OmegaConf.save(OmegaConf.create([line if keyed(o, key) else o for o in task]), out / ".hydra" / "overrides.yaml")
        cfgs.append(c)
        dirs.append(out)
    return cfgs, dirs


def _main(cfg: DictConfig):
    from inr_recover.experiment import run, run_group

    hc = HydraConfig.get()
    try:
        if cfg.batch.members:
            return [(r.get("metrics") or {}).get("psnr") for r in run_group(*members(cfg, hc), cfg.batch.key)]
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
