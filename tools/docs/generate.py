"""The generated pages of the docs site, from ``conf/`` and the validation schema (never edited by hand):

- ``docs/configuration.md``: every config group and option, each option's YAML header comment, and each field with
  its default as written in the YAML (interpolations shown as they are), the values it accepts (the type annotation
  of the parameter that receives it, :mod:`inr_recover.config.schema`, where the node names a ``_target_``) and its
  inline comment. Internal bases (``_file``, ...) are not options and are left out.
- ``docs/methods.md``: one section per method (``conf/model/``): its config's header comment (paper, official code,
  what we follow and where we differ) and its ``recipe:`` block (the authors' training recipe with its sources), as
  written.

    python tools/docs/generate.py           # rewrite both pages
    python tools/docs/generate.py --check   # exit 1 when a page is stale (tests/test_docs.py)
"""

from __future__ import annotations

import re
import sys
import typing
from pathlib import Path

from omegaconf import OmegaConf

from inr_recover.config.paths import config_dir
from inr_recover.config.schema import HYDRA_KEYS, describe, locate, options

DOCS = Path(__file__).resolve().parents[2] / "docs"
FIELD = re.compile(r"^( {0,2})([A-Za-z_][\w]*):(.*)$")
GROUPS = (
    "model",
    "data",
    "degrade",
    "task",
    "protocol",
    "optim",
    "scheduler",
    "select",
    "metrics",
    "logger",
    "batch",
    "experiment",
    "hydra/launcher",
    "hydra/sweeper",
)


def split_comment(text: str) -> tuple[str, str]:
    """``value  # comment`` -> (value, comment); a ``#`` inside quotes or braces is part of the value."""
    depth, quote = 0, None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        elif ch == "#" and depth == 0 and (i == 0 or text[i - 1] in " \t"):
            return text[:i].strip(), text[i + 1 :].strip()
    return text.strip(), ""


def header(lines: list[str]) -> str:
    """The comment block the file opens with, as one paragraph."""
    out = []
    for line in lines:
        if not line.startswith("#"):
            break
        out.append(line.lstrip("#").strip())
    return " ".join(t for t in out if t and not t.startswith("@package"))


def fields(lines: list[str]) -> list[tuple[str, str, str]]:
    """``(dotted name, default as written, comment)`` of the top-level fields and the fields one level inside a
    mapping; a comment-only line right below a field continues its comment."""
    out, parent, last = [], None, None
    for line in lines:
        if line.lstrip().startswith("#") and last is not None:
            if line[0].isspace():  # an indented comment-only line continues the last field's comment
                name, value, comment = out[last]
                out[last] = (name, value, (comment + " " + line.strip().lstrip("#").strip()).strip())
            continue
        m = FIELD.match(line)
        if not m:
            last = None
            continue
        indent, name, rest = m.groups()
        value, comment = split_comment(rest)
        if name == "defaults" or (indent and parent is None):
            last = None
            continue
        if not indent:
            parent = name if not value else None
        full = f"{parent}.{name}" if indent else name
        out.append((full, value or "(mapping)", comment))
        last = len(out) - 1
    return out


def parameters(node) -> dict:
    """``{parameter: type hint}`` of the node's ``_target_`` (empty without one, or when it cannot be imported)."""
    target = node.get("_target_") if isinstance(node, dict) else None
    try:
        return options(locate("node", target))[0] if target else {}
    except Exception:
        return {}


def accepted(params: dict, name: str) -> str:
    """The values field ``name`` accepts, from the annotation of the parameter that receives it."""
    hint = typing.Any if "." in name or name in HYDRA_KEYS else params.get(name, typing.Any)
    return "" if hint is typing.Any else describe(hint)


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") if text else ""


