"""Test doubles and contract suites for scopecraft and its plugin authors.

* `MemoryStorage`: an in-memory ``StorageAdapter`` that passes the storage contract.
* `FakeAgent` and `fake_agent_script()`: the scripted agent (entry point ``fake``);
  `fake_agent_image()`: a local Docker image holding it, built without any registry.
* `AnthropicModelServer`, `OpenAIResponsesServer`, `OpenAIChatServer` and
  `GeminiModelServer`:
  scripted model APIs on loopback (turns of `ModelTurn`, `TextPart`,
  `ToolCall`, `TokenUsage`, or a forced `ApiError`), recording every
  `RecordedRequest`;
  `run_offline()` runs a real agent CLI against one in a network namespace that holds only
  loopback (`offline_problem()` says why it cannot here), with the recipes
  `claude_code_offline_env()` and `codex_offline_config()`; `serve_in_namespace()`
  runs a server in a container's loopback-only network namespace, for agents in containers.
* `scopecraft.testing.contracts`: one contract suite per protocol, to subclass in your
  own tests with a fixture that provides your implementation.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._anthropic_server import AnthropicModelServer
    from ._fake_agent import FakeAgent, fake_agent_script
    from ._gemini_server import GeminiModelServer
    from ._images import fake_agent_image
    from ._memory_storage import MemoryStorage
    from ._model_server import ScriptedModelServer
    from ._model_turns import ApiError, ModelTurn, RecordedRequest, TextPart, TokenUsage, ToolCall
    from ._offline import (
        QUIET_CLAUDE_CODE_ENV,
        NamespaceServer,
        OfflineRun,
        claude_code_offline_env,
        codex_offline_config,
        offline_problem,
        run_offline,
        serve_in_namespace,
    )
    from ._openai_chat_server import OpenAIChatServer
    from ._openai_server import OpenAIResponsesServer

__all__ = [
    "QUIET_CLAUDE_CODE_ENV",
    "AnthropicModelServer",
    "ApiError",
    "FakeAgent",
    "GeminiModelServer",
    "MemoryStorage",
    "ModelTurn",
    "NamespaceServer",
    "OfflineRun",
    "OpenAIChatServer",
    "OpenAIResponsesServer",
    "RecordedRequest",
    "ScriptedModelServer",
    "TextPart",
    "TokenUsage",
    "ToolCall",
    "claude_code_offline_env",
    "codex_offline_config",
    "fake_agent_image",
    "fake_agent_script",
    "offline_problem",
    "run_offline",
    "serve_in_namespace",
]

_LAZY = {
    "QUIET_CLAUDE_CODE_ENV": "._offline",
    "AnthropicModelServer": "._anthropic_server",
    "ApiError": "._model_turns",
    "FakeAgent": "._fake_agent",
    "GeminiModelServer": "._gemini_server",
    "MemoryStorage": "._memory_storage",
    "ModelTurn": "._model_turns",
    "NamespaceServer": "._offline",
    "OfflineRun": "._offline",
    "OpenAIChatServer": "._openai_chat_server",
    "OpenAIResponsesServer": "._openai_server",
    "RecordedRequest": "._model_turns",
    "ScriptedModelServer": "._server_kinds",
    "TextPart": "._model_turns",
    "TokenUsage": "._model_turns",
    "ToolCall": "._model_turns",
    "claude_code_offline_env": "._offline",
    "codex_offline_config": "._offline",
    "fake_agent_image": "._images",
    "fake_agent_script": "._fake_agent",
    "offline_problem": "._offline",
    "run_offline": "._offline",
    "serve_in_namespace": "._offline",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'scopecraft.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
