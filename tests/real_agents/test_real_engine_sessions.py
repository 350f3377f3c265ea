"""Whole scopecraft sessions with the real Claude Code and Codex CLIs on the local executor.

The engine, the agent and the scripted model server run together in one network namespace that
holds only loopback (``engine_session.py`` is the program `run_offline()`
starts there). Each test checks what a user sees: the file the agent changed, the session's
status and cost (exactly what the server's usage implies at list price), the resumed history,
denials, and how API errors are retried.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from real_agents.conftest import real_tmux_socket

from scopecraft.agents._codex import DEFAULT_CODEX_PRICES
from scopecraft.testing import (
    QUIET_CLAUDE_CODE_ENV,
    AnthropicModelServer,
    ApiError,
    ModelTurn,
    OfflineRun,
    OpenAIResponsesServer,
    ScriptedModelServer,
    TokenUsage,
    ToolCall,
    codex_offline_config,
    run_offline,
)

pytestmark = pytest.mark.real_agent

PORT = 38_090
TASK_ID = "hello-11A"
CLAUDE_MODEL = "claude-sonnet-4-5-20250929"
CLAUDE_IN, CLAUDE_OUT = 3.00 / 1_000_000, 15.00 / 1_000_000
"""Claude Code's list price of ``CLAUDE_MODEL`` per token."""
CODEX_MODEL = "gpt-5.5"
SCRIPT = Path(__file__).with_name("engine_session.py")

TASK = """# Say hello

---
type: feature
status: todo
area: core
priority: high
---

## Instruction
Write hello.txt.

## Log
"""


