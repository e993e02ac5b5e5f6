"""The documentation: the generated configuration reference is current and covers every config option; no path of
a particular machine anywhere in the product."""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT


def tool(path: str):
    spec = importlib.util.spec_from_file_location(path.replace("/", "_"), ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATE = tool("tools/docs/generate.py")


@pytest.mark.parametrize("page", sorted(GENERATE.PAGES))
def test_generated_pages_are_current(page):
    assert (ROOT / "docs" / page).read_text() == GENERATE.PAGES[page](), \
        f"docs/{page} is stale: run `python tools/docs/generate.py`"


def test_configuration_reference_covers_every_option():
    text = GENERATE.configuration()
    for path in (ROOT / "conf").rglob("*.yaml"):
        if path.stem.startswith("_") or path.name == "config.yaml":
            continue
        group = path.parent.relative_to(ROOT / "conf").as_posix()
        assert f"### `{group}={path.stem}`" in text, f"{group}={path.stem} missing from the reference"
    holdout = text.split("### `select=holdout`", 1)[1].split("###", 1)[0]
    assert (
        "| `fraction` | `0.05` | a finite number in (0, 1) |" in holdout
    )  # default, schema range and comment together


def test_methods_page_has_every_method_with_its_recipe():
    text = GENERATE.methods()
    for path in (ROOT / "conf" / "model").glob("[!_]*.yaml"):
        section = text.split(f"\n## {path.stem}\n", 1)[1].split("\n## ", 1)[0]
        assert ("recipe:" in path.read_text()) == ("```yaml\nrecipe:" in section), path.stem
    sinr = text.split("\n## sinr\n", 1)[1].split("\n## ", 1)[0]
    assert "sklearn.cluster.KMeans" in sinr and "atoms: 120" in sinr


MACHINE_PATH = re.compile(r"(?<![\w$.~/-])/(home|work|Users|root|mnt|scratch)/")


def test_no_path_of_a_particular_machine_in_the_product():
    files = [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml", *(ROOT / ".ci").glob("*")]
    for folder, patterns in (
        ("docs", ("*.md",)),
        ("conf", ("*.yaml",)),
        ("inr_recover", ("*.py", "*.csv")),
        ("hydra_plugins", ("*.py",)),
        ("tools", ("*.py", "*.md", "*.sh")),
        ("tests", ("*.py",)),
    ):
        for pattern in patterns:
            files += (ROOT / folder).rglob(pattern)
    hits = [
        f"{f.relative_to(ROOT)}:{n}: {line.strip()[:120]}"
        for f in files
        if f.is_file()
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1)
        if MACHINE_PATH.search(line)
    ]
    assert not hits, "machine paths (use a placeholder such as $OFFICIAL, or a relative path):\n" + "\n".join(hits)


def build_site(root, tmp_path):
    """``mkdocs build`` of the site in ``root`` (mkdocs.yml: strict) into a temporary folder (never ``--quiet``:
    it hides the warnings that strict mode counts)."""
    pytest.importorskip("material", reason="the docs extra (mkdocs-material) is not installed: pip install '.[docs]'")
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-f", str(root / "mkdocs.yml"), "-d", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_docs_site_builds_and_a_broken_link_fails_it(tmp_path):
    proc = build_site(ROOT, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "site" / "configuration" / "index.html").is_file()
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    with open(copy / "docs" / "index.md", "a") as f:
        f.write("\nSee [the missing page](no-such-page.md).\n")
    proc = build_site(copy, tmp_path / "broken")
    assert proc.returncode != 0 and "no-such-page.md" in proc.stderr
