"""``inr-recover``: thin Hydra entry point. Composes the config, runs the pipeline, returns the headline PSNR.

Errors the user can fix end the process with ``inr-recover: error: <one line>`` on stderr and exit code 2: a
:class:`UserError` from the run, and Hydra's own errors before the run starts: a bad command line (an unknown option of
a group, an unknown key, an unparsable override, flags that exclude each other such as ``-m`` with ``--cfg``) or an
output directory it cannot create. Any other exception is a bug and keeps its traceback.
With ``HYDRA_FULL_ERROR=1`` set by the user, Hydra reports everything itself, as it would without this.

The project's own Hydra plugins (the ``batch=seeds|lr`` sweeper, the ``ray_gpu`` launcher) are registered with Hydra
explicitly (:func:`register_plugins`): Hydra's scan of the ``hydra_plugins`` namespace walks the paths of
``hydra_plugins.__path__``, which an editable install (setuptools' import hook) does not extend, so a scan alone finds
them only in a regular install.
"""
from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from inr_recover.config.paths import config_dir
from inr_recover.errors import UserError, refuse

_from_task = []  # exceptions the pipeline raised (not Hydra): only its UserErrors are the user's to fix


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
        OmegaConf.save(
            OmegaConf.create([line if keyed(o, key) else o for o in task]), out / ".hydra" / "overrides.yaml"
        )
        cfgs.append(c)
        dirs.append(out)
    return cfgs, dirs


def _main(cfg: DictConfig):
    from inr_recover.run.experiment import run, run_group

    hc = HydraConfig.get()
    try:
        if cfg.batch.members:
            return [(r.get("metrics") or {}).get("psnr") for r in run_group(*members(cfg, hc), cfg.batch.key)]
        results = run(cfg, hc.runtime.output_dir)
    except UserError as e:
        if hc.mode.name == "MULTIRUN":
            raise  # the launcher records the failed job
        refuse(str(e))
    except Exception as e:
        _from_task.append(e)
        raise
    return (results.get("metrics") or {}).get("psnr")


# Hydra's own refusals of a command line, with what to type instead
HINTS = {
    "Only one of --run, --multirun": "drop -m to print a preset's composed config and its sweep "
    "(e.g. `inr-recover experiment=table3 --cfg hydra`)"
}


def one_line(e: BaseException) -> str:
    """The message of ``e`` on one line; a missing config option lists the options (Hydra prints one per line)."""
    lines = [line.strip() for line in str(e).split("Config search path:")[0].splitlines() if line.strip()] or [
        type(e).__name__
    ]
    options = getattr(e, "options", None)
    text = f"{lines[0]} (available: {', '.join(options)})" if options else " ".join(lines)
    hint = next((h for key, h in HINTS.items() if text.startswith(key)), None)
    return f"{text}: {hint}" if hint else text


def positional_degradation(argv: list[str]) -> str | None:
    """The refusal of an override that addresses a degradation operator by its position (``degrade.ops.1.known``, the
    form before operators were named), or None."""
    old = next((a for a in argv if a.lstrip("+~").startswith("degrade.ops")), None)
    if old is None:
        return None
    return (
        f"{old}: degradation operators are addressed by name, not position: degrade.<name>.<option>, e.g. "
        "degrade.impulses.known=true (the names: `inr-recover degrade=<name> --cfg job`, or conf/degrade/<name>.yaml)"
    )


def register_plugins() -> None:
    """Register the sweeper and launcher of ``hydra_plugins/inr_recover_batch`` with Hydra by class, whatever the
    install kind (module doc); registering a class the scan also found is a no-op. The scan runs first: it executes
    Hydra's core plugin modules again, and a subclass must derive from the classes that stay registered."""
    from hydra.core.plugins import Plugins

    plugins = Plugins.instance()
    from hydra_plugins.inr_recover_batch import ray_gpu, sweeper

    plugins.register(sweeper.BatchedSweeper)
    if ray_gpu.RayLauncher is not None:  # the [ray] extra is installed
        plugins.register(ray_gpu.RayGPULauncher)


def config_groups(width: int = 100) -> str:
    """``inr-recover --help``'s group list (the ``${inr_recover_groups:}`` of ``hydra.help.template``): every folder
    of ``conf/`` with its options, internal bases (``_name``) left out, wrapped at ``width``."""
    import textwrap

    root, lines = Path(config_dir()), []
    for folder in sorted(p for p in root.rglob("*") if p.is_dir() and any(p.glob("*.yaml"))):
        names = sorted(f.stem for f in folder.glob("*.yaml") if not f.stem.startswith("_"))
        lines += textwrap.wrap(
            ", ".join(names),
            width,
            initial_indent=f"  {folder.relative_to(root).as_posix()}: ",
            subsequent_indent="      ",
            break_on_hyphens=False,
        )
    return "\n".join(lines)


def main() -> None:
    from inr_recover.engine.runtime import fast_cpu

    fast_cpu()
    OmegaConf.register_new_resolver("inr_recover_groups", config_groups, replace=True)
    if (old := positional_degradation(sys.argv[1:])) is not None:
        refuse(old)
    register_plugins()
    _from_task.clear()
    app = hydra.main(config_path=config_dir(), config_name="config", version_base="1.3")(_main)
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        return app()
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises instead of printing: the errors are reported here
    try:
        app()
    except (UserError, HydraException, OmegaConfBaseException, OSError, ValueError) as e:
        if not isinstance(e, UserError) and any(e is t for t in _from_task):
            raise  # the pipeline's own failure: a bug to report with its traceback (a ValueError here is Hydra's)
        refuse(one_line(e))
    finally:
        os.environ.pop("HYDRA_FULL_ERROR", None)


if __name__ == "__main__":
    main()