def make_repo(base: Path) -> Path:
    repo = base / "app"
    (repo / ".tasks" / "current").mkdir(parents=True)
    (repo / "README.md").write_text("# app\n")
    (repo / ".tasks" / "current" / f"{TASK_ID}.task.md").write_text(TASK)
    identity = ["-c", "user.name=Test", "-c", "user.email=test@scopecraft.invalid"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", *identity, *args], cwd=repo, check=True)
    return repo


class Sessions:
    """What one run of the engine left: per step, the session and its events."""

    def __init__(self, run: OfflineRun, steps: list[dict[str, Any]]) -> None:
        self.run = run
        self.steps = steps

    def session(self, step: int = -1) -> dict[str, Any]:
        return dict(self.steps[step]["session"])

    def events(self, kind: str, step: int = -1) -> list[dict[str, Any]]:
        return [e for e in self.steps[step]["events"] if e["type"] == kind]

    def describe(self) -> str:
        tail = [
            (e["type"], e.get("reason") or e.get("text") or e.get("message") or "")
            for e in (self.steps[-1]["events"] if self.steps else [])
        ]
        logs = "\n".join(self.steps[-1]["logs"][-30:]) if self.steps else ""
        return f"{self.run.describe()}\n--- events\n{tail}\n--- logs\n{logs}"


def run_engine(
    tmp_path: Path,
    server: ScriptedModelServer,
    steps: list[dict[str, Any]],
    *,
    env: dict[str, str],
    config: dict[str, Any] | None = None,
    forward_env: tuple[str, ...] = (),
    spec_timeout: float = 90,
) -> Sessions:
    repo = make_repo(tmp_path)
    spec = {
        "repo": str(repo),
        "home": str(tmp_path / "engine-home"),
        "config": {"worktree_root": str(tmp_path / "wt"), **(config or {})},
        "forward_env": list(forward_env),
        "steps": steps,
        "timeout": spec_timeout,
    }
    spec_path, result_path = tmp_path / "spec.json", tmp_path / "result.json"
    spec_path.write_text(json.dumps(spec))
    home = tmp_path / "user-home"
    home.mkdir(exist_ok=True)
    run = run_offline(
        [sys.executable, str(SCRIPT), str(spec_path), str(result_path)],
        server=server,
        env={"HOME": str(home), **env},
        cwd=tmp_path,
        timeout=150,
    )
    results = json.loads(result_path.read_text()) if result_path.exists() else []
    sessions = Sessions(run, results)
    assert run.returncode == 0, sessions.describe()
    return sessions


def worktree(tmp_path: Path) -> Path:
    return tmp_path / "wt" / TASK_ID


# -- Claude Code -----------------------------------------------------------------------------


def claude_env(server: ScriptedModelServer, claude_bin: str) -> dict[str, str]:
    return {
        **QUIET_CLAUDE_CODE_ENV,
        "ANTHROPIC_BASE_URL": server.base_url,
        "ANTHROPIC_API_KEY": "sk-ant-scopecraft-test-0123456789abcdef",
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "PATH": f"{Path(claude_bin).parent}:/usr/local/bin:/usr/bin:/bin",
    }


def claude_create(**extra: Any) -> dict[str, Any]:
    values = {
        "task_id": TASK_ID,
        "mode": "autonomous",
        "executor": "local",
        "agent": "claude-code",
        "model": CLAUDE_MODEL,
    }
    return {"create": {**values, **extra}}


def claude_config(claude_bin: str, **extra: Any) -> dict[str, Any]:
    return {"agents": {"claude-code": {"executable": claude_bin}}, **extra}


def test_claude_session_edits_completes_and_resumes_with_exact_cost(
    claude_bin: str, tmp_path: Path
) -> None:
    """A default (``edit``) session writes a file in its worktree and completes with the cost
    the usage implies; ``continue_session`` resumes the same Claude session (the server gets
    the whole history) and the costs add up exactly."""
    target = worktree(tmp_path) / "hello.txt"
    server = AnthropicModelServer(
        [
            ModelTurn.of(
                "I will write the file.",
                ToolCall("Write", {"file_path": str(target), "content": "hello\n"}),
                usage=TokenUsage(input_tokens=1200, output_tokens=150),
            ),
            ModelTurn.of("Wrote hello.txt.", usage=TokenUsage(1500, 40)),
            ModelTurn.of("Still done.", usage=TokenUsage(2000, 10)),
        ],
        port=PORT,
    )
    result = run_engine(
        tmp_path,
        server,
        [claude_create(), {"continue": "Check it once more."}],
        env=claude_env(server, claude_bin),
        config=claude_config(claude_bin),
        forward_env=("CLAUDE_CODE_MAX_RETRIES",),
    )
    first, second = result.session(0), result.session(1)
    assert first["status"] == "completed", result.describe()
    assert first["permissions"] in (None, "edit")
    assert first["denials"] == 0
    assert [t["name"] for t in result.events("tool_used", 0)] == ["Write"]
    assert target.read_text() == "hello\n"
    first_usd = (1200 + 1500) * CLAUDE_IN + (150 + 40) * CLAUDE_OUT
    assert first["cost_usd"] == pytest.approx(first_usd, rel=1e-9)

    assert second["status"] == "completed", result.describe()
    assert second["attempt"] == 2
    assert second["agent_session_id"] == first["agent_session_id"]
    history = result.run.model_requests[-1].json()["messages"]
    said = json.dumps(history)
    assert "Write hello.txt." in said or "hello.txt" in said
    assert "Wrote hello.txt." in said
    assert "Check it once more." in said
    assert second["cost_usd"] == pytest.approx(first_usd + 2000 * CLAUDE_IN + 10 * CLAUDE_OUT)
    # The resumed run's result line counts the first run's dollars again (its tokens not):
    # only what it adds is billed.
    costs = result.events("cost_reported", 1)
    assert [(c["input_tokens"], c["output_tokens"]) for c in costs] == [(2700, 190), (2000, 10)]
    assert costs[1]["running_usage"]["usd"] == pytest.approx(second["cost_usd"])


@pytest.mark.parametrize("on_denied", ["report", "fail"])
def test_claude_read_only_session_reports_the_denied_write(
    claude_bin: str, tmp_path: Path, on_denied: str
) -> None:
    """At ``read-only`` the Write is refused: a ``tool_denied`` event, no file, and the
    session says so: completed with ``denials`` (``report``) or failed (``fail``)."""
    target = worktree(tmp_path) / "hello.txt"
    server = AnthropicModelServer(
        [
            ModelTurn.of(ToolCall("Write", {"file_path": str(target), "content": "x"})),
            ModelTurn.of("I could not write it."),
        ],
        port=PORT,
    )
    result = run_engine(
        tmp_path,
        server,
        [claude_create(permissions="read-only")],
        env=claude_env(server, claude_bin),
        config=claude_config(claude_bin, on_tool_denied=on_denied),
        forward_env=("CLAUDE_CODE_MAX_RETRIES",),
    )
    session = result.session()
    assert [d["name"] for d in result.events("tool_denied")] == ["Write"], result.describe()
    assert not target.exists()
    assert session["denials"] == 1
    if on_denied == "report":
        assert session["status"] == "completed", result.describe()
        assert result.events("session_completed")[0]["denials"] == 1
    else:
        assert session["status"] == "failed", result.describe()
        assert "denied" in session["error"]


def test_claude_529_is_retried_and_401_is_not(claude_bin: str, tmp_path: Path) -> None:
    """An overloaded API (529) fails the attempt as the infrastructure's: the retry runs and
    completes. A 401 fails the session at once: the same key would fail again."""
    server = AnthropicModelServer([ApiError(529), ModelTurn.of("Done.")], port=PORT)
    result = run_engine(
        tmp_path / "a",
        server,
        [claude_create()],
        env=claude_env(server, claude_bin),
        config=claude_config(claude_bin),
        forward_env=("CLAUDE_CODE_MAX_RETRIES",),
    )
    session = result.session()
    assert session["status"] == "completed", result.describe()
    assert session["attempt"] == 2
    (failed,) = result.events("session_failed")
    assert failed["retryable"] is True
    assert "529" in failed["reason"]
    assert result.events("session_retry_scheduled")

    server = AnthropicModelServer([ApiError(401), ModelTurn.of("never")], port=PORT)
    result = run_engine(
        tmp_path / "b",
        server,
        [claude_create()],
        env=claude_env(server, claude_bin),
        config=claude_config(claude_bin),
        forward_env=("CLAUDE_CODE_MAX_RETRIES",),
    )
    session = result.session()
    assert session["status"] == "failed", result.describe()
    assert session["attempt"] == 1
    assert "401" in session["error"]
    assert result.events("session_failed")[0]["retryable"] is False
    assert result.run.remaining == 1


# -- Codex -----------------------------------------------------------------------------------


def codex_env(server: ScriptedModelServer, codex_bin: str, tmp_path: Path) -> dict[str, str]:
    """The user's ``CODEX_HOME`` names the server as its provider: the session's own home
    gets it only by the adapter's copy."""
    user_codex = tmp_path / "user-codex"
    user_codex.mkdir(parents=True, exist_ok=True)
    (user_codex / "config.toml").write_text(
        codex_offline_config(server.base_url, model=CODEX_MODEL)
    )
    return {
        "CODEX_HOME": str(user_codex),
        "OPENAI_API_KEY": "sk-scripted-0123456789",
        "PATH": f"{Path(codex_bin).parent}:/usr/local/bin:/usr/bin:/bin",
    }


def codex_create(**extra: Any) -> dict[str, Any]:
    values = {
        "task_id": TASK_ID,
        "mode": "autonomous",
        "executor": "local",
        "agent": "codex",
        "model": CODEX_MODEL,
    }
    return {"create": {**values, **extra}}


def test_codex_session_edits_completes_and_resumes_with_exact_cost(
    codex_bin: str, tmp_path: Path
) -> None:
    """A default (``edit``: Codex's workspace-write sandbox) session runs a command that writes
    in its worktree and completes with the cost its usage implies; ``continue_session``
    resumes the same thread, whose running totals are billed once: the session's cost is the
    price of the last total, exactly."""
    tree = worktree(tmp_path)
    usage = [TokenUsage(1000, 50), TokenUsage(1200, 30), TokenUsage(1500, 20)]
    server = OpenAIResponsesServer(
        [
            ModelTurn.of(
                ToolCall("exec_command", {"cmd": "printf hello > hello.txt", "workdir": str(tree)}),
                usage=usage[0],
            ),
            ModelTurn.of("Wrote hello.txt.", usage=usage[1]),
            ModelTurn.of("Still done.", usage=usage[2]),
        ],
        port=PORT + 1,
    )
    result = run_engine(
        tmp_path,
        server,
        [codex_create(), {"continue": "Check it once more."}],
        env=codex_env(server, codex_bin, tmp_path),
        config={"agents": {"codex": {"executable": codex_bin}}},
    )
    price = DEFAULT_CODEX_PRICES[CODEX_MODEL]
    first, second = result.session(0), result.session(1)
    assert first["status"] == "completed", result.describe()
    assert (tree / "hello.txt").read_text() == "hello"
    assert [t["name"] for t in result.events("tool_used", 0)] == ["shell"]
    first_usd = price.cost(2200, 0, 80)
    assert first["cost_usd"] == pytest.approx(first_usd, rel=1e-9)
    assert second["status"] == "completed", result.describe()
    assert second["agent_session_id"] == first["agent_session_id"]
    said = json.dumps(result.run.model_requests[-1].json()["input"])
    assert "Wrote hello.txt." in said
    assert "Check it once more." in said
    assert second["cost_usd"] == pytest.approx(price.cost(3700, 0, 100), rel=1e-9)


def test_codex_read_only_session_reports_the_refused_write(codex_bin: str, tmp_path: Path) -> None:
    """At ``read-only`` Codex's sandbox refuses the command that writes; its JSON output has
    no item for it, its rollout file has the answer: one ``tool_denied`` event (``shell``,
    the file system's refusal), no file, ``denials=1``. The resumed thread's rollout still
    holds that call: the next attempt does not report it again (and counts no denial)."""
    tree = worktree(tmp_path)
    server = OpenAIResponsesServer(
        [
            ModelTurn.of(
                ToolCall("exec_command", {"cmd": "printf hello > hello.txt", "workdir": str(tree)})
            ),
            ModelTurn.of("I could not write it."),
            ModelTurn.of("Still read-only."),
        ],
        port=PORT + 1,
    )
    result = run_engine(
        tmp_path,
        server,
        [codex_create(permissions="read-only"), {"continue": "Try once more."}],
        env=codex_env(server, codex_bin, tmp_path),
        config={"agents": {"codex": {"executable": codex_bin}}},
    )
    first, second = result.session(0), result.session(1)
    assert first["status"] == "completed", result.describe()
    denied = result.events("tool_denied", 0)
    assert [d["name"] for d in denied] == ["shell"], result.describe()
    assert "Read-only file system" in denied[0]["reason"]
    assert not (tree / "hello.txt").exists()
    assert first["denials"] == 1
    assert result.events("session_completed", 0)[0]["denials"] == 1
    assert second["status"] == "completed", result.describe()
    assert len(result.events("tool_denied", 1)) == 1, "reported once across attempts"
    assert second["denials"] == 0, "a session's denials are its current attempt's"


# -- Claude Code in tmux ---------------------------------------------------------------------


@pytest.mark.tmux
def test_interactive_claude_in_tmux_passes_onboarding_and_edits(
    claude_bin: str, tmp_path: Path
) -> None:
    """An interactive session (tmux) with a fresh per-session config folder: the CLI asks no
    first-run question (onboarding, the API key, the trusted folder are prepared), writes the
    file at the default ``edit`` level, and its Stop hook says the turn ended; the pane log
    keeps its spacing; its cost is counted from its transcript's usage. Cancelling ends it."""
    target = worktree(tmp_path) / "hello.txt"
    server = AnthropicModelServer(
        [
            ModelTurn.of(ToolCall("Write", {"file_path": str(target), "content": "hello\n"})),
            ModelTurn.of("Wrote hello dot txt for you."),
        ],
        port=PORT,
    )
    socket = real_tmux_socket(tmp_path)
    result = run_engine(
        tmp_path,
        server,
        [
            {**claude_create(mode="interactive", executor="tmux"), "wait": False},
            {"until_log": "agent hook Stop"},
            {"cancel": True},
        ],
        env=claude_env(server, claude_bin),
        config=claude_config(claude_bin, executors={"tmux": {"socket_name": socket, "width": 160}}),
        forward_env=("CLAUDE_CODE_MAX_RETRIES",),
    )
    assert target.read_text() == "hello\n", result.describe()
    assert len(result.run.model_requests) >= 2, result.describe()
    logs = "\n".join(result.steps[1]["logs"])
    assert "Wrote hello dot txt for you." in logs, result.describe()
    assert "API key" not in logs
    assert result.session()["status"] == "cancelled"
    # The cost, which the interactive CLI does not report: its hooks sum the transcript's
    # usage (two turns of 100 input and 20 output tokens), priced as Sonnet 4.5, each dollar
    # once: the Stop hook waits for the CLI to finish writing the turn's last message, so the
    # cost is all there before the cancel.
    costs = result.events("cost_reported")
    assert costs, result.describe()
    assert sum(e["usd"] for e in costs) == pytest.approx((200 * 3 + 40 * 15) / 1e6)
    assert costs[-1]["total_usd"] == pytest.approx((200 * 3 + 40 * 15) / 1e6)


def test_codex_529_is_retried_and_401_is_not(codex_bin: str, tmp_path: Path) -> None:
    """Codex's turn fails on an overloaded API (529): the attempt fails as the
    infrastructure's, the retry completes. A 401 fails the session at once."""
    server = OpenAIResponsesServer([ApiError(529), ModelTurn.of("Done.")], port=PORT + 1)
    result = run_engine(
        tmp_path / "a",
        server,
        [codex_create()],
        env=codex_env(server, codex_bin, tmp_path / "a"),
        config={"agents": {"codex": {"executable": codex_bin}}},
    )
    session = result.session()
    assert session["status"] == "completed", result.describe()
    assert session["attempt"] == 2
    (failed,) = result.events("session_failed")
    assert failed["retryable"] is True

    server = OpenAIResponsesServer([ApiError(401), ModelTurn.of("never")], port=PORT + 1)
    result = run_engine(
        tmp_path / "b",
        server,
        [codex_create()],
        env=codex_env(server, codex_bin, tmp_path / "b"),
        config={"agents": {"codex": {"executable": codex_bin}}},
    )
    session = result.session()
    assert session["status"] == "failed", result.describe()
    assert session["attempt"] == 1
    assert result.events("session_failed")[0]["retryable"] is False
    assert result.run.remaining == 1
