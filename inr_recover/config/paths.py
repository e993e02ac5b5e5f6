"""Where things are: the config directory and data files named in a config."""
from __future__ import annotations

import os
from pathlib import Path

from inr_recover.errors import UserError


def config_dir() -> str:
    """``conf/`` inside the installed package, else the repository's top-level ``conf/`` (editable checkout)."""
    here = Path(__file__).resolve().parents[1]  # the inr_recover package
    for cand in (here / "conf", here.parent / "conf"):
        if (cand / "config.yaml").is_file():
            return str(cand)
    raise RuntimeError("inr-recover: cannot find its conf/ directory; reinstall the package")


def resolve_path(root: str | None, file: str | None, path: str | None) -> Path:
    """``data.path`` wins; else ``data.root / data.file``. Relative paths are taken from the launch directory."""
    if path:
        p = Path(os.path.expanduser(str(path)))
    elif file:
        p = Path(os.path.expanduser(str(root or "."))) / file
    else:
        raise UserError("this data config names no file: set data.path=/path/to/file")
    return p if p.is_absolute() else Path.cwd() / p
