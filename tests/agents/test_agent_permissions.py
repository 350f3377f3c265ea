"""Permission levels as each CLI's own flags, and the per-session agent homes prepared from
the user's (onboarding done, the key approved, the worktree trusted, the provider copied)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from scopecraft._errors import ConfigError
from scopecraft._models import Permissions, SessionMode
from scopecraft.agents import AgentRequest, ClaudeCodeAgent, CodexAgent


def request(**kwargs: Any) -> AgentRequest:
    values: dict[str, Any] = {
        "mode": SessionMode.AUTONOMOUS,
        "prompt": "do the task",
        "workdir": "/work/tree",
    }
    values.update(kwargs)
    return AgentRequest(**values)


# -- Claude Code -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "flags"),
    [
        ("read-only", ["--permission-mode", "plan"]),
        ("edit", ["--permission-mode", "acceptEdits", "--allowedTools=mcp__scopecraft"]),
        ("full", ["--dangerously-skip-permissions"]),
    ],
)
@pytest.mark.parametrize("terminal", [False, True])
def test_claude_flags_for_each_level(level: str, flags: list[str], terminal: bool) -> None:
    """Each level is its flags, unattended and in a terminal alike; the prompt stays the
    last argument (the allowed tools use ``=``, so that no variadic option swallows it)."""
    command = ClaudeCodeAgent().command(request(permissions=level, terminal=terminal))
    argv = list(command.argv)
    assert argv[-len(flags) - (1 if terminal else 0) :][: len(flags)] == flags
    if terminal:
        assert argv[-1] == "do the task"
    others = {"--dangerously-skip-permissions", "--permission-mode"} - set(flags)
    assert not others & set(argv)


def test_claude_is_sandbox_only_in_a_container_and_only_for_full() -> None:
    """``IS_SANDBOX=1`` lets Claude Code skip permissions as root: set by container runs at
    ``full``, never on the host and never below ``full``."""
    agent = ClaudeCodeAgent()
    assert agent.command(request(permissions="full", in_container=True)).env["IS_SANDBOX"] == "1"
    assert "IS_SANDBOX" not in agent.command(request(permissions="full")).env
    assert "IS_SANDBOX" not in agent.command(request(permissions="edit", in_container=True)).env


def test_claude_allowed_tools_are_configurable_and_checked() -> None:
    """``allowed_tools`` replaces the default; a malformed rule is a ``ConfigError``."""
    argv = ClaudeCodeAgent(allowed_tools=["Bash(npm test)", "mcp__docs"]).command(request()).argv
    assert argv[-2:] == ("--allowedTools=Bash(npm test)", "--allowedTools=mcp__docs")
    for bad in ["-x", "", "Bash(a)(b)", "a b", "Bash(\n)"]:
        with pytest.raises(ConfigError):
            ClaudeCodeAgent(allowed_tools=[bad])


def test_dangerous_is_the_full_level() -> None:
    """The ``dangerous`` alias still maps to ``full``."""
    assert request(dangerous=True).permissions is Permissions.FULL
    argv = ClaudeCodeAgent().command(request(dangerous=True)).argv
    assert "--dangerously-skip-permissions" in argv


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_claude_home_is_ready_for_a_first_run(tmp_path: Path) -> None:
    """A fresh home gets onboarding done, the key approved by its last 20 characters, the
    worktree trusted; the user's settings and login are copied (not linked), all 0600."""
    user = tmp_path / "user"
    user.mkdir()
    (user / "settings.json").write_text('{"model": "opus"}')
    (user / ".credentials.json").write_text('{"token": "t"}')
    home = tmp_path / "home"
    home.mkdir()
    key = "sk-ant-api03-" + "x" * 30 + "ABCDEFGHIJKLMNOPQRST"
    ClaudeCodeAgent(user_home=user).prepare_home(
        home, request(), {"ANTHROPIC_API_KEY": key, "PATH": "/bin"}
    )
    state = json.loads((home / ".claude.json").read_text())
    assert state["hasCompletedOnboarding"] is True
    assert state["customApiKeyResponses"] == {"approved": [key[-20:]], "rejected": []}
    assert state["projects"]["/work/tree"]["hasTrustDialogAccepted"] is True
    assert "bypassPermissionsModeAccepted" not in state
    assert key not in (home / ".claude.json").read_text()
    for name in (".claude.json", "settings.json", ".credentials.json"):
        assert _mode(home / name) == 0o600, name
        assert not (home / name).is_symlink()
    assert (home / "settings.json").read_text() == '{"model": "opus"}'


def test_claude_home_keeps_what_the_agent_stored_and_accepts_full(tmp_path: Path) -> None:
    """A later attempt keeps the agent's own state (its projects, its keys) and a rejected
    key is approved again; ``full`` accepts the skip-permissions warning."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".claude.json").write_text(
        json.dumps(
            {
                "projects": {"/other": {"history": ["x"]}},
                "customApiKeyResponses": {"approved": [], "rejected": ["KEY-SUFFIX-012345678"]},
                "userID": "u1",
            }
        )
    )
    ClaudeCodeAgent(user_home=tmp_path / "none").prepare_home(
        home, request(permissions="full"), {"ANTHROPIC_API_KEY": "KEY-SUFFIX-012345678"}
    )
    state = json.loads((home / ".claude.json").read_text())
    assert state["userID"] == "u1"
    assert state["projects"]["/other"] == {"history": ["x"]}
    assert state["customApiKeyResponses"] == {
        "approved": ["KEY-SUFFIX-012345678"],
        "rejected": [],
    }
    assert state["bypassPermissionsModeAccepted"] is True
    assert not (home / "settings.json").exists()


@pytest.mark.parametrize("content", ["[1, 2]", "{not json", "[" * 100_000, "x" * 2_000_000])
def test_claude_home_survives_a_hostile_state_file(tmp_path: Path, content: str) -> None:
    """Whatever the agent left in ``.claude.json`` (not an object, not JSON, deep, huge), the
    home is prepared afresh."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".claude.json").write_text(content)
    ClaudeCodeAgent(user_home=tmp_path / "none").prepare_home(home, request(), {})
    assert json.loads((home / ".claude.json").read_text())["hasCompletedOnboarding"] is True


