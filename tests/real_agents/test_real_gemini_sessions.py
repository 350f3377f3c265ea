"""Whole scopecraft sessions with the real Gemini CLI on the local executor.

As in ``test_real_engine_sessions.py``: the engine, the agent and the scripted Gemini API run
together in one network namespace that holds only loopback (``engine_session.py``). The engine
builds the adapter from its entry point, forwards ``GEMINI_API_KEY`` and
``GOOGLE_GEMINI_BASE_URL`` from its own environment, and prepares the session's
``GEMINI_CLI_HOME``; each test checks what a user sees.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from real_agents.conftest import real_tmux_socket, require_agent
from real_agents.gemini_support import API_KEY, MODEL, NO_RETRIES
from real_agents.test_real_engine_sessions import PORT, TASK_ID, run_engine, worktree

from scopecraft.agents import DEFAULT_GEMINI_PRICES
from scopecraft.testing import (
    ApiError,
    GeminiModelServer,
    ModelTurn,
    ScriptedModelServer,
    TokenUsage,
    ToolCall,
)

pytestmark = pytest.mark.real_agent

PRICE = DEFAULT_GEMINI_PRICES[MODEL]


@pytest.fixture
def gemini_bin() -> str:
    """The Gemini CLI's binary."""
    return require_agent("gemini")


def gemini_env(server: ScriptedModelServer, gemini_bin: str, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "tmp").mkdir(parents=True, exist_ok=True)
    return {
        "GEMINI_API_KEY": API_KEY,
        "GOOGLE_GEMINI_BASE_URL": server.base_url,
        "PATH": f"{Path(gemini_bin).parent}:/usr/local/bin:/usr/bin:/bin",
        # The CLI writes a report of every API error there.
        "TMPDIR": str(tmp_path / "tmp"),
    }


def gemini_create(**extra: Any) -> dict[str, Any]:
    values = {
        "task_id": TASK_ID,
        "mode": "autonomous",
        "executor": "local",
        "agent": "gemini",
        "model": MODEL,
    }
    return {"create": {**values, **extra}}


def gemini_config(gemini_bin: str, **extra: Any) -> dict[str, Any]:
    return {"agents": {"gemini": {"executable": gemini_bin}}, **extra}


def user_settings(tmp_path: Path, settings: dict[str, Any]) -> None:
    """The user's ``~/.gemini/settings.json`` (``run_engine``'s HOME), which the adapter copies
    into each session's home."""
    folder = tmp_path / "user-home" / ".gemini"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.json").write_text(json.dumps(settings))


def test_gemini_session_edits_completes_and_resumes_with_exact_cost(
    gemini_bin: str, tmp_path: Path
) -> None:
    """A default (``edit``: ``auto_edit``) session writes a file in its worktree and completes
    with the cost its usage implies at list price; ``continue_session`` resumes the same
    Gemini session (the server gets the whole history) and the costs add up exactly."""
    target = worktree(tmp_path) / "hello.txt"
    server = GeminiModelServer(
        [
            ModelTurn.of(
                "I will write the file.",
                ToolCall("write_file", {"file_path": str(target), "content": "hello\n"}),
                usage=TokenUsage(1000, 50),
            ),
            ModelTurn.of("Wrote hello.txt.", usage=TokenUsage(1300, 20)),
            ModelTurn.of("Still done.", usage=TokenUsage(1500, 10)),
        ],
        port=PORT,
    )
    result = run_engine(
        tmp_path,
        server,
        [gemini_create(), {"continue": "Check it once more."}],
        env=gemini_env(server, gemini_bin, tmp_path),
        config=gemini_config(gemini_bin),
    )
    first, second = result.session(0), result.session(1)
    assert first["status"] == "completed", result.describe()
    assert first["denials"] == 0
    assert [t["name"] for t in result.events("tool_used", 0)] == ["write_file"]
    assert target.read_text() == "hello\n"
    first_usd = PRICE.cost(2300, 0, 70)
    assert first["cost_usd"] == pytest.approx(first_usd, rel=1e-9)
    assert "Wrote hello.txt." in [m["text"] for m in result.events("agent_message", 0)]

    assert second["status"] == "completed", result.describe()
    assert second["attempt"] == 2
    assert second["agent_session_id"] == first["agent_session_id"]
    last = [r for r in result.run.requests if GeminiModelServer.takes_turn(r)][-1]
    said = json.dumps(last.json()["contents"])
    assert "Wrote hello.txt." in said
    assert "Check it once more." in said
    assert second["cost_usd"] == pytest.approx(first_usd + PRICE.cost(1500, 0, 10), rel=1e-9)


