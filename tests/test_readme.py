"""Every command in a fenced shell block of README.md and of the docs site's pages (``docs/**/*.md``) runs as the
page shows it, through the installed console script from a directory outside the checkout (:mod:`test_installed`),
with a tiny budget appended; or it is in :data:`SKIP` with the reason. A documented command that is neither fails
:func:`test_every_readme_command_is_covered`. README stays a front page: at most 200 lines, the two-command quick
start first.
``make`` targets are checked with ``make -n`` (they exist and run what the README says they run); a command on data
the user supplies (:data:`USER_DATA`) must refuse at once with one line saying where the file is expected."""
from __future__ import annotations

import json
import re
import shlex
import subprocess

import numpy as np
import pytest
import scipy.io
from conftest import ROOT, shared_file

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
SHELL = ("bash", "sh", "shell", "console")

# Appended to a command that trains: the budget, and nothing written that the test does not read.
TINY = ["optim.iterations=2", "eval_every=1", "metrics=fast", "save.figures=false", "progress=false"]

SKIP: dict[str, str] = {  # command -> why no test runs it
    "inr-recover -m experiment=table1": "8 scenes x 8 methods x 5 seeds at full size, a GPU's work; its grid is "
                                        "composed and checked by test_configs (the seven other scenes are the user's)",
}
USER_DATA = {"inr-recover model=choir data=wdc degrade=tube_0.1": "WDC.mat",  # command -> the file it asks for
             "inr-recover task=sdf data=mesh data.path=armadillo.ply model=siren": "armadillo.ply",
             "inr-recover task=view_synthesis data=blender data.root=/data/nerf_synthetic data.scene=drums model=finer":
                 "nerf_synthetic/drums/transforms_train.json"}
# Appended after TINY to a command whose default size would take minutes even for 2 iterations (rendering every
# training and test view of a scene at 200x200)
SMALLER = {"inr-recover task=view_synthesis data=lego model=choir": [
    "data.views=2", "data.resize=[16,16]", "data.test_views=2", "task.samples=8", "batch_size=64"]}
SHARED_FILES = {
    "data=cave_cloth": "msi/cave_cloth_256x256x31.mat",
    "data=kodim23": "rgb/kodim23_bird.png",
    "data=bunny": "mesh/bunny.obj",
    "data=dragon": "mesh/dragon_10k.obj",
    "data=lego": "nerf/lego/transforms_train.json",
}  # a command on the shared data skips, with the reason, without it


def readme_commands() -> list[str]:
    """The commands of the fenced shell blocks of README.md and the docs pages, each once: continuation lines
    joined, comments dropped."""
    commands = []
    for page in PAGES:
        for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", page.read_text(), flags=re.S | re.M):
            if lang not in SHELL:
                continue
            for line in re.sub(r"\\\n\s*", " ", body).splitlines():
                command = " ".join(shlex.split(line, comments=True))
                if command:
                    commands.append(command)
    return list(dict.fromkeys(commands))


COMMANDS = readme_commands()


def user_files(where) -> None:
    """The files the "Repair your own data" commands name, small: a cube with NaN holes under the key ``radiance``, a
    cube whose zeros are missing, a bad-pixel map, a photograph with NaN holes."""
    rng = np.random.default_rng(0)
    cube = rng.random((16, 16, 4))
    holes = cube.copy()
    holes[rng.random(cube.shape) < 0.3] = np.nan
    scipy.io.savemat(where / "scene.mat", {"radiance": holes})
    zeros = cube.copy()
    zeros[rng.random(cube.shape) < 0.3] = 0
    np.save(where / "cube.npy", zeros)
    np.save(where / "bad_pixels.npy", rng.random((16, 16)) < 0.1)
    np.save(
        where / "photo.npy", np.where(rng.random((16, 16, 3)) < 0.7, np.nan, rng.random((16, 16, 3))).astype(np.float32)
    )


def test_readme_has_commands():
    assert len(COMMANDS) >= 10 and "make run" in COMMANDS and "make test" in COMMANDS


def test_readme_is_a_front_page_with_the_two_command_quick_start():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    quick = text.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    assert [" ".join(shlex.split(line, comments=True)) for line in quick.splitlines()] == ["make run", "make test"]
    for link in re.findall(r"\]\((docs/[^)#]+)", text):  # every link into the docs names a page that exists
        assert (ROOT / link).is_file(), link


def test_every_readme_command_is_covered():
    """Each command is run by :func:`test_readme_command` (``inr-recover``, ``make``) or skipped with a reason."""
    uncovered = [c for c in COMMANDS if c not in SKIP and c.split()[0] not in ("inr-recover", "make")]
    assert set(USER_DATA) <= set(COMMANDS), (
        f"USER_DATA names commands README no longer has: {set(USER_DATA) - set(COMMANDS)}"
    )
    assert not uncovered, f"README commands neither run by a test nor in SKIP with a reason: {uncovered}"
    assert set(SKIP) <= set(COMMANDS), f"SKIP names commands README no longer has: {set(SKIP) - set(COMMANDS)}"


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command(command, installs, tmp_path):
    if command in SKIP:
        pytest.skip(SKIP[command])
    argv = shlex.split(command)
    if argv[0] == "make":
        proc = subprocess.run(["make", "-n", *argv[1:]], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr
        return
    for data, file in SHARED_FILES.items():
        if data in argv:
            shared_file(file)
    user_files(tmp_path)
    inst = installs("editable")
    if command in USER_DATA:
        proc = inst.run(tmp_path, *argv)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and USER_DATA[command] in proc.stderr, proc.stderr
        return
    informational = {"--help", "--cfg", "--info"} & set(argv)
    multirun = "-m" in argv
    extra = (
        [] if informational else [*TINY, *SMALLER.get(command, []), f"hydra.{'sweep' if multirun else 'run'}.dir=out"]
    )
    proc = inst.ok(tmp_path, *argv, *extra)
    if informational:
        assert proc.stdout.strip()
        return
    results = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("**/results.json")]
    assert results and all(r["status"] == "complete" for r in results)
    if multirun:  # the sweep's grid, one job per point
        sizes = [len(a.split("=", 1)[1].split(",")) for a in argv if "=" in a and "," in a]
        assert len(results) == int(np.prod(sizes))
