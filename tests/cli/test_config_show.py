"""``scopecraft config show``: the merged configuration and where each key came from."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli.cli_support import Cli


@pytest.fixture
def cli(repo: Path, home: Path) -> Cli:
    return Cli(repo, home)


@pytest.fixture(autouse=True)
def _no_named_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCOPECRAFT_CONFIG", raising=False)


def test_config_show_says_where_each_key_came_from(cli: Cli) -> None:
    """The repository's file sets a key and an agent's options; the rest are defaults; the
    table and the JSON say so; nothing is stored."""
    project = cli.repo / ".scopecraft" / "config.toml"
    project.parent.mkdir(parents=True, exist_ok=True)
    project.write_text('poll_interval = 0.5\n[agents.claude-code]\nexecutable = "/opt/claude"\n')
    shown = cli.json("config", "show")
    assert shown["config"]["poll_interval"] == 0.5
    assert shown["config"]["agents"] == {"claude-code": {"executable": "/opt/claude"}}
    assert shown["sources"]["poll_interval"] == str(project)
    assert shown["sources"]["stop_grace"] == "default"
    assert shown["files"] == [str(project)]
    text = cli("config", "show").stdout
    assert f"poll_interval = 0.5  # {project}" in text
    assert not (cli.home / "scopecraft.db").exists()


def test_a_bad_file_is_a_one_line_error_naming_it(cli: Cli) -> None:
    """An unknown key: exit 2, one line naming the file and the key."""
    project = cli.repo / ".scopecraft" / "config.toml"
    project.parent.mkdir(parents=True, exist_ok=True)
    project.write_text("bogus = 1\n")
    result = cli("config", "show")
    assert result.exit_code == 2
    assert str(project) in result.output
    assert "bogus" in result.output
