"""Every built-in scripted model server, loaded together.

`ScriptedModelServer.from_spec()` builds a server by the API name in a spec; each subclass
registers that name when it is defined. Importing this module defines them all, so
`scopecraft.testing` gives out `ScriptedModelServer` from here, and a process rebuilding a
server from a spec (`run_offline()`'s namespace child) imports it first.
"""

from __future__ import annotations

from ._anthropic_server import AnthropicModelServer
from ._gemini_server import GeminiModelServer
from ._model_server import ScriptedModelServer
from ._openai_chat_server import OpenAIChatServer
from ._openai_server import OpenAIResponsesServer

__all__ = [
    "AnthropicModelServer",
    "GeminiModelServer",
    "OpenAIChatServer",
    "OpenAIResponsesServer",
    "ScriptedModelServer",
]
