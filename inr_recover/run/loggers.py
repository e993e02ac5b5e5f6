"""Training-curve loggers (``conf/logger/*.yaml``, ``logger=none``: no curve file).

A logger writes a run's curves into its run directory once training has ended (a resumed run's curves include the
iterations before the interruption). ``curves`` maps a column name to one value per evaluation point, ``iteration``
first: ``seconds`` (training time so far), ``loss``, ``lr``, ``holdout`` (the selection score, when the rule has
one) and ``oracle_psnr`` (the diagnostic, when the data has a ground truth).
"""
from __future__ import annotations

import csv
from pathlib import Path

from inr_recover.errors import UserError
from inr_recover.run.files import atomic_path


class CSVLogger:
    """``curves.csv``: a header naming the columns, then one row per evaluation point."""

    def write(self, out_dir, curves: dict) -> None:
        with atomic_path(Path(out_dir) / "curves.csv") as tmp, open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(list(curves))
            w.writerows(zip(*curves.values()))


class TensorBoardLogger:
    """TensorBoard scalars in ``<run dir>/tb``: every column at its iteration, but ``seconds`` (TensorBoard keeps
    its own wall time). Needs the optional extra: ``pip install 'inr-recover[tensorboard]'``."""

    def write(self, out_dir, curves: dict) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError(
                "logger=tensorboard needs the tensorboard package: pip install 'inr-recover[tensorboard]'"
            ) from None
        scalars = [k for k in curves if k not in ("iteration", "seconds")]
        with SummaryWriter(str(Path(out_dir) / "tb")) as tb:
            for i, it in enumerate(curves.get("iteration", [])):
                for k in scalars:
                    if curves[k][i] is not None:  # an oracle point lost to Ctrl-C (Experiment.curves)
                        tb.add_scalar(k, curves[k][i], it)