def option_section(group: str, path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    node = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    out = [f"### `{group}={path.stem}`", ""]
    about = header(lines)
    if group == "model" and about:  # the whole header is on the Methods page
        first = about.split(". ", 1)[0].rstrip(".")
        first = first if len(first) <= 300 else first[:300].rsplit(" ", 1)[0] + " ..."
        about = (
            f"{first}. The paper, the official code, the recipe and the deviations: [Methods](methods.md#{path.stem})."
        )
    if about:
        out += [about, ""]
    rows, params = fields(lines), parameters(node)
    if rows:
        out += ["| field | default | accepts | description |", "|---|---|---|---|"]
        out += [
            f"| `{name}` | `{cell(value)}` | {cell(accepted(params, name))} | {cell(comment)} |"
            for name, value, comment in rows
        ]
        out.append("")
    return out


def configuration() -> str:
    conf = Path(config_dir())
    top = (conf / "config.yaml").read_text().splitlines()
    out = [
        "# Configuration reference",
        "",
        "Generated by `python tools/docs/generate.py` from `conf/` and the validation schema "
        "(`inr_recover/config/schema.py`); do not edit by hand (`tests/test_docs.py` fails when it is stale).",
        "",
        "Pick an option with `group=option`, change a field with `group.field=value`; a field's *default* is as "
        "written "
        "in its YAML (`${...}` are interpolations resolved at run time); *accepts* is what validation checks before "
        "any "
        "work starts.",
        "",
        "## Top level (`conf/config.yaml`)",
        "",
        header(top),
        "",
        "| field | default | description |",
        "|---|---|---|",
    ]
    out += [f"| `{n}` | `{cell(v)}` | {cell(c)} |" for n, v, c in fields(top) if not n.startswith("hydra")]
    out.append("")
    for group in GROUPS:
        files = sorted(p for p in (conf / group).glob("*.yaml") if not p.stem.startswith("_"))
        out += [f"## `{group}`", "", "Options: " + ", ".join(f"`{p.stem}`" for p in files) + ".", ""]
        for p in files:
            out += option_section(group, p)
    return "\n".join(out).rstrip() + "\n"


def recipe_block(lines: list[str]) -> str:
    """The ``recipe:`` block of a model config, as written (comments included); empty if it has none."""
    out = []
    for line in lines:
        if line.startswith("recipe:"):
            out.append(line)
        elif out and (line.startswith((" ", "#")) or not line.strip()):
            out.append(line)
        elif out:
            break
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


def methods() -> str:
    models = Path(config_dir()) / "model"
    files = sorted(p for p in models.glob("*.yaml") if not p.stem.startswith("_"))
    out = [
        "# Methods",
        "",
        "Generated by `python tools/docs/generate.py` from `conf/model/*.yaml`: each method's header comment (the "
        "paper, the official code, what we follow and where we differ) and its training recipe "
        "(`protocol=official`, the default) as written there. Every option of each method, with its default and "
        "accepted values: [Configuration](configuration.md).",
        "",
        "Methods: " + ", ".join(f"[`{p.stem}`](#{p.stem})" for p in files) + ".",
        "",
    ]
    for p in files:
        lines = p.read_text().splitlines()
        note = [
            line[2:] if line.startswith("# ") else line.lstrip("#")
            for line in lines[: next((i for i, line in enumerate(lines) if not line.startswith("#")), 0)]
        ]
        out += [f"## {p.stem}", ""]
        if note:
            out += ["```text", *note, "```", ""]
        block = recipe_block(lines)
        out += (
            ["Training recipe (`protocol=official`):", "", "```yaml", block, "```", ""]
            if block
            else ["No `recipe:`: no training loop, or `protocol=common`'s shared recipe.", ""]
        )
    return "\n".join(out).rstrip() + "\n"


PAGES = {"configuration.md": configuration, "methods.md": methods}


if __name__ == "__main__":
    stale = [name for name, page in PAGES.items() if not (DOCS / name).is_file() or (DOCS / name).read_text() != page()]
    if "--check" in sys.argv:
        print("stale: " + ", ".join(stale) if stale else "current")
        sys.exit(1 if stale else 0)
    for name, page in PAGES.items():
        (DOCS / name).write_text(page())
        print(f"wrote docs/{name}")
