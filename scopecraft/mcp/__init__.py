"""scopecraft's MCP server: session and queue tools over one engine, for MCP clients.

Run it with ``scopecraft mcp`` or ``python -m scopecraft.mcp`` (standard input and output);
Claude Code, Claude Desktop and other MCP clients start it as a subprocess. The tools mirror
the engine's methods one to one: ``session_create``, ``session_list``, ``session_get``,
``session_cancel``, ``session_continue``, ``session_logs``, plus ``task_list``,
``queue_status`` and ``costs``. Each session is also a resource: ``scopecraft://sessions/<id>``
(its JSON) and ``scopecraft://sessions/<id>/log`` (the last `LOG_LINES` lines of its log),
listed, read and subscribed to. Needs the ``mcp`` extra (``pip install 'scopecraft[mcp]'``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._resources import LOG_LINES, list_resources, read_resource, resource_templates
from ._schemas import STANDARD_FORMATS, portable_schema
from ._server import INSTRUCTIONS, call_tool, create_server, serve_stdio, tool_definitions
from ._tools import TOOLS

if TYPE_CHECKING:
    from .._config import EngineConfig

__all__ = [
    "INSTRUCTIONS",
    "LOG_LINES",
    "STANDARD_FORMATS",
    "TOOLS",
    "call_tool",
    "create_server",
    "list_resources",
    "portable_schema",
    "read_resource",
    "resource_templates",
    "run_stdio",
    "serve_stdio",
    "tool_definitions",
]


def run_stdio(
    repo: str | os.PathLike[str] = ".",
    *,
    home: str | os.PathLike[str] | None = None,
    config: EngineConfig | Mapping[str, Any] | None = None,
) -> None:
    """Serve the MCP tools on standard input and output until the client disconnects.

    Args:
        repo: Any folder of the git repository whose tasks the tools run.
        home: The state folder (default ``$SCOPECRAFT_HOME`` or ``~/.scopecraft``).
        config: Engine configuration.
    """
    import anyio

    async def main() -> None:
        await serve_stdio(repo, home=home, config=config)

    anyio.run(main)