def test_gemini_read_only_session_reports_the_denied_write(gemini_bin: str, tmp_path: Path) -> None:
    """At ``read-only`` (``plan``) the write is refused: a ``tool_denied`` event, no file, and
    the session completes saying how many tool uses were denied."""
    target = worktree(tmp_path) / "hello.txt"
    server = GeminiModelServer(
        [
            ModelTurn.of(ToolCall("write_file", {"file_path": str(target), "content": "x"})),
            ModelTurn.of("I could not write it."),
        ],
        port=PORT,
    )
    result = run_engine(
        tmp_path,
        server,
        [gemini_create(permissions="read-only")],
        env=gemini_env(server, gemini_bin, tmp_path),
        config=gemini_config(gemini_bin),
    )
    session = result.session()
    assert [d["name"] for d in result.events("tool_denied")] == ["write_file"], result.describe()
    assert not target.exists()
    assert session["denials"] == 1
    assert session["status"] == "completed", result.describe()
    assert result.events("session_completed")[0]["denials"] == 1


def test_gemini_503_is_retried_and_401_is_not(gemini_bin: str, tmp_path: Path) -> None:
    """With the CLI's own retries off (``general.maxAttempts`` 1 in the user's settings), an
    overloaded API (503) fails the attempt as the infrastructure's: the engine's retry runs and
    completes. A 401 fails the session at once: the same key would fail again."""
    user_settings(tmp_path / "a", NO_RETRIES)
    server = GeminiModelServer([ApiError(503), ModelTurn.of("Done.")], port=PORT)
    result = run_engine(
        tmp_path / "a",
        server,
        [gemini_create()],
        env=gemini_env(server, gemini_bin, tmp_path / "a"),
        config=gemini_config(gemini_bin),
    )
    session = result.session()
    assert session["status"] == "completed", result.describe()
    assert session["attempt"] == 2
    (failed,) = result.events("session_failed")
    assert failed["retryable"] is True
    assert "503" in failed["reason"]

    user_settings(tmp_path / "b", NO_RETRIES)
    server = GeminiModelServer([ApiError(401), ModelTurn.of("never")], port=PORT)
    result = run_engine(
        tmp_path / "b",
        server,
        [gemini_create()],
        env=gemini_env(server, gemini_bin, tmp_path / "b"),
        config=gemini_config(gemini_bin),
    )
    session = result.session()
    assert session["status"] == "failed", result.describe()
    assert session["attempt"] == 1
    assert "401" in session["error"]
    assert result.events("session_failed")[0]["retryable"] is False
    assert result.run.remaining == 1


@pytest.mark.tmux
def test_interactive_gemini_in_tmux_asks_nothing_and_edits(gemini_bin: str, tmp_path: Path) -> None:
    """An interactive session (tmux): the TUI starts from the prepared home without a question
    (auth, trust, theme), runs the prompt given by ``--prompt-interactive``, writes the file at
    the default ``edit`` level (``auto_edit``) and shows the answer. Cancelling ends it."""
    target = worktree(tmp_path) / "hello.txt"
    server = GeminiModelServer(
        [
            ModelTurn.of(ToolCall("write_file", {"file_path": str(target), "content": "hello\n"})),
            ModelTurn.of("Wrote hello dot txt for you."),
        ],
        port=PORT,
    )
    socket = real_tmux_socket(tmp_path)
    result = run_engine(
        tmp_path,
        server,
        [
            {**gemini_create(mode="interactive", executor="tmux"), "wait": False},
            {"until_log": "hello dot txt"},
            {"cancel": True},
        ],
        env={**gemini_env(server, gemini_bin, tmp_path), "TERM": "xterm-256color"},
        config=gemini_config(gemini_bin, executors={"tmux": {"socket_name": socket, "width": 160}}),
    )
    assert target.read_text() == "hello\n", result.describe()
    assert result.session()["status"] == "cancelled"
