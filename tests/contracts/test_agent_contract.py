"""Every built-in agent adapter passes the agent contract suite (Gemini CLI and OpenCode too)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from scopecraft.agents import (
    AgentAdapter,
    ClaudeCodeAgent,
    CodexAgent,
    CommandAgent,
    GeminiCliAgent,
    OpenCodeAgent,
)
from scopecraft.testing._fake_agent import FakeAgent
from scopecraft.testing.contracts.agents import AgentContract

ADAPTERS: dict[str, Callable[[], AgentAdapter]] = {
    "claude-code": ClaudeCodeAgent,
    "codex": CodexAgent,
    "gemini": GeminiCliAgent,
    "opencode": OpenCodeAgent,
    "command-stdin": lambda: CommandAgent(argv=("my-agent", "--cwd", "{workdir}")),
    "command-prompt-file": lambda: CommandAgent(
        argv=("my-agent", "{prompt_file}"), prompt_on_stdin=False, secret_env=("MY_TOKEN",)
    ),
    "fake": FakeAgent,
}


class TestAgentContract(AgentContract):
    """The contract, run over Claude Code, Codex, the generic command (two ways) and fake."""

    @pytest.fixture(params=list(ADAPTERS), ids=list(ADAPTERS))
    def adapter(self, request: pytest.FixtureRequest) -> AgentAdapter:
        """Each built-in adapter in turn."""
        return ADAPTERS[request.param]()
