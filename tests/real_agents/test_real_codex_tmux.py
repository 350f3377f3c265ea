"""The real Codex TUI in the tmux executor, offline: a whole interactive session.

As in ``test_real_engine_sessions.py``, the engine, the agent and the scripted Responses API run
together in one network namespace that holds only loopback (``engine_session.py``); the user's
``CODEX_HOME`` names the server as its provider, and the session's home gets it only by the
adapter's copy. The TUI must start from the prepared home without a question (the model
migration offer, the trusted folder, the hooks' trust), run the prompt given on its command
line, write the file at the default ``edit`` level (Codex's workspace-write sandbox), show the
answer, and say through its Stop hook that the turn ended; it must start no shared app-server
daemon, which would outlive the session.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from real_agents.conftest import real_tmux_socket
from real_agents.test_real_engine_sessions import (
    Sessions,
    codex_create,
    codex_env,
    run_engine,
    worktree,
)

from scopecraft.testing import ApiError, ModelTurn, OpenAIResponsesServer, ToolCall

pytestmark = [pytest.mark.real_agent, pytest.mark.tmux]

PORT = 38_095
ANSWER = "Wrote hello dot txt for you."


def run_tui(
    codex_bin: str, tmp_path: Path, server: OpenAIResponsesServer, steps: list[dict[str, Any]]
) -> Sessions:
    """Run ``steps`` with the Codex TUI in a private tmux server (160 columns wide)."""
    socket = real_tmux_socket(tmp_path)
    return run_engine(
        tmp_path,
        server,
        steps,
        env={**codex_env(server, codex_bin, tmp_path), "TERM": "xterm-256color"},
        config={
            "agents": {"codex": {"executable": codex_bin}},
            "executors": {"tmux": {"socket_name": socket, "width": 160}},
        },
        spec_timeout=60,
    )


def _source(request_headers: dict[str, str]) -> str | None:
    """Which of Codex's threads sent a request (``user``, ``thread_title``, ...)."""
    metadata = request_headers.get("x-codex-turn-metadata")
    return json.loads(metadata).get("thread_source") if metadata else None


def test_interactive_codex_in_tmux_asks_nothing_edits_and_its_stop_hook_ends_the_turn(
    codex_bin: str, tmp_path: Path
) -> None:
    """The TUI asks nothing, runs an ``exec_command`` that writes in the worktree, shows the
    answer, and its Stop hook (trusted by the adapter) says the turn ended and brings the
    turn's cost; cancelling ends the session and no ``codex app-server`` daemon is left.

    Besides the two turns of the task, the TUI names the new thread with a request of its own
    (``thread_source`` ``thread_title``), sent while the first turn runs: it may come before
    or after the second turn's request, so both get the same answer."""
    tree = worktree(tmp_path)
    command = {"cmd": "printf 'hello\\n' > hello.txt", "workdir": str(tree)}
    server = OpenAIResponsesServer(
        [
            ModelTurn.of("Writing the file.", ToolCall("exec_command", command)),
            ModelTurn.of(ANSWER),
            ModelTurn.of(ANSWER),
        ],
        port=PORT,
    )
    result = run_tui(
        codex_bin,
        tmp_path,
        server,
        [
            {**codex_create(mode="interactive", executor="tmux"), "wait": False},
            {"until_log": "agent hook Stop"},
            {"cancel": True},
        ],
    )
    assert (tree / "hello.txt").read_text() == "hello\n", result.describe()
    requests = result.run.model_requests
    sources = [_source(dict(r.headers)) for r in requests]
    assert sorted(s or "" for s in sources) == ["thread_title", "user", "user"], sources
    second = [r for r, s in zip(requests, sources, strict=True) if s == "user"][1].json()
    outputs = [i for i in second["input"] if i.get("type") == "function_call_output"]
    assert outputs, second["input"]
    assert "exited with code 0" in outputs[0]["output"], outputs
    assert result.run.unscripted == 0, result.describe()
    assert result.run.remaining == 0, result.describe()

    logs = result.steps[1]["logs"]
    # Codex draws each run of changed cells after a cursor move: a sentence may span lines.
    screen = " ".join(" ".join(line.removeprefix("stdout:") for line in logs).split())
    assert ANSWER in screen, result.describe()
    assert any(line.startswith("system: agent hook Stop") for line in logs), result.describe()
    for question in ("Meet GPT", "Try new model", "Hooks need review", "trust them"):
        assert question not in screen, question
    assert result.session()["status"] == "cancelled", result.describe()
    # The cost, which the TUI does not print: its hooks sum the rollout file's usage records
    # (two responses of 100 input and 20 output tokens; the title thread is not in it),
    # priced as the session's model (gpt-5.5), each dollar once.
    costs = result.events("cost_reported")
    assert costs, result.describe()
    assert sum(e["usd"] for e in costs) == pytest.approx((200 * 5 + 40 * 30) / 1e6)

    home = tmp_path / "engine-home" / "sessions" / result.session()["id"] / "agent-state"
    assert (home / "hooks.json").is_file()
    assert not (home / "app-server-daemon").exists()
    assert not (home / "packages").exists()
    running = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    assert not [p for p in running.stdout.splitlines() if str(home) in p], running.stdout


