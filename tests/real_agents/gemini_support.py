"""Run the real Gemini CLI the way `GeminiCliAgent` starts it, against
a scripted Gemini API, offline: the adapter's argv and environment, its ``prepare_home`` for a
private ``GEMINI_CLI_HOME``, and `run_offline()` for a network namespace
that holds only loopback.

Used by ``test_real_gemini.py`` and by ``tests/agents/fixtures/gemini/capture.py``, which
records the transcripts the parser's unit tests read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scopecraft._models import SessionMode
from scopecraft.agents import AgentRequest, GeminiCliAgent
from scopecraft.testing import GeminiModelServer, OfflineRun, RecordedRequest, run_offline

PORT = 38_083
MODEL = "gemini-2.5-pro"
API_KEY = "gemini-scripted-key-0123456789"
"""Any value: the server does not check it (and it has no real key's format)."""
NO_RETRIES = {"general": {"maxAttempts": 1}}
"""User settings that make the CLI try a model request once: a forced error takes one turn."""


@dataclass(frozen=True)
class GeminiRun:
    """One offline run of the CLI and what it needed."""

    run: OfflineRun
    agent: GeminiCliAgent
    request: AgentRequest
    work: Path
    state: Path

    @property
    def model_requests(self) -> list[RecordedRequest]:
        """The requests that took a turn (``run_offline`` matches one fixed path only)."""
        return [r for r in self.run.requests if GeminiModelServer.takes_turn(r)]

    def lines(self, kind: str) -> list[dict[str, Any]]:
        """The stream-json lines of ``type`` ``kind``."""
        return [
            line
            for line in self.run.json_lines()
            if isinstance(line, dict) and line.get("type") == kind
        ]


def run_gemini(
    gemini_bin: str,
    tmp_path: Path,
    server: GeminiModelServer,
    prompt: str,
    *,
    permissions: str = "edit",
    resume_id: str | None = None,
    model: str | None = MODEL,
    user_settings: dict[str, Any] | None = None,
    trust: bool = True,
    timeout: float = 60,
) -> GeminiRun:
    """Run the CLI unattended for ``prompt`` in ``tmp_path / "work"``.

    The session's home (``tmp_path / "gemini-home"``) is kept between runs of one
    ``tmp_path``, as the engine keeps a session's state folder; the user's ``.gemini`` folder
    (``tmp_path / "user-gemini"``) holds ``user_settings``. ``TMPDIR`` is private too: the CLI
    writes an error report there on every API error.
    """
    work, state = tmp_path / "work", tmp_path / "gemini-home"
    user, home, tmp = tmp_path / "user-gemini", tmp_path / "home", tmp_path / "tmp"
    for folder in (work, state, user, home, tmp):
        folder.mkdir(parents=True, exist_ok=True)
    if user_settings is not None:
        (user / "settings.json").write_text(json.dumps(user_settings))
    agent = GeminiCliAgent(executable=gemini_bin, user_home=user)
    request = AgentRequest(
        mode=SessionMode.AUTONOMOUS,
        prompt=prompt,
        workdir=str(work),
        model=model,
        resume_id=resume_id,
        state_dir=str(state),
        permissions=permissions,
    )
    command = agent.command(request)
    env = {
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "GEMINI_API_KEY": API_KEY,
        "GOOGLE_GEMINI_BASE_URL": server.base_url,
        **command.env,
    }
    agent.prepare_home(state, request, env)
    if not trust:
        (state / ".gemini" / "trustedFolders.json").write_text("{}")
    run = run_offline(command.argv, server=server, env=env, cwd=work, stdin=prompt, timeout=timeout)
    return GeminiRun(run=run, agent=agent, request=request, work=work, state=state)
