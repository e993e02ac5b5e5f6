"""One process per run or sweep directory (inr_recover/run/locks.py): a live owner refuses a second launch, a dead
owner's lock is taken over, holds nest."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest
from conftest import TINY, checkout_env, cli_command, run_cli

from inr_recover.errors import UserError
from inr_recover.run.locks import NAME, acquire, hold, release


def test_second_live_launch_into_the_dir_is_refused(tmp_path):
    """This process holds the run dir; the CLI launched into it exits 2 with one line naming our pid and host, and
    writes nothing there."""
    _, _, out = cli_command(tmp_path)
    with hold(out):
        before = sorted(p.name for p in out.iterdir())
        proc, _ = run_cli(tmp_path, *TINY, check=False)
        assert sorted(p.name for p in out.iterdir()) == before == [NAME]
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1, proc.stderr
    assert f"is in use by another inr-recover process (pid {os.getpid()} on {platform.node()}" in err[0]
    assert not (out / NAME).exists()  # released when the hold ended


def test_lock_of_a_live_process_is_refused_in_process(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; from inr_recover.run.locks import acquire; "
                              f"acquire({str(tmp_path)!r}); print('held', flush=True); time.sleep(60)"],
                             stdout=subprocess.PIPE, text=True, env=checkout_env())
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=rf"in use by another inr-recover process \(pid {child.pid} on "):
            acquire(tmp_path)
    finally:
        child.kill()
        child.wait()
    path = acquire(tmp_path)  # the kernel dropped the dead child's flock: its lock file is stale and taken over
    assert json.loads(path.read_text())["pid"] == os.getpid()
    release(path)
    assert not path.exists()


def test_stale_lock_of_a_dead_pid_is_taken_over(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / NAME).write_text(json.dumps({"pid": dead.pid, "host": platform.node(), "started": 0}))
    with hold(tmp_path):
        owner = json.loads((tmp_path / NAME).read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == platform.node()
    assert f"took over the stale lock {(tmp_path / NAME).resolve()} of pid {dead.pid}" in caplog.text


def test_holds_nest(tmp_path):
    outer = acquire(tmp_path)
    with hold(tmp_path):
        assert outer.exists()
    assert outer.exists()
    release(outer)
    assert not outer.exists()
