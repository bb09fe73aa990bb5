"""Every example runs, and every code sample in the README and docs works."""

from __future__ import annotations

import doctest
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ketaplan

from .conftest import EXAMPLES, NOW, ROOT

SCRIPTS = sorted(EXAMPLES.glob("*.py"))
PLAN_FILES = sorted(EXAMPLES.glob("*.toml"))
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_there_is_an_example_plan_for_each_builtin_protocol() -> None:
    """examples/ holds a plan file for every built-in protocol."""
    used = {ketaplan.load_plan(path, now=NOW).protocol.name for path in PLAN_FILES}
    assert set(ketaplan.builtin_protocols()) <= used


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_example_plan_builds(path: Path, tmp_path: Path) -> None:
    """Each example plan file builds its seven files."""
    plan = ketaplan.load_plan(path, now=NOW)
    written = ketaplan.write_outputs(plan, tmp_path, now=NOW)
    assert len(written) == 7


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_example_script_runs(path: Path, tmp_path: Path) -> None:
    """Each example script runs to completion from a scratch folder."""
    result = subprocess.run(
        [sys.executable, str(path)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.DOTALL)


@pytest.mark.parametrize("path", [p for p in MARKDOWN if python_blocks(p)], ids=lambda p: p.name)
def test_markdown_python_samples_run(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Python samples in the README and docs run, in order, in one namespace, from a
    folder laid out like the repository (samples find the examples as examples/...)."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for block in python_blocks(path):
        exec(compile(block, str(path), "exec"), namespace)


def test_package_docstring_examples() -> None:
    """The doctest in ketaplan's module docstring passes."""
    result = doctest.testmod(ketaplan, optionflags=doctest.ELLIPSIS)
    assert (result.failed, result.attempted > 0) == (0, True)
