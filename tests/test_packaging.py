"""conf/ ships inside the package: a non-editable install works from any directory."""
from __future__ import annotations

import os
import subprocess
import sys

import tomllib
from conftest import ROOT


def test_every_package_directory_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for top in ("inr_recover", "hydra_plugins")
             for p in (ROOT / top).rglob("__init__.py")}
    assert found | {"inr_recover.conf"} == listed


def test_wheel_install_runs_from_any_directory(tmp_path):
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            *map(str, wheels.glob("*.whl")),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    proc = subprocess.run(
        [sys.executable, "-m", "inr_recover.cli.main", "--cfg", "job", "data=cave_cloth"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "name: cave_cloth" in proc.stdout and "_target_: inr_recover.models.choir.CHOIR" in proc.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import inr_recover.config.paths as p; print(p.config_dir())"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert probe.stdout.strip().startswith(str(target))
