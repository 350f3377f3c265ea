"""Run the real OpenCode the way `OpenCodeAgent` starts it, against a
scripted OpenAI Chat Completions API, offline: the adapter's argv and environment, its
``prepare_home`` for a private state folder, and `run_offline()` for a
network namespace that holds only loopback.

The user's ``opencode.json`` (which ``prepare_home`` copies into the session) names a provider
``scripted`` (``@ai-sdk/openai-compatible``, bundled in the CLI) whose ``baseURL`` is the
server, with the model's price, so that OpenCode reports a cost. Used by
``test_real_opencode.py`` and ``tests/agents/fixtures/opencode/capture.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from scopecraft._models import SessionMode
from scopecraft.agents import AgentRequest, OpenCodeAgent
from scopecraft.testing import OfflineRun, OpenAIChatServer, run_offline

PORT = 38_084
MODEL = "scripted/scripted-model"
API_KEY = "sk-scripted-opencode-0123456789"
"""Any value: the server does not check it (and it has no real key's format)."""
PRICE = {"input": 1.25, "output": 10.0, "cache_read": 0.125}
"""USD per million tokens of the scripted model, in the provider config."""


def user_config(base_url: str) -> dict[str, object]:
    """An ``opencode.json`` whose provider ``scripted`` is the server at ``base_url``."""
    return {
        "$schema": "https://opencode.ai/config.json",
        "model": MODEL,
        "provider": {
            "scripted": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "scopecraft scripted model server",
                "options": {"baseURL": base_url + "/v1", "apiKey": "{env:OPENAI_API_KEY}"},
                "models": {"scripted-model": {"name": "scripted-model", "cost": PRICE}},
            }
        },
    }


@dataclass(frozen=True)
class OpenCodeRun:
    """One offline run of the CLI and what it needed."""

    run: OfflineRun
    agent: OpenCodeAgent
    request: AgentRequest
    work: Path
    state: Path


def run_opencode(
    opencode_bin: str,
    tmp_path: Path,
    server: OpenAIChatServer,
    prompt: str,
    *,
    permissions: str = "edit",
    resume_id: str | None = None,
    timeout: float = 90,
) -> OpenCodeRun:
    """Run the CLI unattended for ``prompt`` in ``tmp_path / "work"``; the session's state
    folder (``tmp_path / "opencode-home"``) is kept between runs of one ``tmp_path``."""
    work, state = tmp_path / "work", tmp_path / "opencode-home"
    user, home, tmp = tmp_path / "user-config", tmp_path / "home", tmp_path / "tmp"
    for folder in (work, state, user, home, tmp, tmp_path / "user-data"):
        folder.mkdir(parents=True, exist_ok=True)
    (user / "opencode.json").write_text(json.dumps(user_config(server.base_url)))
    agent = OpenCodeAgent(
        executable=opencode_bin, user_config=user, user_data=tmp_path / "user-data"
    )
    request = AgentRequest(
        mode=SessionMode.AUTONOMOUS,
        prompt=prompt,
        workdir=str(work),
        model=MODEL,
        resume_id=resume_id,
        state_dir=str(state),
        permissions=permissions,
    )
    command = agent.command(request)
    env = {"HOME": str(home), "TMPDIR": str(tmp), "OPENAI_API_KEY": API_KEY, **command.env}
    agent.prepare_home(state, request, env)
    run = run_offline(
        command.argv,
        server=server,
        env=env,
        cwd=work,
        stdin=command.stdin.decode() if command.stdin is not None else None,
        timeout=timeout,
    )
    return OpenCodeRun(run=run, agent=agent, request=request, work=work, state=state)
