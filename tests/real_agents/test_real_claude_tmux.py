"""The real Claude Code TUI in the tmux executor, offline: feedback, denials and API errors.

As in ``test_real_engine_sessions.py``, the engine, the agent and the scripted Messages API run
together in one network namespace that holds only loopback (``engine_session.py``). The first
interactive case (onboarding, an edit, the Stop hook, the cost) lives there; these go on from
it: feedback typed into the running TUI and, once the session has ended, a resumed one; a write
the session's level refuses; an overloaded and an unauthorised API.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from real_agents.conftest import real_tmux_socket
from real_agents.test_real_engine_sessions import (
    claude_config,
    claude_create,
    claude_env,
    run_engine,
    worktree,
)

from scopecraft.testing import AnthropicModelServer, ApiError, ModelTurn, ToolCall

pytestmark = [pytest.mark.real_agent, pytest.mark.tmux]

PORT = 38_096
TURN_USD = (100 * 3 + 20 * 15) / 1e6
"""One scripted response (100 input and 20 output tokens) at Sonnet 4.5's list price."""


def tmux_config(claude_bin: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    socket = real_tmux_socket(tmp_path)
    return claude_config(
        claude_bin, executors={"tmux": {"socket_name": socket, "width": 160}}, **extra
    )


def interactive(**extra: Any) -> dict[str, Any]:
    return {**claude_create(mode="interactive", executor="tmux", **extra), "wait": False}


def said(request: Any) -> str:
    return json.dumps(request.json()["messages"])


def test_feedback_reaches_the_running_tui_and_an_ended_session_resumes(
    claude_bin: str, tmp_path: Path
) -> None:
    """``continue_session`` on the running TUI types the feedback into it: the next request
    carries the whole conversation and the feedback, and a second Stop hook ends that turn.
    Once the session is cancelled, feedback starts attempt 2 with ``--resume``: the same
    conversation goes on. Each response is billed once, across both attempts."""
    target = worktree(tmp_path) / "hello.txt"
    server = AnthropicModelServer(
        [
            ModelTurn.of(ToolCall("Write", {"file_path": str(target), "content": "hello\n"})),
            ModelTurn.of("Wrote hello dot txt for you."),
            ModelTurn.of("Checked it once more."),
            ModelTurn.of("Resumed and still done."),
        ],
        port=PORT,
    )
    result = run_engine(
        tmp_path,
        server,
        [
            interactive(),
            {"until_log": "agent hook Stop"},
            {"continue": "Check it once more.", "wait": False},
            {"until_log": "agent hook Stop", "count": 2},
            {"cancel": True},
            {"continue": "Go on after the break.", "wait": False},
            {"until_log": "agent hook Stop", "count": 3},
            {"cancel": True},
        ],
        env=claude_env(server, claude_bin),
        config=tmux_config(claude_bin, tmp_path),
        forward_env=("CLAUDE_CODE_MAX_RETRIES",),
    )
    assert target.read_text() == "hello\n", result.describe()
    requests = [r for r in result.run.model_requests if "Check it once more." in said(r)]
    assert requests, result.describe()
    live = said(requests[0])
    assert "Wrote hello dot txt for you." in live
    assert result.session(3)["attempt"] == 1, result.describe()
    assert [e["text"] for e in result.events("feedback_given", 3)] == ["Check it once more."]

    resumed = [r for r in result.run.model_requests if "Go on after the break." in said(r)]
    assert resumed, result.describe()
    history = said(resumed[0])
    for text in ("Wrote hello dot txt for you.", "Check it once more.", "Checked it once more."):
        assert text in history, text
    final = result.session()
    assert final["attempt"] == 2, result.describe()
    assert final["status"] == "cancelled", result.describe()
    first = result.session(4)
    assert final["agent_session_id"] == first["agent_session_id"], result.describe()
    assert result.run.remaining == 0, result.describe()
    costs = result.events("cost_reported")
    assert sum(e["usd"] for e in costs) == pytest.approx(4 * TURN_USD), costs
    assert final["cost_usd"] == pytest.approx(4 * TURN_USD), result.describe()


def test_a_write_the_person_refuses_is_reported(claude_bin: str, tmp_path: Path) -> None:
    """At ``read-only`` (plan mode) the TUI asks before a Write; the person answers No: the
    file is not written, and once the person says what to do instead (the next prompt's hook
    reads the transcript) the session reports a ``tool_denied`` event and ``denials``. The
    refusal is reported once, though every later hook reads the same transcript."""
    target = worktree(tmp_path) / "hello.txt"
    server = AnthropicModelServer(
        [
            ModelTurn.of(ToolCall("Write", {"file_path": str(target), "content": "x"})),
            ModelTurn.of("Understood, I leave it."),
        ],
        port=PORT,
    )
    result = run_engine(
        tmp_path,
        server,
        [
            interactive(permissions="read-only"),
            {"until_log": "(permission_prompt)"},
            {"continue": "3", "wait": False},  # "3. No" in the permission prompt
            {"until_log": "Rejected"},
            {"continue": "Leave the file alone.", "wait": False},
            {"until_log": "agent hook Stop"},
            {"cancel": True},
        ],
        env=claude_env(server, claude_bin),
        config=tmux_config(claude_bin, tmp_path),
        forward_env=("CLAUDE_CODE_MAX_RETRIES",),
    )
    assert not target.exists()
    (denied,) = result.events("tool_denied")
    assert denied["name"] == "Write", result.describe()
    assert "doesn't want to proceed" in denied["reason"]
    session = result.session()
    assert session["denials"] == 1, result.describe()
    assert session["status"] == "cancelled"
    assert "Leave the file alone." in said(result.run.model_requests[-1])


@pytest.mark.parametrize("status", [529, 401])
def test_529_is_retried_and_401_is_not(claude_bin: str, tmp_path: Path, status: int) -> None:
    """The TUI's turn ends on an API error (its ``StopFailure`` hook says which): the engine
    ends the attempt instead of leaving the TUI to wait. An overloaded API (529, the CLI's
    ``server_error``) is the infrastructure's: the retry starts the agent again and its turn
    completes. A 401 (``authentication_failed``) fails the session at once."""
    server = AnthropicModelServer([ApiError(status), ModelTurn.of("Done.")], port=PORT)
    steps: list[dict[str, Any]] = [interactive()]
    if status == 529:
        steps += [{"until_log": "agent hook Stop:"}, {"cancel": True}]
    else:
        steps += [{"until_log": "agent hook StopFailure"}, {"wait": True}]
    result = run_engine(
        tmp_path,
        server,
        steps,
        env=claude_env(server, claude_bin),
        config=tmux_config(claude_bin, tmp_path),
        forward_env=("CLAUDE_CODE_MAX_RETRIES",),
    )
    session = result.session()
    (failed,) = result.events("session_failed")
    if status == 529:
        assert failed["retryable"] is True, result.describe()
        assert "server_error" in failed["reason"]
        assert "529" in failed["reason"]
        assert result.events("session_retry_scheduled")
        assert session["attempt"] == 2, result.describe()
        assert session["status"] == "cancelled"
        assert result.run.remaining == 0
    else:
        assert failed["retryable"] is False, result.describe()
        assert "authentication_failed" in failed["reason"]
        assert session["status"] == "failed", result.describe()
        assert session["attempt"] == 1
        assert result.run.remaining == 1
