"""The README's two commands exist, and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _console_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```console\n(.*?)```", text, flags=re.S)]


def test_readme_has_the_two_commands() -> None:
    """The README names one command for the main job and one for the tests."""
    blocks = _console_blocks((ROOT / "README.md").read_text())
    assert "pip install -e . && scopecraft demo" in blocks
    assert any("pytest" in b for b in blocks)


def test_ci_runs_the_readme_test_command() -> None:
    """`.ci/run` ends by running the same pytest command as the README."""
    readme_test = next(
        b for b in _console_blocks((ROOT / "README.md").read_text()) if "pytest" in b
    )
    pytest_part = readme_test.split("&&")[-1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert pytest_part in ci