def test_a_link_left_in_a_home_is_replaced_never_followed(tmp_path: Path) -> None:
    """An agent that made ``.claude.json`` or ``config.toml`` a link to a file of the host
    does not get that file read or written: the link is replaced by a private file."""
    outside = tmp_path / "host-file"
    outside.write_text('{"hasCompletedOnboarding": false, "secret": "host"}')
    home = tmp_path / "home"
    home.mkdir()
    (home / ".claude.json").symlink_to(outside)
    (home / "config.toml").symlink_to(outside)
    ClaudeCodeAgent(user_home=tmp_path / "none").prepare_home(home, request(), {})
    CodexAgent(user_home=tmp_path / "none").prepare_home(home, request(), {})
    assert outside.read_text() == '{"hasCompletedOnboarding": false, "secret": "host"}'
    assert not (home / ".claude.json").is_symlink()
    assert not (home / "config.toml").is_symlink()
    assert "secret" not in (home / ".claude.json").read_text()


# -- Codex -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "in_container", "flags"),
    [
        ("read-only", False, ["--sandbox", "read-only"]),
        ("read-only", True, ["--dangerously-bypass-approvals-and-sandbox"]),
        ("edit", False, ["--sandbox", "workspace-write"]),
        ("edit", True, ["--dangerously-bypass-approvals-and-sandbox"]),
        ("full", False, ["--dangerously-bypass-approvals-and-sandbox"]),
        ("full", True, ["--dangerously-bypass-approvals-and-sandbox"]),
    ],
)
def test_codex_flags_for_each_level(level: str, in_container: bool, flags: list[str]) -> None:
    """``read-only`` and ``edit`` are Codex's own sandboxes on the host; in a container, which
    is the sandbox (and mounts a read-only session's worktree read-only), every level
    bypasses Codex's (it cannot nest)."""
    argv = list(CodexAgent().command(request(permissions=level, in_container=in_container)).argv)
    at = argv.index(flags[0])
    assert argv[at : at + len(flags)] == flags
    assert argv[-1] == "-"


def test_codex_home_copies_the_users_provider_and_login(tmp_path: Path) -> None:
    """The user's ``config.toml`` (its provider and base URL) and ``auth.json`` are copied
    (0600, never linked) and the worktree trusted in the copy; the user's files are left as
    they were; preparing twice adds the trust once."""
    user = tmp_path / "user"
    user.mkdir()
    config = (
        'model_provider = "mine"\n\n[model_providers.mine]\nbase_url = "http://127.0.0.1:9/v1"\n'
    )
    (user / "config.toml").write_text(config)
    (user / "auth.json").write_text('{"OPENAI_API_KEY": "k"}')
    home = tmp_path / "home"
    home.mkdir()
    agent = CodexAgent(user_home=user)
    agent.prepare_home(home, request(), {})
    agent.prepare_home(home, request(), {})
    copied = (home / "config.toml").read_text()
    assert copied.startswith(config.rstrip())
    assert copied.count('[projects."/work/tree"]') == 1
    assert 'trust_level = "trusted"' in copied
    assert (home / "auth.json").read_text() == '{"OPENAI_API_KEY": "k"}'
    assert _mode(home / "config.toml") == _mode(home / "auth.json") == 0o600
    assert (user / "config.toml").read_text() == config
    import tomllib

    assert tomllib.loads(copied)["projects"]["/work/tree"]["trust_level"] == "trusted"


def test_codex_home_without_a_user_config_only_trusts(tmp_path: Path) -> None:
    """Without the user's files, the home holds the trust and nothing else."""
    home = tmp_path / "home"
    home.mkdir()
    CodexAgent(user_home=tmp_path / "none").prepare_home(home, request(), {})
    import tomllib

    assert tomllib.loads((home / "config.toml").read_text()) == {
        "projects": {"/work/tree": {"trust_level": "trusted"}}
    }
    assert not (home / "auth.json").exists()


def test_codex_home_defaults_to_the_engines_codex_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``user_home``, the engine's ``CODEX_HOME`` is the user's folder."""
    user = tmp_path / "user"
    user.mkdir()
    (user / "config.toml").write_text('model = "gpt-5.4"\n')
    monkeypatch.setenv("CODEX_HOME", os.fspath(user))
    home = tmp_path / "home"
    home.mkdir()
    CodexAgent().prepare_home(home, request(), {})
    assert (home / "config.toml").read_text().startswith('model = "gpt-5.4"')


def test_base_urls_are_forwarded() -> None:
    """The adapters ask the engine to pass on their APIs' base URLs (non-secret)."""
    assert "ANTHROPIC_BASE_URL" in ClaudeCodeAgent().forward_env
    assert "OPENAI_BASE_URL" in CodexAgent().forward_env
