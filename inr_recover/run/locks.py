"""One process per run or sweep directory: a lock file naming its owner.

:func:`hold` creates the directory and ``<dir>/.inr-recover.lock`` and keeps an exclusive ``flock`` on the file while
the run goes on; the file holds the owner's pid, host, start time and command. A second launch into the same
directory finds the lock taken and stops with a one-line error naming the owner, before it writes anything there.
The kernel drops a flock when its process dies, so a lock file left by a killed process is stale: the next launch
takes it over and logs whose it was. Where the file system has no flock, the pid decides: a lock whose pid is dead on
this host is stale, one from another host is taken as live (remove the file by hand once that process is gone).

The CLI holds the run directory (single run) or the sweep directory (multirun) through :class:`LockCallback`
(``hydra.callbacks.lock``) from before Hydra writes into it; :func:`inr_recover.run.experiment.run` holds each job's
own directory. A process may hold the same directory more than once (the holds nest).
"""
from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

from hydra.experimental.callback import Callback

from inr_recover.errors import UserError, refuse

log = logging.getLogger("inr_recover")
NAME = ".inr-recover.lock"
_held: dict = {}  # resolved lock path -> [file descriptor, number of nested holds] of this process


def make_dir(directory) -> Path:
    """Create ``directory`` (and its parents), or raise a one-line :class:`UserError` saying why it cannot be."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the output directory {directory}: {e.strerror or e}") from None
    return directory


def _owner(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 65536, 0) or b"{}")
    except ValueError:
        return {}


def _alive(owner: dict) -> bool:
    """Whether the owner may still run: its pid lives on this host, or it is on another host (unknowable here)."""
    if owner.get("host") != platform.node():
        return True
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError, TypeError):
        return True
    return True


def _busy(directory: Path, owner: dict) -> UserError:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(owner["started"])) if "started" in owner else "?"
    return UserError(f"{directory} is in use by another inr-recover process (pid {owner.get('pid', '?')} on "
                     f"{owner.get('host', '?')}, since {since}): wait for it to end, or use another hydra.run.dir / "
                     f"hydra.sweep.dir (lock file {directory / NAME})")


def _take(path: Path) -> int:
    """Open and lock ``path`` (module doc); the descriptor, with our details written in the file."""
    for _ in range(10):  # an owner releasing the lock removes the file between our open and our flock: retry
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _owner(fd)
            os.close(fd)
            raise _busy(path.parent, owner) from None
        except OSError:  # no flock on this file system: the pid decides
            if _alive(owner := _owner(fd)) and owner:
                os.close(fd)
                raise _busy(path.parent, owner) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        if old := _owner(fd):
            log.warning(
                "took over the stale lock %s of pid %s on %s (that process is gone)",
                path,
                old.get("pid"),
                old.get("host"),
            )
        me = {"pid": os.getpid(), "host": platform.node(), "started": time.time(), "command": " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        return fd
    raise UserError(f"cannot lock {path}: other processes keep replacing it")


def acquire(directory) -> Path:
    """Hold ``directory``'s lock (created with the directory) until :func:`release`; nested holds count."""
    path = (make_dir(directory) / NAME).resolve()
    if path in _held:
        _held[path][1] += 1
    else:
        _held[path] = [_take(path), 1]
    return path


def release(path: Path) -> None:
    entry = _held.get(path)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] == 0:
        del _held[path]
        path.unlink(missing_ok=True)  # while still locked: a waiter that opened this file retries on the new one
        os.close(entry[0])


@contextlib.contextmanager
def hold(directory):
    """``with hold(dir):`` the directory is this process's (module doc)."""
    path = acquire(directory)
    try:
        yield Path(directory)
    finally:
        release(path)


@atexit.register
def _release_all() -> None:
    """At exit (sys.exit included), remove the lock files this process holds: a run that Hydra ended without its
    end callbacks (a failed job of a multirun) leaves none behind. A killed process leaves a stale one (module doc)."""
    for path in list(_held):
        _held[path][1] = 1
        release(path)


class LockCallback(Callback):
    """``hydra.callbacks.lock``: the CLI holds the run directory (or the sweep directory of a multirun) from before
    Hydra writes into it until the run (or the sweep) ends. Hydra turns a callback's exception into a warning and
    goes on, so a refusal here ends the process itself (:func:`inr_recover.errors.refuse`)."""

    def __init__(self):
        self.path = None

    def _acquire(self, directory) -> None:
        try:
            self.path = acquire(directory)
        except UserError as e:
            refuse(str(e))

    def on_run_start(self, config, **kwargs) -> None:
        self._acquire(config.hydra.run.dir)

    def on_multirun_start(self, config, **kwargs) -> None:
        self._acquire(config.hydra.sweep.dir)

    def on_run_end(self, config, **kwargs) -> None:
        release(self.path)

    def on_multirun_end(self, config, **kwargs) -> None:
        release(self.path)
