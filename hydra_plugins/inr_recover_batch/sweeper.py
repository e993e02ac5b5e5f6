"""``batch=seeds`` / ``batch=lr``: the sweeper that turns the jobs of a multirun differing only in ``batch.key`` into
one job per group (the members trained as one vmapped model, :func:`inr_recover.run.experiment.run_group`).

It is Hydra's basic sweeper (same grid, same ``hydra.sweeper.params``, same job numbers) with one step added before
each launch (:meth:`BatchedSweeper.group`): the jobs whose overrides are equal but for ``batch.key`` form a group;
each member's run directory is resolved as the launcher would (its config composed, ``hydra.job.num`` its own
number); a group of two or more members of a batchable method is launched as one job whose overrides are its first
member's plus ``batch.members`` (each member's number, value and run directory) and whose own Hydra files and log go
to ``hydra.sweep.dir/batch/<first>-<last>``; the others are launched unchanged. Launching goes through the
configured launcher (basic, ``ray_gpu``, ``slurm``), so a group is one process wherever jobs run.
"""
from __future__ import annotations

import logging
from typing import Any, List, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf, open_dict

log = logging.getLogger(__name__)


def quoted(text: str) -> str:
    """``text`` as a single-quoted value of Hydra's override grammar."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class BatchedSweeper(BasicSweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[dict] = None) -> None:
        super().__init__(max_batch_size=None, params=params)  # one launch: groups may span the whole grid

    def sweep(self, arguments: List[str]) -> Any:
        launch = self.launcher.launch
        self.launcher.launch = lambda jobs, initial_job_idx: launch(self.group(jobs, initial_job_idx), initial_job_idx)
        try:
            return super().sweep(arguments)
        finally:
            self.launcher.launch = launch

    def member_dir(self, overrides: Sequence[str], num: int):
        """(the job's composed config, its run directory relative to ``hydra.sweep.dir``), as the launcher makes it."""
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(cfg):
            cfg.hydra.job.id, cfg.hydra.job.num = num, num
        HydraConfig.instance().set_config(cfg)
        return cfg, str(OmegaConf.select(cfg, "hydra.sweep.subdir"))

    def group(self, jobs: Sequence[Sequence[str]], first: int) -> list[list[str]]:
        """The jobs to launch: a group's members as one job (module doc); the others unchanged."""
        from hydra.utils import get_class

        from inr_recover.engine.batched import unbatchable

        key = self.config.batch.key
        parser = OverridesParser.create()
        keyed = lambda o: parser.parse_override(o).get_key_element() == key  # noqa: E731
        groups: dict = {}
        for num, overrides in enumerate(jobs, first):
            rest = tuple(o for o in overrides if not keyed(o))
            groups.setdefault(rest, []).append((num, list(overrides)))
        out = []  # (number the job would have alone or None for a group, overrides)
        for members in groups.values():
            values = [next((o.partition("=")[2] for o in ov if keyed(o)), None) for _, ov in members]
            if len(members) < 2 or None in values:
                out += members
                continue
            resolved = [self.member_dir(ov, num) for num, ov in members]
            reason = unbatchable(get_class(resolved[0][0].model._target_))
            if reason is not None:
                log.warning(
                    "batch: %s; its %d jobs (%s=%s) run as separate processes",
                    reason,
                    len(members),
                    key,
                    ",".join(values),
                )
                out += members
                continue
            encoded = ",".join(
                f"{{num:{num},value:{quoted(v)},dir:{quoted(d)}}}"
                for (num, _), v, (_, d) in zip(members, values, resolved)
            )
            nums = f"{members[0][0]}-{members[-1][0]}"
            out.append((None, [*members[0][1], f"batch.members=[{encoded}]", f"hydra.sweep.subdir=batch/{nums}"]))
            log.info("batch: jobs %s (%s=%s) run as one vmapped model", nums, key, ",".join(values))
        jobs = [
            ov if num in (None, pos) else [*ov, f"hydra.sweep.subdir={quoted(self.member_dir(ov, num)[1])}"]
            for pos, (num, ov) in enumerate(out, first)
        ]  # a job launched alone keeps its own run directory
        HydraConfig.instance().set_config(self.config)
        return jobs