def test_feedback_reaches_the_running_codex_tui(codex_bin: str, tmp_path: Path) -> None:
    """``continue_session`` on the running TUI types the feedback into it: the next request
    carries the thread so far and the feedback, a second Stop hook ends that turn, and each
    response of the thread is billed once."""
    server = OpenAIResponsesServer(
        [ModelTurn.of(ANSWER), ModelTurn.of(ANSWER), ModelTurn.of("Checked it once more.")],
        port=PORT,
    )
    result = run_tui(
        codex_bin,
        tmp_path,
        server,
        [
            {**codex_create(mode="interactive", executor="tmux"), "wait": False},
            {"until_log": "agent hook Stop:"},
            {"continue": "Check it once more.", "wait": False},
            {"until_log": "agent hook Stop:", "count": 2},
            {"cancel": True},
        ],
    )
    requests = result.run.model_requests
    users = [r for r in requests if _source(dict(r.headers)) == "user"]
    assert len(users) == 2, result.describe()
    said = json.dumps(users[1].json()["input"])
    assert "Check it once more." in said, said
    assert ANSWER in said, said
    assert [e["text"] for e in result.events("feedback_given")] == ["Check it once more."]
    assert result.session()["attempt"] == 1
    assert result.session()["status"] == "cancelled", result.describe()
    costs = result.events("cost_reported")
    assert sum(e["usd"] for e in costs) == pytest.approx((200 * 5 + 40 * 30) / 1e6), costs


@pytest.mark.parametrize("status", [529, 401])
def test_529_is_retried_and_401_is_not(codex_bin: str, tmp_path: Path, status: int) -> None:
    """Codex runs no hook when an API error ends its turn (the TUI shows it and waits): the
    executor follows the transcript the SessionStart hook named, whose failed
    ``task_complete`` says which status. A 529 ends the attempt as the infrastructure's and
    the retry's turn completes; a 401 fails the session at once."""
    server = OpenAIResponsesServer(
        [ApiError(status), ModelTurn.of(ANSWER), ModelTurn.of(ANSWER)], port=PORT
    )
    steps: list[dict[str, Any]] = [
        {**codex_create(mode="interactive", executor="tmux"), "wait": False}
    ]
    if status == 529:
        steps += [{"until_log": "agent hook Stop:"}, {"cancel": True}]
    else:
        steps += [{"wait": True}]
    result = run_tui(
        codex_bin,
        tmp_path,
        server,
        steps,
    )
    session = result.session()
    (failed,) = result.events("session_failed")
    assert str(status) in failed["reason"], result.describe()
    if status == 529:
        assert failed["retryable"] is True, result.describe()
        assert "server_error" in failed["reason"]
        assert result.events("session_retry_scheduled")
        assert session["attempt"] == 2, result.describe()
        assert session["status"] == "cancelled"
    else:
        assert failed["retryable"] is False, result.describe()
        assert "authentication_failed" in failed["reason"]
        assert session["status"] == "failed", result.describe()
        assert session["attempt"] == 1
