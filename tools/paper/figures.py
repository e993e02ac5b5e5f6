"""inr_recover/paper_figures.csv, written by the papers' extractors (choir_tables.py, finerpp_table2.py,
view_synthesis.py): each replaces its own rows (those whose source names its paper) and keeps the others."""

import csv
from pathlib import Path

FIELDS = ["data", "degrade", "method", "psnr", "ssim", "lpips", "iou", "chamfer", "convention", "source"]


def merge(path: str, rows: list[dict], paper: str | tuple) -> None:
    """Write ``rows`` (a paper's figures; ``source`` starts with ``paper``, or one of them) into ``path`` in place of
    that paper's."""
    p = Path(path)
    kept = [r for r in csv.DictReader(p.open(encoding="utf-8"))] if p.is_file() else []
    kept = [r for r in kept if not r["source"].startswith(paper)]
    with p.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, FIELDS, lineterminator="\n", restval="")
        w.writeheader()
        w.writerows(kept + rows)
