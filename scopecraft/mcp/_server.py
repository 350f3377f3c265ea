"""The MCP server: the official SDK's low-level ``Server`` over one open engine.

The low-level server is used (rather than the decorator API) so that each tool's input and
output schemas are its pydantic models' JSON schemas (less the formats JSON Schema does not
define, see `._schemas`), and arguments are validated by the same models before the
engine sees them. Sessions and their logs are also resources (see `._resources`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import mcp.types as types
from mcp.server import Server, ServerRequestContext
from pydantic import ValidationError

from .._errors import ScopecraftError
from ._resources import ResourceSubscriptions, list_resources, read_resource, resource_templates
from ._schemas import portable_schema
from ._tools import TOOLS, ToolSpec

if TYPE_CHECKING:
    from .._config import EngineConfig
    from ..engine import Engine

__all__ = ["INSTRUCTIONS", "create_server", "serve_stdio", "tool_definitions"]

log = logging.getLogger("scopecraft.mcp")

INSTRUCTIONS = (
    "scopecraft runs coding agents as durable sessions bound to tasks and git worktrees. "
    "Find work with task_list; start it with session_create (mode autonomous by default); "
    "poll session_get until the status is completed, failed or cancelled; read the agent's "
    "output with session_logs (page with after_seq); steer it with session_continue; stop "
    "it with session_cancel. queue_status says what runs and why sessions wait; costs sums "
    "what agents reported. Each session is also a resource, scopecraft://sessions/<id> (its "
    "JSON) and scopecraft://sessions/<id>/log (its last lines); subscribe to them to hear "
    "when a running session changes."
)

_BY_NAME: dict[str, ToolSpec[Any]] = {spec.name: spec for spec in TOOLS}


def tool_definitions() -> list[types.Tool]:
    """The MCP tool list: names, descriptions, input and output schemas, annotations.

    The schemas are the models' JSON schemas through `portable_schema()`: formats that
    JSON Schema does not define (pydantic's ``path`` for `pathlib.Path`) are left out,
    so that clients' validators do not warn about them.
    """
    return [
        types.Tool(
            name=spec.name,
            description=spec.description,
            input_schema=portable_schema(spec.input_model.model_json_schema()),
            output_schema=portable_schema(
                spec.output_model.model_json_schema(mode="serialization")
            ),
            annotations=types.ToolAnnotations(
                read_only_hint=spec.read_only,
                destructive_hint=spec.destructive,
                open_world_hint=False,
            ),
        )
        for spec in TOOLS
    ]


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def _validation_summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


async def call_tool(
    engine: Engine, name: str, arguments: Mapping[str, Any] | None
) -> types.CallToolResult:
    """Validate the arguments, run the tool on ``engine`` and build its result.

    Scopecraft errors and bad arguments become error results that say what to do; they
    never end the server.
    """
    spec = _BY_NAME.get(name)
    if spec is None:
        return _error(f"unknown tool {name!r}; the tools are {', '.join(_BY_NAME)}")
    try:
        args = spec.input_model.model_validate(dict(arguments or {}))
    except ValidationError as exc:
        return _error(f"invalid arguments for {name}: {_validation_summary(exc)}")
    try:
        result = await spec.handler(engine, args)
    except ScopecraftError as exc:
        return _error(f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a bug must not end the server; say so and log the traceback
        log.exception("tool %s failed", name)
        return _error(f"internal error in {name}: {type(exc).__name__}: {exc}")
    data = result.model_dump(mode="json")
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(data, ensure_ascii=False))],
        structured_content=data,
    )


def create_server(
    repo: str | os.PathLike[str] = ".",
    *,
    home: str | os.PathLike[str] | None = None,
    config: EngineConfig | Mapping[str, Any] | None = None,
) -> Server[Engine]:
    """Build the MCP server; each connection opens one engine on ``repo`` for its lifetime.

    The server offers the tools of `TOOLS`, and each session's record and log as
    resources (``scopecraft://sessions/<id>`` and ``scopecraft://sessions/<id>/log``) that a
    client can list, read and subscribe to.

    Args:
        repo: Any folder of the git repository whose tasks the tools run.
        home: The state folder (default ``$SCOPECRAFT_HOME`` or ``~/.scopecraft``).
        config: Engine configuration (see `scopecraft.EngineConfig`).

    Returns:
        A low-level ``mcp`` server; run it with `serve_stdio()` or any transport.
    """
    from .. import __version__

    # The subscriptions of each run of the server (a stdio server serves one client), found
    # by the engine the request context carries; their watching tasks end before it closes.
    subscriptions: dict[int, ResourceSubscriptions] = {}

    @asynccontextmanager
    async def lifespan(_server: Server[Engine]) -> AsyncIterator[Engine]:
        from ..engine import Engine

        async with (
            Engine.open(repo, home=home, config=config) as engine,
            anyio.create_task_group() as task_group,
        ):
            log.info("MCP server open on %s (state in %s)", engine.repo, engine.home)
            subscriptions[id(engine)] = ResourceSubscriptions(engine, task_group)
            try:
                yield engine
            finally:
                del subscriptions[id(engine)]
                task_group.cancel_scope.cancel()

    async def on_list_tools(
        ctx: ServerRequestContext[Engine], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tool_definitions())

    async def on_call_tool(
        ctx: ServerRequestContext[Engine], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        return await call_tool(ctx.lifespan_context, params.name, params.arguments)

    async def on_list_resources(
        ctx: ServerRequestContext[Engine], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return await list_resources(ctx.lifespan_context, params.cursor if params else None)

    async def on_list_resource_templates(
        ctx: ServerRequestContext[Engine], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=resource_templates())

    async def on_read_resource(
        ctx: ServerRequestContext[Engine], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        return await read_resource(ctx.lifespan_context, params.uri)

    async def on_subscribe_resource(
        ctx: ServerRequestContext[Engine], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        watches = subscriptions[id(ctx.lifespan_context)]
        await watches.subscribe(params.uri, ctx.session.send_resource_updated)
        return types.EmptyResult()

    async def on_unsubscribe_resource(
        ctx: ServerRequestContext[Engine], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        subscriptions[id(ctx.lifespan_context)].unsubscribe(params.uri)
        return types.EmptyResult()

    return Server(
        "scopecraft",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
        on_list_resources=on_list_resources,
        on_list_resource_templates=on_list_resource_templates,
        on_read_resource=on_read_resource,
        on_subscribe_resource=on_subscribe_resource,
        on_unsubscribe_resource=on_unsubscribe_resource,
    )


async def serve_stdio(
    repo: str | os.PathLike[str] = ".",
    *,
    home: str | os.PathLike[str] | None = None,
    config: EngineConfig | Mapping[str, Any] | None = None,
) -> None:
    """Serve the tools on standard input and output until the client closes them."""
    from mcp.server.stdio import stdio_server

    server = create_server(repo, home=home, config=config)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
