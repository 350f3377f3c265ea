"""Configuration files: ``<home>/config.toml``, ``<repo>/.scopecraft/config.toml`` and
``$SCOPECRAFT_CONFIG``, in that order, under the arguments of ``Engine.open``."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import make_repo

from scopecraft import ConfigError, Engine, EngineConfig


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "src", {"ok-01A": "fake: say hi"})


@pytest.fixture(autouse=True)
def _no_named_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCOPECRAFT_CONFIG", raising=False)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_layers_in_order_with_the_arguments_on_top(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The home's file, then the repository's, then the named one; tables merge key by key;
    the arguments win over all; each top-level key knows its file."""
    home = tmp_path / "home"
    user = _write(
        home / "config.toml",
        'poll_interval = 2.0\nstop_grace = 3.0\nbranch_template = "user/{env_id}"\n'
        '[agents.claude-code]\nexecutable = "/opt/claude"\n',
    )
    project = _write(
        repo / ".scopecraft" / "config.toml",
        'poll_interval = 1.5\n[agents.codex]\nexecutable = "/opt/codex"\n',
    )
    named = _write(tmp_path / "ci.toml", "stop_grace = 4.0\n")
    monkeypatch.setenv("SCOPECRAFT_CONFIG", str(named))
    engine = Engine(repo, home=home, config={"stop_grace": 5.0})
    config = engine.config
    assert config.poll_interval == 1.5
    assert config.stop_grace == 5.0
    assert config.branch_template == "user/{env_id}"
    assert config.agents == {
        "claude-code": {"executable": "/opt/claude"},
        "codex": {"executable": "/opt/codex"},
    }
    assert engine.config_files.files == (user, project, named)
    assert engine.config_files.sources["poll_interval"] == project
    assert engine.config_files.sources["stop_grace"] == named


def test_an_engine_config_argument_wins_only_with_what_it_sets(repo: Path, tmp_path: Path) -> None:
    """An ``EngineConfig`` given wins with the fields it was made with; the files give the
    rest."""
    home = tmp_path / "home"
    _write(home / "config.toml", "poll_interval = 2.0\nstop_grace = 3.0\n")
    config = Engine(repo, home=home, config=EngineConfig(stop_grace=7.0)).config
    assert (config.poll_interval, config.stop_grace) == (2.0, 7.0)


def test_without_files_nothing_changes(repo: Path, tmp_path: Path) -> None:
    """No file: the arguments (or the defaults) are the configuration."""
    engine = Engine(repo, home=tmp_path / "home")
    assert engine.config == EngineConfig()
    assert engine.config_files.files == ()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("no_such_key = 1\n", "no_such_key"),
        ("poll_interval = -1\n", "poll_interval"),
        ("[resources.autonomous]\ncpu = 2\n", "resources.autonomous.cpu"),
        ("poll_interval = \n", "not valid TOML"),
        ("x = " + "[" * 5000 + "]" * 5000 + "\n", "config.toml"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_the_key(
    repo: Path, tmp_path: Path, text: str, said: str
) -> None:
    """An unknown key, a bad value, bad TOML or absurd nesting: a ``ConfigError`` that names
    the file (and the key)."""
    path = _write(repo / ".scopecraft" / "config.toml", text)
    with pytest.raises(ConfigError) as refused:
        Engine(repo, home=tmp_path / "home")
    assert str(path) in str(refused.value)
    assert said in str(refused.value)


def test_an_oversized_or_missing_named_file_is_refused(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file over 1 MiB is not read; ``$SCOPECRAFT_CONFIG`` naming no file is an error."""
    _write(tmp_path / "home" / "config.toml", "# " + "x" * (1024 * 1024) + "\n")
    with pytest.raises(ConfigError, match="over"):
        Engine(repo, home=tmp_path / "home")
    monkeypatch.setenv("SCOPECRAFT_CONFIG", str(tmp_path / "nowhere.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        Engine(repo, home=tmp_path / "other-home")


def test_the_repository_file_is_found_from_a_subfolder(repo: Path, tmp_path: Path) -> None:
    """An engine opened on a folder inside the repository reads the repository's file."""
    _write(repo / ".scopecraft" / "config.toml", "poll_interval = 0.7\n")
    (repo / "deep" / "er").mkdir(parents=True)
    assert Engine(repo / "deep" / "er", home=tmp_path / "home").config.poll_interval == 0.7
