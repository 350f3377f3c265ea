"""Agent adapters: how to start each agent CLI and how to read what it prints.

Built-ins (entry-point group ``scopecraft.agents``): `ClaudeCodeAgent`
(``claude-code``), `CodexAgent` (``codex``), `GeminiCliAgent` (``gemini``),
`OpenCodeAgent` (``opencode``), `CommandAgent` (``command``) and, in
`scopecraft.testing`, the scripted ``fake`` agent. `build_prompt()` turns a task into
the prompt of a session.
"""

from __future__ import annotations

from ._claude import ClaudeCodeAgent, ClaudeStreamParser
from ._codex import DEFAULT_CODEX_PRICES, CodexAgent, CodexExecParser, CodexPrice
from ._command import CommandAgent
from ._gemini import DEFAULT_GEMINI_PRICES, GeminiCliAgent, GeminiPrice, GeminiStreamParser
from ._opencode import OpenCodeAgent, OpenCodeEventParser
from ._prompts import build_prompt, load_template
from ._protocol import AgentAdapter, AgentCommand, AgentOutcome, AgentRequest, OutputParser

__all__ = [
    "DEFAULT_CODEX_PRICES",
    "DEFAULT_GEMINI_PRICES",
    "AgentAdapter",
    "AgentCommand",
    "AgentOutcome",
    "AgentRequest",
    "ClaudeCodeAgent",
    "ClaudeStreamParser",
    "CodexAgent",
    "CodexExecParser",
    "CodexPrice",
    "CommandAgent",
    "GeminiCliAgent",
    "GeminiPrice",
    "GeminiStreamParser",
    "OpenCodeAgent",
    "OpenCodeEventParser",
    "OutputParser",
    "build_prompt",
    "load_template",
]
