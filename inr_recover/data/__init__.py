"""Data loading: files (io.py), preparation (prepare.py), built-in images and synthetic tensors (builtin.py), point
data (points.py).

Every loader is a ``_target_`` of a ``conf/data/*.yaml`` and returns a :class:`~inr_recover.data.signal.Signal`.
"""
from __future__ import annotations

from inr_recover.config.paths import resolve_path
from inr_recover.config.schema import forwards
from inr_recover.data.io import read_array
from inr_recover.data.prepare import GridSignal, prepare
from inr_recover.data.signal import Signal
from inr_recover.errors import UserError

__all__ = ["GridSignal", "Signal", "load_file", "prepare"]


@forwards(prepare)
def load_file(
    name: str,
    file: str | None = None,
    root: str | None = None,
    path: str | None = None,
    key: str | None = None,
    source: str | None = None,
    **prep,
) -> GridSignal:
    """Read ``root/file`` (or ``path``), pick ``key`` (automatic when the file holds one array), then
    :func:`prepare`."""
    p = resolve_path(root, file, path)
    if not p.is_file():
        where = f" ({source})" if source else ""
        raise UserError(
            f"data '{name}': file not found at {p}{where}; expected key '{key or 'auto'}'. "
            f"Put it there, or set data.root=DIR (or INR_RECOVER_DATA=DIR) or data.path=/path/to/file"
        )
    arr, used_key = read_array(p, key)
    return prepare(arr, name=name, key=used_key, path=str(p), **prep)
