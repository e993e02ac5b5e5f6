"""``inr-recover``: thin Hydra entry point. Composes the config, runs the pipeline, returns the headline PSNR.

Errors the user can fix end the process with ``inr-recover: error: <one line>`` on stderr and exit code 2: a
:class:`UserError` from the run, and Hydra's own errors before the run starts: a bad command line (an unknown option of
a group, an unknown key, an unparsable override) or an output directory it cannot create. Any other exception is a bug and keeps its traceback.
With ``HYDRA_FULL_ERROR=1`` set by the user, Hydra reports everything itself, as it would without this.
"""
from __future__ import annotations

import os
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from inr_recover.errors import UserError, refuse
from inr_recover.paths import config_dir

_from_task = []  # exceptions the pipeline raised (not Hydra): only its UserErrors are the user's to fix


def _main(cfg: DictConfig):
    from inr_recover.experiment import run

    hc = HydraConfig.get()
    try:
        results = run(cfg, hc.runtime.output_dir)
    except UserError as e:
        if hc.mode.name == "MULTIRUN":
            raise  # the launcher records the failed job
        refuse(str(e))
    except Exception as e:
        _from_task.append(e)
        raise
    return (results.get("metrics") or {}).get("psnr")


def one_line(e: BaseException) -> str:
    """The message of ``e`` on one line; a missing config option lists the options (Hydra prints one per line)."""
    lines = [line.strip() for line in str(e).split("Config search path:")[0].splitlines() if line.strip()] or [type(e).__name__]
    options = getattr(e, "options", None)
    return f"{lines[0]} (available: {', '.join(options)})" if options else " ".join(lines)


def main() -> None:
    from inr_recover.runtime import fast_cpu

    fast_cpu()
    _from_task.clear()
    app = hydra.main(config_path=config_dir(), config_name="config", version_base="1.3")(_main)
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        return app()
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises instead of printing: the errors are reported here
    try:
        app()
    except (UserError, HydraException, OmegaConfBaseException, OSError) as e:
        if not isinstance(e, UserError) and any(e is t for t in _from_task):
            raise  # the pipeline's own failure: a bug to report with its traceback
        refuse(one_line(e))
    finally:
        os.environ.pop("HYDRA_FULL_ERROR", None)


if __name__ == "__main__":
    main()
